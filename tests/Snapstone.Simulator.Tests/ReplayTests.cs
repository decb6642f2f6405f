using System.Text;
using System.Text.Json.Nodes;
using Snapstone.Simulator.Consumers;
using Snapstone.Simulator.Replay;
using Snapstone.Simulator.Shape;
using Snapstone.Simulator.Traffic;

namespace Snapstone.Simulator.Tests;

public sealed class ReplayDefinitionTests
{
    public static TheoryData<string> Ids => [.. Replays.Ids];

    [Theory]
    [MemberData(nameof(Ids))]
    public void Each_replay_hurts_its_consumers_only_with_its_bad_packages(string id)
    {
        var scenario = Replays.Named(id, ReplayScale.Ci);
        var fl1 = new Dictionary<string, string> { ["proxy"] = "fl1" };

        Assert.Equal(ConsumerOutcome.Applied(PackageEffect.None), Consume(scenario.Consumer, scenario.Baseline));
        var changes = scenario.Changes.Select(c => (scenario.Consumer, c)).ToList();
        if (scenario.Overlap is { } overlap)
        {
            Assert.Equal(ConsumerOutcome.Applied(PackageEffect.None), Consume(overlap.Consumer, overlap.Baseline));
            changes.Add((overlap.Consumer, overlap.Change));
        }
        foreach (var (consumer, change) in changes)
        {
            var outcome = Consume(consumer, change.Content);
            var hurts = outcome.Verdict != ConsumerVerdict.Applied || outcome.Effect.ErrorShareOn(fl1) > 0 || outcome.Effect.ExtraLatencyMs > 0;
            Assert.True(hurts == change.Bad, $"{scenario} \"{change.Message}\": {outcome}");
        }
        Assert.Equal(id switch { "c" => ReplayScale.Ci.Cycles, "e" => 0, _ => 1 }, changes.Count(c => c.Item2.Bad));
        Assert.Equal(changes.Count, scenario.ChangeCount);
    }

    [Theory]
    [MemberData(nameof(Ids))]
    public void Each_replay_defines_the_replay_plan_and_a_unit_that_names_it(string id)
    {
        var scenario = Replays.Named(id, ReplayScale.Ci);

        Assert.Equal(ReplayScenario.PlanName, (string?)scenario.Definition["plan"]);
        var waves = scenario.Plan["waves"]!.AsArray();
        Assert.Equal(["canary", "ten-percent", "all"], waves.Select(w => (string?)w!["name"]));
        Assert.Equal(id == "g" ? [1, 6, 1] : [1, 1, 1], waves.Select(w => (int)w!["bakeSeconds"]!));
        Assert.Equal((80, 4, 7), (scenario.Shape.Nodes, scenario.Shape.Pops, scenario.Shape.Seed));
        Assert.Equal(scenario.Consumer, scenario.Consumers[scenario.Unit]);
    }

    [Fact]
    public void The_latency_replay_is_judged_by_a_latency_gate_the_others_by_the_server_s_default_gates()
    {
        Assert.All(Replays.Named("d", ReplayScale.Ci).Plan["waves"]!.AsArray(), w => Assert.Equal(1.5, (double)w!["gates"]!["maxP99LatencyRatio"]!));
        Assert.All(Replays.All(ReplayScale.Ci).Where(s => s.Id != "d").SelectMany(s => s.Plan["waves"]!.AsArray()), w => Assert.Null(w!["gates"]));
    }

    [Fact]
    public void The_generator_alternates_good_and_bad_files_either_side_of_the_limit_for_the_fl2_proxies_only()
    {
        var scenario = Replays.Named("c", new ReplayScale { Nodes = 100, Pops = 4, Cycles = 2 });

        Assert.Equal([false, true, false, true], scenario.Changes.Select(c => c.Bad));
        Assert.Equal([190, 210, 190, 210], scenario.Changes.Select(c => JsonNode.Parse(c.Content)!["features"]!.AsArray().Count));
        Assert.Equal(2, scenario.Changes.Select(c => c.Content).Where((_, i) => i % 2 == 0).Distinct().Count());
        Assert.Equal("""{"labels":{"proxy":"fl2"}}""", scenario.Definition["targets"]!.ToJsonString());
        Assert.Null(Replays.Named("a", ReplayScale.Ci).Definition["targets"]);
        var layout = FleetLayout.Lay(scenario.Shape);
        Assert.All(layout.Nodes, n => Assert.Equal(n.Labels["proxy"] == "fl2", scenario.Consumes(n)));
        Assert.InRange(layout.Nodes.Count(scenario.Consumes), 30, 50);
    }

    [Fact]
    public void The_noisy_fleet_is_noisier_than_the_others()
    {
        var noisy = FleetLayout.Lay(Replays.Named("e", ReplayScale.Ci).Shape);
        var plain = FleetLayout.Lay(Replays.Named("a", ReplayScale.Ci).Shape);

        Assert.Equal(4, noisy.Nodes.Count(n => n.Flaky));
        Assert.Equal(0, plain.Nodes.Count(n => n.Flaky));
        Assert.Equal(1, noisy.Pops.Count(p => p.LowTraffic));
        Assert.Equal(ReplayScale.Ci.NoisyChanges, Replays.Named("e", ReplayScale.Ci).Changes.Count);
    }

    [Fact]
    public void An_unknown_replay_is_refused_with_the_known_ones()
    {
        var refused = Assert.Throws<ArgumentException>(() => Replays.Named("h", ReplayScale.Ci));
        Assert.Equal("replay 'h' must be one of a, b, c, d, e, f, g", refused.Message);
    }

    [Fact]
    public void Only_the_upstream_replay_disturbs_the_fleet_for_a_few_seconds_of_each_canary_bake()
    {
        Assert.Equal(new Disturbance(0.2, TimeSpan.FromSeconds(3)), Replays.Named("f", ReplayScale.Ci).Disturbance);
        Assert.Equal(["f"], Replays.All(ReplayScale.Ci).Where(s => s.Disturbance is not null).Select(s => s.Id));
        Assert.Equal([false, true], Replays.Named("f", ReplayScale.Ci).Changes.Select(c => c.Bad));
    }

    [Fact]
    public void The_overlapping_replay_starts_the_flags_change_on_every_node_while_the_good_feature_file_bakes_its_second_wave()
    {
        var scenario = Replays.Named("g", ReplayScale.Ci);
        var overlap = scenario.Overlap!;

        Assert.Equal(("bot-features", "global-flags", 1), (scenario.Unit, overlap.Unit, overlap.DuringWave));
        Assert.Equal([false], scenario.Changes.Select(c => c.Bad));
        Assert.True(overlap.Change.Bad);
        Assert.Null(overlap.Definition["targets"]);
        Assert.Equal(["bot-features", "global-flags"], scenario.Consumers.Keys.Order());
        Assert.Equal(["g"], Replays.All(ReplayScale.Ci).Where(s => s.Overlap is not null).Select(s => s.Id));
    }

    private static ConsumerOutcome Consume(IConsumer consumer, string content) => consumer.Consume(Encoding.UTF8.GetBytes(content));
}

public sealed class ReplayResultTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 3, 9, 0, 0, TimeSpan.Zero);
    private static readonly ReplayChange Good = new("{}", "good", Bad: false);
    private static readonly ReplayChange Bad = new("{}", "bad", Bad: true);

    /// <summary>A bad change rolled back from a canary wave of 4, safe 3 report intervals (0.75 s) after its first report.</summary>
    private static readonly ReplayOutcome CaughtBad = new()
    {
        Index = 2,
        Change = Bad,
        Version = 3,
        State = "rolled-back",
        StoppedAtWave = 0,
        FirstWaveName = "canary",
        FirstWaveTargeted = 4,
        EverApplied = 4,
        RollbackTargeted = 4,
        RollbackConfirmed = 4,
        FirstBadReportAt = T0,
        SafeAt = T0.AddSeconds(0.75),
        FleetBackAt = T0.AddSeconds(0.5),
        Halt = "rollback-started: 1 node(s) crashed > max 0",
    };

    private static readonly ReplayOutcome CompletedGood = new() { Index = 1, Change = Good, Version = 2, State = "completed", StoppedAtWave = 2, EverApplied = 80 };

    public static TheoryData<string, ReplayOutcome, string[]> Cases => new()
    {
        { "caught in the canary wave", CaughtBad, [] },
        { "good and complete", CompletedGood, [] },
        { "refused by validation", new ReplayOutcome { Index = 2, Change = Bad, Version = 3, Refused = true, State = "refused" }, [] },
        {
            "caught in wave 1 on more nodes than wave 0", CaughtBad with { StoppedAtWave = 1, EverApplied = 12 },
            ["change 2 (v3, bad) was caught in wave 1, not in the first", "change 2 (v3, bad) reached 12 nodes, more than the 4 of its first wave"]
        },
        {
            "completed", CaughtBad with { State = "completed", StoppedAtWave = 2, SafeAt = null, FleetBackAt = null, RollbackTargeted = 0, RollbackConfirmed = 0 },
            ["change 2 (v3, bad) ended completed, not rolled back", "change 2 (v3, bad) was caught in wave 2, not in the first", "change 2 (v3, bad) was never safe: the rollback was not confirmed"]
        },
        {
            "still rolling back", CaughtBad with { State = "rolling-back", TimedOut = true, SafeAt = null, RollbackConfirmed = 3, FleetBackAt = null },
            ["change 2 (v3, bad) was still rolling-back when the replay gave up, not rolled back", "change 2 (v3, bad): only 3 of 4 nodes confirmed the rollback",
             "change 2 (v3, bad) was never safe: the rollback was not confirmed"]
        },
        {
            "too slow", CaughtBad with { SafeAt = T0.AddSeconds(8) },
            ["change 2 (v3, bad) took 32 report intervals (8.0 s) to safe, more than 30"]
        },
        { "just in time", CaughtBad with { SafeAt = T0.AddSeconds(7.5) }, [] },
        {
            "never reported", CaughtBad with { FirstBadReportAt = null },
            ["change 2 (v3, bad) was never safe: no node ever reported it"]
        },
        {
            "rolled back but a node is elsewhere", CaughtBad with { FleetBackAt = null },
            ["change 2 (v3, bad): a node that ran it does not run the previous package"]
        },
        {
            "good but paused", CompletedGood with { State = "paused", StoppedAtWave = 0, Halt = "paused: wave 'canary' inconclusive" },
            ["change 1 (v2, good) ended paused, not completed", "change 1 (v2, good) was halted: paused: wave 'canary' inconclusive"]
        },
        {
            "good but rolled back", CompletedGood with { State = "rolled-back", Halt = "rollback-started: 2 crash(es)" },
            ["change 1 (v2, good) ended rolled-back, not completed", "change 1 (v2, good) was halted: rollback-started: 2 crash(es)"]
        },
        {
            "good, complete, not everywhere", CompletedGood with { TimedOut = true },
            ["change 1 (v2, good) completed, but not every consumer ran it when the replay gave up"]
        },
        {
            "good but refused", CompletedGood with { Refused = true, State = "refused" },
            ["change 1 (v2, good) was refused by validation"]
        },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Problems_name_every_broken_promise(string @case, ReplayOutcome outcome, string[] expected)
    {
        var result = new ReplayResult("x", @case, 80, 80, 4, TimeSpan.FromMilliseconds(250), [outcome]);

        Assert.Equal(expected, result.Problems(safeWithinIntervals: 30));
    }

    [Fact]
    public void Time_to_safe_runs_from_the_first_bad_report_to_the_confirmed_rollback()
    {
        Assert.Equal(TimeSpan.FromSeconds(0.75), CaughtBad.TimeToSafe);
        Assert.Equal(TimeSpan.FromSeconds(0.5), CaughtBad.FleetTimeToSafe);
        Assert.Null(CompletedGood.TimeToSafe);
    }

    [Fact]
    public void A_result_describes_each_change_on_a_line()
    {
        var result = new ReplayResult("a", "feature-file-doubling", 80, 80, 4, TimeSpan.FromMilliseconds(250),
            [CompletedGood with { Plan = "replay-waves", Risk = "standard 45", FirstWaveName = "canary", FirstWaveTargeted = 4 }, CaughtBad with { Plan = "high-risk", Risk = "high 60", Approvals = 1 }]);

        Assert.Equal(
            """
            (a) feature-file-doubling: 80 nodes, 80 consume the unit, 4 canaries; reports every 0.25 s
              1. v2 good "good" risk standard 45: completed on plan replay-waves, stopped at wave 2; ran on 80 nodes, first wave 'canary' 4
              2. v3 bad  "bad" risk high 60: rolled-back on plan high-risk, stopped at wave 0; ran on 4 nodes, first wave 'canary' 4; rollback confirmed 4/4; safe 0.75 s (3 intervals), fleet back 0.50 s; 0 inconclusive, 1 approvals; halted: rollback-started: 1 node(s) crashed > max 0
            """.ReplaceLineEndings("\n"),
            result.Describe().ReplaceLineEndings("\n"));
    }
}
