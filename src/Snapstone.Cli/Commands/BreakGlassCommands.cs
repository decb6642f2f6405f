using System.CommandLine;
using System.Text.Json.Nodes;
using Spectre.Console;

namespace Snapstone.Cli.Commands;

/// <summary>
/// <c>snapstone breakglass freeze|unfreeze|rollback|deploy</c> over <c>/v1/breakglass</c>: audited emergency actions that
/// need the <c>breakglass</c> scope and a reason, and each open an incident.
/// </summary>
public static class BreakGlassCommands
{
    /// <summary>How long <c>rollback --wait</c> waits for every node's confirmation unless told.</summary>
    public static readonly TimeSpan DefaultRollbackTimeout = TimeSpan.FromMinutes(5);

    public static Command Build(CommandContext c) => new("breakglass", "emergency actions: freeze, instant fleet-wide rollback, emergency deploy")
    {
        Freeze(c), Unfreeze(c), Rollback(c), Deploy(c),
    };

    private static Option<string?> OptionalUnit(string description) => new("--unit", "-u") { Description = description, HelpName = "unit" };

    private static Option<string> RequiredUnit() => new("--unit", "-u") { Description = "the unit", HelpName = "unit", Required = true };

    private static Command Freeze(CommandContext c)
    {
        var unit = OptionalUnit("freeze only this unit (default: every unit)");
        var reason = Arguments.Reason(required: true);
        var ttl = new Option<int?>("--ttl") { Description = "lift the freeze by itself after this many seconds (default: only when lifted)", HelpName = "seconds" };
        var command = new Command("freeze", "pause every matching active rollout now and refuse new ones until lifted") { unit, reason, ttl };
        c.Run(command, async (s, p, ct) =>
        {
            var body = new JsonObject { ["unit"] = p.GetValue(unit), ["reason"] = p.GetRequiredValue(reason), ["ttlSeconds"] = p.GetValue(ttl) };
            var freeze = await s.Gateway.PostAsync("/v1/breakglass/freeze", body, ct);
            return s.Emit(freeze, o => o.WriteLine(
                $"frozen: {freeze.Str("unit") ?? "all units"} by {freeze.Str("by")}{(freeze.Str("until") is { } until ? $" until {until}" : "")}; matching rollouts paused, new ones refused"));
        });
        return command;
    }

    private static Command Unfreeze(CommandContext c)
    {
        var unit = OptionalUnit("lift this unit's own freeze (default: the global freeze)");
        var command = new Command("unfreeze", "lift a freeze; the rollouts it paused resume") { unit };
        c.Run(command, async (s, p, ct) =>
        {
            var named = p.GetValue(unit);
            var path = named is null ? "/v1/breakglass/freeze" : $"/v1/breakglass/freeze?unit={Uri.EscapeDataString(named)}";
            var lifted = (await s.Gateway.SendAsync(HttpMethod.Delete, path, null, ct)).Body;
            return s.Emit(lifted, o => o.WriteLine($"freeze lifted: {named ?? "all units"}; rollouts it paused resume"));
        });
        return command;
    }

    private static Command Rollback(CommandContext c)
    {
        var unit = RequiredUnit();
        var reason = Arguments.Reason(required: true);
        var toVersion = new Option<long?>("--to-version") { Description = "with no rollout in flight, the version to go back to (default: the one before the newest completed)", HelpName = "version" };
        var wait = new Option<bool>("--wait", "-w") { Description = "wait until every node confirms; exit 13 if --timeout passes first" };
        var timeout = Arguments.Timeout(DefaultRollbackTimeout);
        var command = new Command("rollback", "every node of the unit back at once, no waves; the version taken back is quarantined")
        {
            unit, reason, toVersion, wait, timeout,
        };
        c.Run(command, async (s, p, ct) =>
        {
            var body = new JsonObject { ["unit"] = p.GetRequiredValue(unit), ["reason"] = p.GetRequiredValue(reason) };
            if (p.GetValue(toVersion) is { } to)
            {
                body["toVersion"] = to;
            }
            var action = await s.Gateway.PostAsync("/v1/breakglass/rollback", body, ct);
            var started = $"rollback {action.Str("id")}: {action.Int("targeted")} node(s) of {action.Str("unit")} sent back to v{action.Long("targetVersion")}; " +
                $"quarantined [{string.Join(", ", action.Strings("quarantined"))}]; incident {action.Str("incident")}";
            if (!p.GetValue(wait))
            {
                return s.Emit(action, o => o.WriteLine(started));
            }
            s.Progress(started);
            var (final, code) = await ConfirmAsync(s, action, p.GetValue(timeout), ct);
            return s.Emit(final, o => o.WriteLine(code == ExitCodes.Ok
                ? $"confirmed {final.Int("confirmed")} of {final.Int("targeted")}: complete"
                : $"confirmed {final.Int("confirmed")} of {final.Int("targeted")} when the {Durations.Describe(p.GetValue(timeout))} timeout passed; the rollback goes on"), code);
        });
        return command;
    }

    /// <summary>Polls the action until it completes or <paramref name="timeout"/> passes, printing each change in confirmations.</summary>
    private static async Task<(JsonNode Action, int Code)> ConfirmAsync(Session s, JsonNode action, TimeSpan timeout, CancellationToken ct)
    {
        var deadline = timeout > TimeSpan.Zero ? DateTimeOffset.UtcNow + timeout : DateTimeOffset.MaxValue;
        var said = -1;
        while (action.Str("completedAt") is null)
        {
            if (action.Int("confirmed") != said)
            {
                said = action.Int("confirmed");
                s.Progress($"  confirmed {said} of {action.Int("targeted")}");
            }
            if (DateTimeOffset.UtcNow >= deadline)
            {
                return (action, ExitCodes.TimedOut);
            }
            await Task.Delay(RolloutWatch.PollInterval / 2, ct);
            action = await s.Gateway.GetAsync($"/v1/breakglass/actions/{Arguments.Segment(action.Str("id")!)}", ct);
        }
        return (action, ExitCodes.Ok);
    }

    private static Command Deploy(CommandContext c)
    {
        var unit = RequiredUnit();
        var version = new Option<long>("--version") { Description = "the package version to deploy", HelpName = "version", Required = true };
        var reason = Arguments.Reason(required: true);
        var wait = new Option<bool>("--wait", "-w") { Description = "follow the rollout and exit like 'rollout start --wait'" };
        var timeout = Arguments.Timeout(RolloutCommands.DefaultTimeout);
        var command = new Command("deploy", "deploy past the plan, freezes, approvals and quarantine: a minimal canary, then everyone; still watched and rolled back on regression")
        {
            unit, version, reason, wait, timeout,
        };
        c.Run(command, async (s, p, ct) =>
        {
            var body = new JsonObject { ["unit"] = p.GetRequiredValue(unit), ["version"] = p.GetValue(version), ["reason"] = p.GetRequiredValue(reason) };
            var rollout = await s.Gateway.PostAsync("/v1/breakglass/deploy", body, ct);
            var started = $"emergency rollout {rollout.Str("id")} of {rollout.Str("unit")} v{rollout.Long("version")} started on plan {rollout.Str("plan")}: canary, then everyone";
            if (!p.GetValue(wait))
            {
                return s.Emit(rollout, o => o.WriteLine(started));
            }
            s.Progress(started);
            return await RolloutCommands.FollowAsync(s, rollout.Str("id")!, p.GetValue(timeout), ct);
        });
        return command;
    }
}
