using System.Text.Json.Nodes;
using Snapstone.Simulator.Demo;
using Snapstone.Simulator.Shape;
using Snapstone.Simulator.Traffic;

namespace Snapstone.Simulator.Replay;

/// <summary>
/// How big a replay is. The defaults are the benchmark's (10,000 nodes, 10 s bakes); <see cref="Ci"/> is the
/// scaled-down version the tests run.
/// </summary>
public sealed record ReplayScale
{
    public int Nodes { get; init; } = 10_000;
    public int Pops { get; init; } = 20;
    public int Seed { get; init; } = 1;

    /// <summary>Share of each region's nodes in the canary tier, the replay plan's first wave.</summary>
    public double CanaryShare { get; init; } = 0.01;

    /// <summary>How long each wave of the replay plan bakes.</summary>
    public int BakeSeconds { get; init; } = 10;

    /// <summary>
    /// Good-then-bad pairs the alternating generator (c) publishes. Three at most keep every one of its changes
    /// standard risk: its unit scores 25 (fail-closed) plus 10 per rollback in the last 30 days, and from 50 the
    /// server raises a change to the high-risk plan (approvals, 110 minutes of bakes), good files included.
    /// </summary>
    public int Cycles { get; init; } = 3;

    /// <summary>Good packages rolled out on the noisy fleet (e).</summary>
    public int NoisyChanges { get; init; } = 3;

    /// <summary>How long the upstream disturbance (f) lasts, from its change's rollout starting.</summary>
    public double DisturbanceSeconds { get; init; } = 30;

    /// <summary>Share of every node's requests the upstream disturbance (f) fails.</summary>
    public double DisturbanceErrorShare { get; init; } = 0.2;

    /// <summary>
    /// How long the second wave bakes in the overlapping-units replay (g): long enough for the other unit's change to
    /// go through its canary wave and be rolled back meanwhile.
    /// </summary>
    public int OverlapBakeSeconds { get; init; } = 60;

    /// <summary>
    /// 80 nodes in 4 PoPs (one per region), about 10% of them canaries, 1 s bakes, seed 7 (it puts fl1 and fl2
    /// nodes among the canaries of every replay that needs them).
    /// </summary>
    public static ReplayScale Ci { get; } = new()
    {
        Nodes = 80, Pops = 4, Seed = 7, CanaryShare = 0.1, BakeSeconds = 1, Cycles = 3, NoisyChanges = 2,
        DisturbanceSeconds = 3, OverlapBakeSeconds = 6,
    };
}

/// <summary>
/// The incident replays of issues #6 (a–e) and #13 (f, g), built on the demo's units and generators. Each is defined once here and
/// played by the tests (scaled down) and by the benchmark (scaled up).
/// </summary>
public static class Replays
{
    /// <summary>Feature counts of the alternating generator's good and bad files, either side of the 200 limit.</summary>
    public const int GoodFeatures = 190;
    public const int BadFeatures = 210;

    public static IReadOnlyList<string> Ids { get; } = ["a", "b", "c", "d", "e", "f", "g"];

    public static IReadOnlyList<ReplayScenario> All(ReplayScale scale) => [.. Ids.Select(id => Named(id, scale))];

    public static ReplayScenario Named(string id, ReplayScale scale) => id switch
    {
        "a" => FromDemo("features", scale) with
        {
            Id = "a",
            Name = "feature-file-doubling",
            Models = "a generated bot-management feature file doubles (120 → 240 rows) past the 200 features a fail-closed proxy holds; every node that loads it crashes",
        },
        "b" => FromDemo("killswitch", scale) with
        {
            Id = "b",
            Name = "killswitch-one-label",
            Models = "a killswitch flipped in the global flag file sends only the proxy=fl1 nodes down a broken path (HTTP 500 for 28% of their requests); fl2 nodes are untouched",
        },
        "c" => AlternatingGenerator(scale),
        "d" => FromDemo("latency", scale, new JsonObject { ["maxP99LatencyRatio"] = 1.5 }) with
        {
            Id = "d",
            Name = "latency-only",
            Models = "a settings file makes every request 80 ms slower and fails none; only the plan's latency gate (p99 at most 1.5× the control's) can see it",
        },
        "e" => NoisyFleet(scale),
        "f" => FromDemo("killswitch", scale) with
        {
            Id = "f",
            Name = "upstream-disturbance",
            Models = $"an upstream dependency fails {scale.DisturbanceErrorShare:P0} of the requests of every node, on the new flags or not, for " +
                     $"{scale.DisturbanceSeconds:0.#} s from the moment each change's rollout starts (over its canary wave's apply and bake): the good flags must get through it, " +
                     "the killswitch (28% more errors on the fl1 nodes) must still die in the canary wave",
            Disturbance = new Disturbance(scale.DisturbanceErrorShare, TimeSpan.FromSeconds(scale.DisturbanceSeconds)),
        },
        "g" => OverlappingUnits(scale),
        _ => throw new ArgumentException($"replay '{id}' must be one of {string.Join(", ", Ids)}"),
    };

    /// <summary>A demo scenario as a replay: its unit, consumer and baseline, then its good and its bad package.</summary>
    private static ReplayScenario FromDemo(string demo, ReplayScale scale, JsonObject? gates = null)
    {
        var scenario = DemoScenario.Named(demo, ReplayScenario.PlanName);
        return new ReplayScenario
        {
            Id = "",
            Name = demo,
            Models = "",
            Unit = scenario.Unit,
            Consumer = scenario.Consumer,
            Definition = scenario.Definition,
            Plan = DemoScenario.Plan(scale.BakeSeconds, gates),
            Shape = Fleet(scale),
            Baseline = scenario.BaselineContent,
            Changes = [new ReplayChange(scenario.GoodContent, scenario.GoodMessage, Bad: false), new ReplayChange(scenario.BadContent, scenario.BadMessage, Bad: true)],
        };
    }

    /// <summary>
    /// (c) The feature file's generator runs on a cluster half of which emits duplicate rows, so its files alternate
    /// good (190 features) and bad (210) run after run. The file is loaded by the fl2 proxies, 40% of the fleet.
    /// </summary>
    private static ReplayScenario AlternatingGenerator(ReplayScale scale)
    {
        var features = FromDemo("features", scale);
        var definition = (JsonObject)features.Definition.DeepClone();
        definition["description"] = "ML feature file for the bot score, loaded by the fl2 proxies";
        definition["targets"] = new JsonObject { ["labels"] = new JsonObject { ["proxy"] = "fl2" } };
        return features with
        {
            Id = "c",
            Name = "alternating-generator",
            Models = $"the feature file's generator alternates good ({GoodFeatures} features) and bad ({BadFeatures}) files run after run, " +
                     "as it did while half of its database cluster had the permissions change; only the fl2 proxies load it, and crash on a bad one",
            Definition = definition,
            Targets = new Dictionary<string, string> { ["proxy"] = "fl2" },
            Shape = Fleet(scale) with { Labels = [new LabelSplit("proxy", [new LabelShare("fl1", 0.6), new LabelShare("fl2", 0.4)])] },
            Baseline = DemoScenario.FeatureFile(GoodFeatures),
            Changes =
            [
                .. Enumerable.Range(1, scale.Cycles).SelectMany(run => new[]
                {
                    new ReplayChange(DemoScenario.FeatureFile(GoodFeatures, phase: run), $"generator run {2 * run - 1}: {GoodFeatures} features", Bad: false),
                    new ReplayChange(DemoScenario.FeatureFile(BadFeatures, phase: run), $"generator run {2 * run}: {BadFeatures} features (duplicated rows)", Bad: true),
                }),
            ],
        };
    }

    /// <summary>(e) Good feature files, one after the other, on a fleet whose noise must not halt them.</summary>
    private static ReplayScenario NoisyFleet(ReplayScale scale)
    {
        var features = FromDemo("features", scale);
        return features with
        {
            Id = "e",
            Name = "noisy-fleet",
            Models = "good feature files on a noisy fleet: 5% flaky nodes failing 3–20% of their requests, 30% of PoPs serving a few requests a second, " +
                     "p99 jittering 20% from one report to the next; nothing may halt them",
            Shape = Fleet(scale) with
            {
                FlakyNodeShare = 0.05,
                MinFlakyErrorRate = 0.03,
                MaxFlakyErrorRate = 0.2,
                BaseErrorRate = 0.004,
                LowTrafficPopShare = 0.3,
                LatencyJitter = 0.2,
            },
            // The baseline is phase 1; each change is the same 120 rows with other weights.
            Changes = [.. Enumerable.Range(2, scale.NoisyChanges).Select(phase =>
                new ReplayChange(DemoScenario.FeatureFile(120, phase), $"Regenerate the bot features (run {phase - 1})", Bad: false))],
        };
    }

    /// <summary>
    /// (g) A good feature file is in its second wave, on the canaries and 10% of the fleet, when the killswitch change of
    /// the global flags enters its canary wave: the same canaries now run both new packages, and the fl1 ones fail 28% of
    /// their requests. The errors follow the flags, applied last: the flags must be rolled back from the canary wave
    /// and the feature file must complete.
    /// </summary>
    private static ReplayScenario OverlappingUnits(ReplayScale scale)
    {
        var features = FromDemo("features", scale);
        var flags = FromDemo("killswitch", scale);
        var plan = DemoScenario.Plan(scale.BakeSeconds);
        plan["waves"]![1]!["bakeSeconds"] = scale.OverlapBakeSeconds;
        return features with
        {
            Id = "g",
            Name = "overlapping-units",
            Models = "a good feature file bakes its second wave when a killswitch flipped in the global flags enters its canary wave on the same nodes; " +
                     "the fl1 canaries fail 28% of their requests from the flags' apply on",
            Plan = plan,
            Changes = [features.Changes[0]],
            Overlap = new ReplayOverlap(flags.Unit, flags.Consumer, flags.Definition, flags.Baseline, flags.Changes[1], DuringWave: 1),
        };
    }

    private static FleetShape Fleet(ReplayScale scale) => new()
    {
        Nodes = scale.Nodes,
        Pops = scale.Pops,
        Seed = scale.Seed,
        CanaryShare = scale.CanaryShare,
    };
}
