using System.Globalization;
using Microsoft.AspNetCore.Mvc;
using Snapstone.Client;
using Snapstone.Server.Http;

namespace Snapstone.Server.OperatorConsole;

/// <summary>
/// The break-glass form posts: <c>POST /console/breakglass/{freeze|unfreeze|rollback|deploy}</c> with the fields its
/// confirmation carried (unit, version, ttl, expect) and the reason typed there. Each needs the breakglass scope and
/// the anti-forgery token, works the preview out again, and acts only if it still says what the person confirmed.
/// </summary>
public static class BreakGlassForm
{
    /// <summary>The request the fields name, or what is wrong with them (the field and its limit).</summary>
    public static (BreakGlassRequest? Request, string? Problem) Parse(string? action, string? unit, string? version, string? ttl)
    {
        if (!Enum.TryParse<BreakGlassAction>(action, ignoreCase: true, out var kind) || !Enum.IsDefined(kind) || action!.Any(char.IsDigit))
        {
            return (null, $"action must be one of {string.Join(", ", Enum.GetNames<BreakGlassAction>().Select(n => n.ToLowerInvariant()))} (got '{action}')");
        }
        long? parsedVersion = null;
        if (!string.IsNullOrWhiteSpace(version))
        {
            if (!long.TryParse(version, NumberStyles.None, CultureInfo.InvariantCulture, out var v) || v < 1)
            {
                return (null, $"version must be a whole number, 1 or more (got '{version}')");
            }
            parsedVersion = v;
        }
        int? parsedTtl = null;
        if (!string.IsNullOrWhiteSpace(ttl))
        {
            if (!int.TryParse(ttl, NumberStyles.None, CultureInfo.InvariantCulture, out var t) || t < 1 || t > Domain.BreakGlass.BreakGlassRules.MaxTtlSeconds)
            {
                return (null, $"ttl must be between 1 and {Domain.BreakGlass.BreakGlassRules.MaxTtlSeconds} seconds (got '{ttl}')");
            }
            parsedTtl = t;
        }
        var name = string.IsNullOrWhiteSpace(unit) ? null : unit.Trim();
        if (name is not null && Snapstone.Domain.Names.Check("unit", name) is { } badName)
        {
            return (null, badName);
        }
        return (new BreakGlassRequest(kind, name, kind is BreakGlassAction.Rollback or BreakGlassAction.Deploy ? parsedVersion : null,
            kind == BreakGlassAction.Freeze ? parsedTtl : null), null);
    }

    public static void Map(RouteGroupBuilder console)
    {
        foreach (var kind in Enum.GetValues<BreakGlassAction>())
        {
            var name = kind.ToString().ToLowerInvariant();
            console.MapPost($"/breakglass/{name}", (HttpContext http, SnapstoneClient client,
                [FromForm] string? unit, [FromForm] string? version, [FromForm] string? ttl, [FromForm] string? expect, [FromForm] string? reason) =>
                PostAsync(http, client, name, unit, version, ttl, expect, reason))
                .RequireAuthorization(ConsoleAuth.Session(Scopes.BreakGlass));
        }
    }

    private static async Task<IResult> PostAsync(HttpContext http, SnapstoneClient client, string action, string? unit, string? version, string? ttl, string? expect, string? reason)
    {
        var (request, problem) = Parse(action, unit, version, ttl);
        if (request is null)
        {
            return Results.Redirect($"/console/breakglass?notice={Uri.EscapeDataString(problem!)}");
        }
        string Back(string notice) => $"{request.ConfirmPath}&notice={Uri.EscapeDataString(notice)}";
        if (string.IsNullOrWhiteSpace(reason))
        {
            return Results.Redirect(Back("a break-glass action needs a reason: nothing was done"));
        }
        var preview = await BreakGlassPreview.OfAsync(client, request);
        if (preview.Refusal is not null)
        {
            return Results.Redirect(Back($"nothing was done: {preview.Refusal}"));
        }
        if (!string.Equals(preview.Expect, expect, StringComparison.Ordinal))
        {
            return Results.Redirect(Back("what this would do changed since the confirmation was shown (read it again): nothing was done"));
        }
        try
        {
            var actor = http.Actor();
            var done = request.Action switch
            {
                BreakGlassAction.Freeze => await client.FreezeAsync(request.Unit, reason.Trim(), request.TtlSeconds, actor),
                BreakGlassAction.Unfreeze => await client.LiftFreezeAsync(request.Unit, actor),
                BreakGlassAction.Rollback => await client.InstantRollbackAsync(request.Unit!, reason.Trim(), actor, request.Version),
                _ => (await client.EmergencyDeployAsync(request.Unit!, request.Version!.Value, reason.Trim(), actor)).Action,
            };
            return Results.Redirect($"/console/breakglass?bg={Uri.EscapeDataString(done.Id)}&notice={Uri.EscapeDataString($"{preview.Title}: done.")}");
        }
        catch (SnapstoneException e)
        {
            return Results.Redirect(Back($"refused: {e.Message}"));
        }
    }
}
