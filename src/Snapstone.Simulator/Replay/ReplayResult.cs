using System.Globalization;
using System.Text;

namespace Snapstone.Simulator.Replay;

/// <summary>What became of one change of a replay: the rollout as the server last showed it and the fleet's own record.</summary>
public sealed record ReplayOutcome
{
    /// <summary>Its place in the replay, from 1.</summary>
    public required int Index { get; init; }
    public required ReplayChange Change { get; init; }

    /// <summary>The unit it changed; null in a replay of one unit, where it is the scenario's.</summary>
    public string? Unit { get; init; }

    public long Version { get; init; }

    /// <summary>When the replay's upstream disturbance started on the fleet during this change (as its rollout started); null: none did.</summary>
    public DateTimeOffset? DisturbedAt { get; init; }

    /// <summary>The server's risk of the package, e.g. <c>high 70</c>; null when it said none.</summary>
    public string? Risk { get; init; }

    /// <summary>Validation refused the package: it can never be rolled out, so no node ran it.</summary>
    public bool Refused { get; init; }

    public string? Rollout { get; init; }

    /// <summary>The rollout's state when the replay stopped watching it, e.g. <c>completed</c>, <c>rolled-back</c>.</summary>
    public string State { get; init; } = "not started";

    /// <summary>The replay stopped watching because its time ran out, not because the rollout settled.</summary>
    public bool TimedOut { get; init; }

    /// <summary>The plan the rollout used; another than the one asked for when the server raised a high-risk change.</summary>
    public string? Plan { get; init; }

    /// <summary>It was paused, rolled back or aborted at some point, and why.</summary>
    public string? Halt { get; init; }

    /// <summary>The wave it was in when it stopped (for a rollback: the furthest wave it reached).</summary>
    public int? StoppedAtWave { get; init; }
    public string? FirstWaveName { get; init; }
    public int FirstWaveTargeted { get; init; }

    /// <summary>Nodes that ever ran (or crashed on) the package: the blast radius.</summary>
    public int EverApplied { get; init; }

    public int RollbackTargeted { get; init; }
    public int RollbackConfirmed { get; init; }

    /// <summary>For a bad change: the start of the first report round after a node first took it.</summary>
    public DateTimeOffset? FirstBadReportAt { get; init; }

    /// <summary>The rollout's <c>rollback.completedAt</c>: every node it sent back confirmed the previous package.</summary>
    public DateTimeOffset? SafeAt { get; init; }

    /// <summary>When the last node that ran the package took the previous one again (before its confirming report).</summary>
    public DateTimeOffset? FleetBackAt { get; init; }

    /// <summary>How many times a wave was judged inconclusive (a wait, not a halt).</summary>
    public int Inconclusive { get; init; }

    /// <summary>Waves a second person approved.</summary>
    public int Approvals { get; init; }

    /// <summary>Its recorded evidence judged again under each of <see cref="ReplayBacktest.Sets"/>; empty when it had no rollout.</summary>
    public IReadOnlyList<ReplayBacktestRow> Backtest { get; init; } = [];

    /// <summary>From the first bad report to the rollback confirmed by every node.</summary>
    public TimeSpan? TimeToSafe => FirstBadReportAt is { } from && SafeAt is { } to ? to - from : null;

    /// <summary>From the first bad report to the last node running the previous package again.</summary>
    public TimeSpan? FleetTimeToSafe => FirstBadReportAt is { } from && FleetBackAt is { } to ? to - from : null;
}

/// <summary>
/// One replay as played: the fleet, how often it reports, and the outcome of each change. <see cref="Problems"/>
/// holds it to the replay's promises.
/// </summary>
public sealed record ReplayResult(
    string Id,
    string Name,
    int Nodes,
    int Consumers,
    int Canaries,
    TimeSpan ReportInterval,
    IReadOnlyList<ReplayOutcome> Outcomes)
{
    public IReadOnlyList<ReplayOutcome> Bad => [.. Outcomes.Where(o => o.Change.Bad)];
    public IReadOnlyList<ReplayOutcome> Good => [.. Outcomes.Where(o => !o.Change.Bad)];

    public double Intervals(TimeSpan span) => span / ReportInterval;

    /// <summary>
    /// Every broken promise, one line each; empty when the replay passed. A bad change must be refused by validation
    /// or rolled back from wave 0, no more nodes may ever have run it than wave 0 targeted, every node sent back must
    /// have confirmed, and it must be safe within <paramref name="safeWithinIntervals"/> report intervals of its first
    /// report. A good change must complete, reach every consumer and never be paused, rolled back or aborted. Either
    /// way, its recorded evidence judged again under the gates it ran with must give every verdict it recorded.
    /// </summary>
    public IReadOnlyList<string> Problems(double safeWithinIntervals)
    {
        var problems = new List<string>();
        foreach (var o in Outcomes)
        {
            var what = $"change {o.Index} ({(o.Unit is { } unit ? unit + " " : "")}v{o.Version}, {(o.Change.Bad ? "bad" : "good")})";
            if (o.Backtest.FirstOrDefault(b => b.Set == ReplayBacktest.AsRun) is { Differences: { Count: > 0 } differences })
            {
                problems.Add($"{what}: its evidence judged again under the gates it ran with does not give what it recorded ({string.Join("; ", differences)})");
            }
            var ended = o.TimedOut ? $"was still {o.State} when the replay gave up" : $"ended {o.State}";
            if (!o.Change.Bad)
            {
                if (o.Refused)
                {
                    problems.Add($"{what} was refused by validation");
                    continue;
                }
                if (o.State != "completed")
                {
                    problems.Add($"{what} {ended}, not completed");
                }
                else if (o.TimedOut)
                {
                    problems.Add($"{what} completed, but not every consumer ran it when the replay gave up");
                }
                if (o.Halt is { } halt)
                {
                    problems.Add($"{what} was halted: {halt}");
                }
                continue;
            }
            if (o.Refused)
            {
                continue;
            }
            if (o.State != "rolled-back")
            {
                problems.Add($"{what} {ended}, not rolled back");
            }
            if (o.StoppedAtWave is not 0)
            {
                problems.Add($"{what} was caught in wave {o.StoppedAtWave?.ToString(CultureInfo.InvariantCulture) ?? "?"}, not in the first");
            }
            if (o.EverApplied > o.FirstWaveTargeted)
            {
                problems.Add($"{what} reached {o.EverApplied} nodes, more than the {o.FirstWaveTargeted} of its first wave");
            }
            if (o.RollbackConfirmed < o.RollbackTargeted)
            {
                problems.Add($"{what}: only {o.RollbackConfirmed} of {o.RollbackTargeted} nodes confirmed the rollback");
            }
            if (o.TimeToSafe is not { } safe)
            {
                problems.Add($"{what} was never safe: {(o.FirstBadReportAt is null ? "no node ever reported it" : "the rollback was not confirmed")}");
            }
            else if (Intervals(safe) > safeWithinIntervals)
            {
                problems.Add(string.Create(CultureInfo.InvariantCulture,
                    $"{what} took {Intervals(safe):0.#} report intervals ({safe.TotalSeconds:0.0} s) to safe, more than {safeWithinIntervals:0.#}"));
            }
            if (o.State == "rolled-back" && o.FleetBackAt is null)
            {
                problems.Add($"{what}: a node that ran it does not run the previous package");
            }
        }
        return problems;
    }

    /// <summary>A few lines for a log or a failed assertion: the fleet, then one line per change.</summary>
    public string Describe()
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture,
            $"({Id}) {Name}: {Nodes} nodes, {Consumers} consume the unit, {Canaries} canaries; reports every {ReportInterval.TotalSeconds:0.##} s");
        foreach (var o in Outcomes)
        {
            text.AppendLine();
            text.Append(CultureInfo.InvariantCulture, $"  {o.Index}. {(o.Unit is { } unit ? unit + " " : "")}v{o.Version} {(o.Change.Bad ? "bad " : "good")} \"{o.Change.Message}\" risk {o.Risk ?? "?"}: ");
            if (o.Refused)
            {
                text.Append("refused by validation");
                continue;
            }
            text.Append(CultureInfo.InvariantCulture, $"{o.State}{(o.TimedOut ? " (gave up watching)" : "")} on plan {o.Plan ?? "?"}, stopped at wave {o.StoppedAtWave?.ToString(CultureInfo.InvariantCulture) ?? "?"}");
            text.Append(CultureInfo.InvariantCulture, $"; ran on {o.EverApplied} nodes, first wave '{o.FirstWaveName}' {o.FirstWaveTargeted}");
            if (o.Change.Bad || o.RollbackTargeted > 0)
            {
                text.Append(CultureInfo.InvariantCulture, $"; rollback confirmed {o.RollbackConfirmed}/{o.RollbackTargeted}");
            }
            if (o.TimeToSafe is { } safe)
            {
                text.Append(CultureInfo.InvariantCulture, $"; safe {safe.TotalSeconds:0.00} s ({Intervals(safe):0.#} intervals)");
            }
            if (o.FleetTimeToSafe is { } back)
            {
                text.Append(CultureInfo.InvariantCulture, $", fleet back {back.TotalSeconds:0.00} s");
            }
            if (o.DisturbedAt is not null)
            {
                text.Append("; upstream disturbance from its start");
            }
            if (o.Inconclusive > 0 || o.Approvals > 0)
            {
                text.Append(CultureInfo.InvariantCulture, $"; {o.Inconclusive} inconclusive, {o.Approvals} approvals");
            }
            if (o.Halt is { } halt)
            {
                text.Append("; halted: ").Append(halt);
            }
            if (o.Backtest.Count > 0)
            {
                text.Append("; judged again: ").Append(string.Join(", ", o.Backtest.Select(b => $"{b.Set} {b.Summary}")));
            }
        }
        return text.ToString();
    }
}
