using System.Globalization;
using System.Text.Json.Nodes;
using Snapstone.Simulator.Demo;

namespace Snapstone.Simulator.Replay;

/// <summary>
/// One change's recorded evidence judged again under one set of gates (<c>POST /v1/rollouts/{id}/judge</c>): per wave
/// of the rollout's plan, the verdict those gates give its newest look and what the rollout would have done with it
/// (null from the first wave the replay of the evidence does not reach), beside the verdict the rollout recorded.
/// </summary>
public sealed record ReplayBacktestRow(string Set, IReadOnlyList<string> Waves, IReadOnlyList<string?> Actions, IReadOnlyList<string?> Results,
    IReadOnlyList<string?> Recorded)
{
    /// <summary>
    /// What the rollout would have done, as a backtest table shows it: <c>advance ×3</c>, <c>rollback in canary</c>,
    /// <c>advance ×1, wait in ten-percent</c>, <c>advance ×1, ten-percent not recorded</c> (the rollout never ran that
    /// wave), <c>no recorded evidence</c> (it was rolled back on a node's crash before its first look).
    /// </summary>
    public string Summary
    {
        get
        {
            var advanced = Actions.TakeWhile(a => a == "advance").Count();
            var stop = advanced >= Actions.Count ? null
                : Actions[advanced] is { } action ? $"{action} in {Waves[advanced]}"
                : advanced > 0 ? $"{Waves[advanced]} not recorded" : null;
            return (advanced, stop) switch
            {
                (0, null) => "no recorded evidence",
                (0, _) => stop,
                (_, null) => string.Create(CultureInfo.InvariantCulture, $"advance ×{advanced}"),
                _ => string.Create(CultureInfo.InvariantCulture, $"advance ×{advanced}, {stop}"),
            };
        }
    }

    /// <summary>
    /// The waves whose verdict judged again differs from the one the rollout recorded, as
    /// "ten-percent: recorded healthy, judged again inconclusive".
    /// </summary>
    public IReadOnlyList<string> Differences =>
    [
        .. Waves.Select((name, i) => (Name: name, Recorded: Recorded[i], Again: Results[i]))
            .Where(w => w.Recorded is not null && w.Again is not null && w.Recorded != w.Again)
            .Select(w => $"{w.Name}: recorded {w.Recorded}, judged again {w.Again}"),
    ];

    public static ReplayBacktestRow Of(string set, JudgementView judgement) => new(set,
        [.. judgement.Waves.Select(w => w.Name)],
        [.. judgement.Waves.Select(w => w.Verdict is null ? null : w.Action)],
        [.. judgement.Waves.Select(w => w.Verdict?.Result)],
        [.. judgement.Waves.Select(w => w.Recorded?.Result)]);
}

/// <summary>
/// The judge backtested on the incident replays: each change's recorded evidence judged again under the gates of the
/// replay plan (<see cref="AsRun"/>), a stricter set and a laxer one, the sets of the rollouts doc's backtest table.
/// </summary>
public static class ReplayBacktest
{
    /// <summary>The replay plan's own gates: judged again under them, every recorded verdict must come out the same.</summary>
    public const string AsRun = "as run";

    /// <summary>Each set's name and what it sets on top of the replay plan's gates.</summary>
    public static IReadOnlyList<(string Name, JsonObject Overrides)> Sets { get; } =
    [
        (AsRun, new JsonObject()),
        ("stricter", new JsonObject { ["maxErrorRate"] = 0.005, ["maxErrorRateRatio"] = 1.5, ["maxP99LatencyRatio"] = 1.25 }),
        ("laxer", new JsonObject { ["maxErrorRate"] = 0.05, ["maxErrorRateRatio"] = 4.0, ["maxP99LatencyRatio"] = 4.0 }),
    ];

    /// <summary>The gates of <paramref name="plan"/>'s first wave (the replay plan gives every wave the same), with <paramref name="overrides"/> on top.</summary>
    public static JsonObject Gates(JsonObject plan, JsonObject overrides)
    {
        var gates = plan["waves"]?.AsArray().FirstOrDefault()?["gates"]?.DeepClone() as JsonObject ?? new JsonObject();
        foreach (var (name, value) in overrides)
        {
            gates[name] = value?.DeepClone();
        }
        return gates;
    }
}
