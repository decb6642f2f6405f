using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Snapstone.Client;
using Snapstone.Domain.BreakGlass;
using Snapstone.Domain.Rollouts;

namespace Snapstone.Server.OperatorConsole;

/// <summary>The break-glass actions the console offers, by the name their form posts to.</summary>
public enum BreakGlassAction { Freeze, Unfreeze, Rollback, Deploy }

/// <summary>What a person asks break-glass to do, as the confirmation page and the form post read it.</summary>
public sealed record BreakGlassRequest(BreakGlassAction Action, string? Unit, long? Version, int? TtlSeconds)
{
    public string Name => Action.ToString().ToLowerInvariant();

    /// <summary>The confirmation page of this request (GET: nothing happens until its form is posted).</summary>
    public string ConfirmPath =>
        $"/console/breakglass/confirm?action={Name}" + (Unit is { Length: > 0 } u ? "&unit=" + Uri.EscapeDataString(u) : "")
        + (Version is { } v ? "&version=" + v.ToString(CultureInfo.InvariantCulture) : "")
        + (TtlSeconds is { } t ? "&ttl=" + t.ToString(CultureInfo.InvariantCulture) : "");
}

/// <summary>
/// What a break-glass action will do, worked out from the cluster's state the way the action itself decides it
/// (<see cref="InstantRollback.Plan"/> for a rollback; active rollouts and freezes for a freeze): the lines the
/// confirmation page repeats, whether the server will refuse it and why, and <see cref="Expect"/>, a digest of the
/// facts the lines rest on. The confirmation's form carries <see cref="Expect"/>; the post works the preview out again
/// and acts only when it still matches, so what happens is what the person read.
/// </summary>
public sealed record BreakGlassPreview(BreakGlassRequest Request, string Title, IReadOnlyList<string> Lines, IReadOnlyList<string> Halts, string? Refusal, string Expect)
{
    private static bool Active(RolloutView r) => !r.Status.IsTerminal;

    private static string Describe(RolloutView r) =>
        $"{r.Spec.Id} ({r.Spec.Unit} v{r.Spec.Version}, {RolloutCommands.Describe(r.Status.State)})";

    public static async Task<BreakGlassPreview> OfAsync(SnapstoneClient client, BreakGlassRequest request)
    {
        var unit = string.IsNullOrWhiteSpace(request.Unit) ? null : request.Unit.Trim();
        try
        {
            return request.Action switch
            {
                BreakGlassAction.Freeze => await FreezeAsync(client, request, unit),
                BreakGlassAction.Unfreeze => await UnfreezeAsync(client, request, unit),
                BreakGlassAction.Rollback => await RollbackAsync(client, request, unit),
                _ => await DeployAsync(client, request, unit),
            };
        }
        catch (SnapstoneException e)
        {
            return Make(request, $"{request.Action} {unit ?? "every unit"}", [], [], e.Message, ["refused", e.Message]);
        }
    }

    private static BreakGlassPreview Make(BreakGlassRequest request, string title, List<string> lines, List<string> halts, string? refusal, IEnumerable<string> facts)
    {
        var digest = SHA256.HashData(Encoding.UTF8.GetBytes(string.Join('\n', facts.Prepend(request.ToString()))));
        return new BreakGlassPreview(request, title, lines, halts, refusal, Convert.ToHexStringLower(digest)[..24]);
    }

    /// <summary>The rollouts in flight of <paramref name="unit"/> (null: of every unit): a unit has at most one.</summary>
    private static async Task<List<RolloutView>> InFlightAsync(SnapstoneClient client, string? unit)
    {
        IReadOnlyList<UnitView> units = unit is null ? await client.ListUnitsAsync() : [await client.GetUnitAsync(unit)];
        var rollouts = await Task.WhenAll(units.Where(u => u.ActiveRollout is not null).Select(u => client.GetRolloutAsync(u.ActiveRollout!)));
        return [.. rollouts.Where(Active).OrderBy(r => r.Spec.Unit, StringComparer.Ordinal)];
    }

    private static async Task<BreakGlassPreview> FreezeAsync(SnapstoneClient client, BreakGlassRequest request, string? unit)
    {
        var what = unit is null ? "every unit (a global freeze)" : $"unit '{unit}'";
        var title = $"Freeze {what}";
        if (BreakGlassRules.CheckTtl(request.TtlSeconds) is { } badTtl)
        {
            return Make(request, title, [], [], badTtl, ["refused", badTtl]);
        }
        var inFlight = await InFlightAsync(client, unit);
        var freezes = await client.FreezesAsync();
        var lines = new List<string>
        {
            request.TtlSeconds is { } ttl
                ? $"Freezes {what} for {ttl} s (TTL): it lifts by itself {ttl} s after you confirm, or earlier when someone lifts it."
                : $"Freezes {what} with no TTL: it stays until someone lifts it.",
        };
        var halts = new List<string>();
        foreach (var r in inFlight)
        {
            if (r.Spec.BreakGlass)
                lines.Add($"Rollout {Describe(r)} is an emergency deploy and does not heed freezes: it goes on.");
            else if (r.Status.State == RolloutState.RollingBack)
                lines.Add($"Rollout {Describe(r)} is rolling back: a freeze never holds a rollback, it goes on.");
            else if (r.Status.State == RolloutState.Paused)
                lines.Add($"Rollout {Describe(r)} is already paused ({r.Status.PausedReason}) and stays paused.");
            else
                halts.Add(Describe(r));
        }
        lines.Add(halts.Count == 0
            ? $"Pauses no rollout: none of {(unit is null ? "any unit" : $"'{unit}'")} is moving now."
            : $"Pauses {halts.Count} rollout(s) at once (listed below); they move again by themselves once no freeze applies.");
        lines.Add($"Refuses new rollouts of {(unit is null ? "every unit" : $"'{unit}'")} while it stands (break-glass deploys excepted).");
        if (freezes.FirstOrDefault(f => f.Unit == unit) is { } current)
        {
            lines.Add($"Replaces the freeze in force now: {current.Describe()}.");
        }
        lines.Add("Opens an incident and writes an audit entry under your name, with your reason.");
        return Make(request, title, lines, halts, null, ["freeze", .. halts, .. freezes.Where(f => f.Unit == unit).Select(f => f.Describe())]);
    }

    private static async Task<BreakGlassPreview> UnfreezeAsync(SnapstoneClient client, BreakGlassRequest request, string? unit)
    {
        var what = unit is null ? "the global freeze" : $"the freeze of unit '{unit}'";
        var freezes = await client.FreezesAsync();
        if (freezes.FirstOrDefault(f => f.Unit == unit) is not { } lifted)
        {
            var refusal = $"there is no {(unit is null ? "global freeze" : $"freeze of unit '{unit}'")} to lift";
            return Make(request, $"Lift {what}", [], [], refusal, ["refused", refusal]);
        }
        var others = freezes.Where(f => f.Unit != unit).ToList();
        var paused = (await InFlightAsync(client, unit)).Where(r => r.Status.Pause is PauseReason.Frozen).ToList();
        var lines = new List<string> { $"Lifts {what}: {lifted.Describe()}." };
        var moving = new List<string>();
        foreach (var r in paused)
        {
            if (others.FirstOrDefault(f => f.Covers(r.Spec.Unit)) is { } still)
                lines.Add($"Rollout {Describe(r)} stays paused: {still.Describe()}.");
            else
                moving.Add(Describe(r));
        }
        lines.Add(moving.Count == 0 ? "Resumes no rollout: none is paused by this freeze alone." : $"Rollouts paused by the freeze move again by themselves: {string.Join(", ", moving)}.");
        lines.Add("Writes an audit entry under your name, with your reason.");
        return Make(request, $"Lift {what}", lines, [], null, ["unfreeze", lifted.Describe(), .. moving]);
    }

    private static async Task<BreakGlassPreview> RollbackAsync(SnapstoneClient client, BreakGlassRequest request, string? unit)
    {
        if (unit is null)
        {
            return Make(request, "Instant rollback", [], [], "unit is required for an instant rollback", ["refused"]);
        }
        var view = await client.GetUnitAsync(unit);
        var inFlight = (await InFlightAsync(client, unit)).FirstOrDefault();
        RolloutView? made = null;
        if (inFlight is null && view.LkgVersion is { } lkgVersion)
        {
            // The version the LKG replaced: the completed rollout that made it the LKG says so.
            var history = await client.ListRolloutsAsync(unit, RolloutState.Completed, 20);
            if (history.FirstOrDefault(r => r.Version == lkgVersion) is { } completed)
            {
                made = await client.GetRolloutAsync(completed.Id);
            }
        }
        var facts = new RollbackFacts
        {
            Lkg = view.LkgVersion is { } lkg ? new PackageRef(lkg, "") : null,
            LkgPrevious = made?.Spec.PreviousVersion is { } before ? new PackageRef(before, "") : null,
            InFlight = inFlight is { } f ? (f.Spec.Id, new PackageRef(f.Spec.Version, ""), f.Spec.PreviousVersion is { } p ? new PackageRef(p, "") : null) : null,
            Quarantined = view.Quarantined,
        };
        var packages = request.Version is { } wanted ? await FindAsync(client, unit, wanted) : null;
        var (plan, refused) = InstantRollback.Plan(facts, request.Version, v => packages is { } found && found.Package.Version == v ? found : null);
        var title = $"Instant rollback of unit '{unit}'";
        if (plan is null)
        {
            return Make(request, title, [], [], refused!.Message, ["refused", refused.Message]);
        }
        // With nothing in flight and no record of the rollout that made the LKG, the unit alone knows what it replaced.
        var unknown = plan.Target is null && inFlight is null && request.Version is null && made is null;
        var target = plan.Target is { } t ? $"v{t.Version}" : unknown ? $"the version v{plan.TakenBack.Version} replaced" : "no package (agents keep their built-in default)";
        var lines = new List<string>
        {
            $"Every node of '{unit}' returns to {target} at once: no waves, no bake.",
            $"v{plan.TakenBack.Version} is taken back and quarantined: no rollout may deploy it again without break-glass.",
            plan.Target is { } becomes ? $"v{becomes.Version} becomes the last known good package."
                : unknown ? "That version becomes the last known good package (none, if it was the unit's first)." : "The unit is left with no last known good package.",
        };
        var halts = new List<string>();
        if (inFlight is not null)
        {
            halts.Add(Describe(inFlight));
            lines.Add($"Stops rollout {Describe(inFlight)}: no more waves, its nodes go back with the rest.");
        }
        else
        {
            lines.Add($"Stops no rollout: none of '{unit}' is in flight.");
        }
        lines.Add("Counts each node's confirmation of the target, opens an incident and writes an audit entry under your name, with your reason.");
        return Make(request, title, lines, halts, null, ["rollback", plan.TargetText, plan.TakenBack.Version.ToString(CultureInfo.InvariantCulture), plan.StopRollout ?? ""]);
    }

    private static async Task<(PackageRef Package, bool Passed)?> FindAsync(SnapstoneClient client, string unit, long version)
    {
        try
        {
            var package = await client.GetPackageAsync(unit, version);
            return (new PackageRef(version, package.Record.Sha256), package.Record.Validation.Passed);
        }
        catch (SnapstoneException e) when (e.Kind == Snapstone.Domain.ProblemKind.NotFound)
        {
            return null;
        }
    }

    private static async Task<BreakGlassPreview> DeployAsync(SnapstoneClient client, BreakGlassRequest request, string? unit)
    {
        var title = $"Emergency deploy of unit '{unit}' v{request.Version}";
        if (unit is null || request.Version is not { } version || version < 1)
        {
            const string missing = "unit and version (1 or more) are required for an emergency deploy";
            return Make(request, "Emergency deploy", [], [], missing, ["refused"]);
        }
        var view = await client.GetUnitAsync(unit);
        var package = await client.GetPackageAsync(unit, version);
        var inFlight = (await InFlightAsync(client, unit)).FirstOrDefault();
        var refusal = !package.Record.Validation.Passed ? $"v{version} of '{unit}' was rejected by validation and can never be rolled out"
            : inFlight is not null ? $"rollout {Describe(inFlight)} is in flight: wait for it, abort it or roll it back first"
            : view.LkgVersion == version ? $"v{version} is already the last known good package of '{unit}'"
            : null;
        if (refusal is not null)
        {
            return Make(request, title, [], [], refusal, ["refused", refusal]);
        }
        var freezes = (await client.FreezesAsync()).Where(f => f.Covers(unit)).ToList();
        var lines = new List<string>
        {
            $"Deploys v{version} of '{unit}' (sha256 {package.Record.Sha256[..12]}, “{package.Record.Message}”) on the emergency plan: a minimal canary, then every node.",
            "Bypasses the unit's plan and its approvals"
                + (freezes.Count > 0 ? $", and the freeze in force ({string.Join("; ", freezes.Select(f => f.Describe()))})" : "")
                + (view.Quarantined.Contains(version) ? $", and the quarantine of v{version}" : "") + ".",
            $"Still watched: a regression rolls it back to {(view.LkgVersion is { } lkg ? $"v{lkg}" : "no package")}, as any rollout.",
            $"Stops no rollout: none of '{unit}' is in flight.",
            "Opens an incident and writes an audit entry under your name, with your reason.",
        };
        return Make(request, title, lines, [], null, ["deploy", package.Record.Sha256, view.LkgVersion?.ToString(CultureInfo.InvariantCulture) ?? "", .. freezes.Select(f => f.Describe())]);
    }
}
