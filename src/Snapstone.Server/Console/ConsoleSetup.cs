using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using Snapstone.Client;
using Snapstone.Server.Http;

namespace Snapstone.Server.OperatorConsole;

/// <summary>
/// The operators' console at <c>/console/</c>: Razor components rendered by this process (interactive server
/// rendering for the live parts), a cookie session made from a bearer token, and form posts that call the same
/// <see cref="SnapstoneClient"/> operations under the same named scope policies as the HTTP endpoints.
/// </summary>
public static class ConsoleSetup
{
    public static IServiceCollection AddSnapstoneConsole(this IServiceCollection services)
    {
        // The bearer scheme stays the default: the HTTP API never reads the console's cookie, so a cookie cannot
        // be replayed against /v1 by another site.
        services.AddAuthentication().AddCookie(ConsoleAuth.Scheme, ConsoleAuth.Configure);
        services.AddSharedKeyRing();
        services.AddRazorComponents().AddInteractiveServerComponents();
        services.AddCascadingAuthenticationState();
        services.AddAntiforgery(o =>
        {
            o.Cookie.Name = "snapstone-console-antiforgery";
            o.Cookie.SameSite = SameSiteMode.Strict;
            o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
        });
        return services;
    }

    /// <summary>The console's pages, its sign-in and sign-out, and one form post per rollout action.</summary>
    public static WebApplication MapSnapstoneConsole(this WebApplication app)
    {
        app.UseAntiforgery();
        var console = app.MapGroup("/console").ExcludeFromDescription();

        console.MapPost("/signin", async ([FromForm] string? token, [FromForm] string? returnUrl, HttpContext http, IOptionsMonitor<AuthOptions> auth) =>
        {
            var found = string.IsNullOrWhiteSpace(token) ? null : ConsoleAuth.Find(auth.CurrentValue, token);
            if (found is null)
            {
                return Results.Redirect($"{ConsoleAuth.SignInPath}?failed=unknown");
            }
            var principal = ConsoleAuth.Principal(found);
            if (!ConsoleAuth.MayUse(principal))
            {
                return Results.Redirect($"{ConsoleAuth.SignInPath}?failed=scope");
            }
            await http.SignInAsync(ConsoleAuth.Scheme, principal, new AuthenticationProperties { IsPersistent = false });
            return Results.Redirect(LocalConsolePath(returnUrl));
        })
        // Anyone may sign in; the session scheme still reads a signed-in browser's cookie here, as it did on the form's
        // page, so that the form's anti-forgery token (bound to who was signed in) checks out when switching tokens.
        .RequireAuthorization(ConsoleAuth.Session(Scopes.Read)).AllowAnonymous();

        console.MapPost("/signout", async ([FromForm] string? confirm, HttpContext http) =>
        {
            await http.SignOutAsync(ConsoleAuth.Scheme);
            return Results.Redirect($"{ConsoleAuth.SignInPath}?signedOut=1");
        }).RequireAuthorization(ConsoleAuth.Session(Scopes.Read));

        MapAction(console, "approve", Scopes.Approve, (c, id, actor, reason) => c.ApproveRolloutAsync(id, actor, reason));
        MapAction(console, "pause", Scopes.Deploy, (c, id, actor, reason) => c.PauseRolloutAsync(id, actor, reason));
        MapAction(console, "resume", Scopes.Deploy, (c, id, actor, reason) => c.ResumeRolloutAsync(id, actor, reason));
        MapAction(console, "abort", Scopes.Deploy, (c, id, actor, reason) => c.AbortRolloutAsync(id, actor, reason));

        console.MapPost("/incidents/{id}/updates", async (string id, [FromForm] string? status, [FromForm] string? message, HttpContext http, SnapstoneClient client) =>
        {
            var page = $"/console/incidents/{Uri.EscapeDataString(id)}";
            if (!Enum.TryParse<Snapstone.Domain.Incidents.IncidentStatus>(status, ignoreCase: false, out var parsed) || !Enum.IsDefined(parsed))
            {
                return Results.Redirect($"{page}?notice={Uri.EscapeDataString("status must be one of " + string.Join(", ", Enum.GetNames<Snapstone.Domain.Incidents.IncidentStatus>()))}");
            }
            try
            {
                await client.UpdateIncidentAsync(id, parsed, message, http.Actor());
                return Results.Redirect($"{page}?notice={Uri.EscapeDataString("update posted")}");
            }
            catch (SnapstoneException e)
            {
                return Results.Redirect($"{page}?notice={Uri.EscapeDataString($"update refused: {e.Message}")}");
            }
        }).RequireAuthorization(ConsoleAuth.Session(Scopes.BreakGlass));

        BreakGlassForm.Map(console);

        // The framework's own script (blazor.web.js), served from the build's static web assets; nothing of ours.
        app.MapStaticAssets();
        app.MapRazorComponents<App>()
            .AddInteractiveServerRenderMode()
            .RequireAuthorization(ConsoleAuth.Session(Scopes.Read));
        return app;
    }

    /// <summary>The rollout actions, as the HTTP API has them (same operation, same scope), with a reason the form requires.</summary>
    private static void MapAction(RouteGroupBuilder console, string action, string scope, Func<SnapstoneClient, string, string, string?, Task<RolloutView>> run) =>
        console.MapPost($"/rollouts/{{id}}/{action}", async (string id, [FromForm] string? reason, HttpContext http, SnapstoneClient client) =>
        {
            var page = $"/console/rollouts/{Uri.EscapeDataString(id)}";
            if (string.IsNullOrWhiteSpace(reason))
            {
                return Results.Redirect($"{page}?notice={Uri.EscapeDataString($"{action} needs a reason")}");
            }
            try
            {
                await run(client, id, http.Actor(), reason.Trim());
                return Results.Redirect($"{page}?done={action}");
            }
            catch (SnapstoneException e)
            {
                return Results.Redirect($"{page}?notice={Uri.EscapeDataString($"{action} refused: {e.Message}")}");
            }
        }).RequireAuthorization(ConsoleAuth.Session(scope));

    /// <summary>Where to go after signing in: a console path, never another site (an open redirect).</summary>
    internal static string LocalConsolePath(string? returnUrl) =>
        returnUrl is { Length: > 0 and < 500 } url && url.StartsWith("/console", StringComparison.Ordinal) && !url.StartsWith("//", StringComparison.Ordinal)
            && !url.Contains('\\') && Uri.IsWellFormedUriString(url, UriKind.Relative)
            ? url
            : "/console/";
}
