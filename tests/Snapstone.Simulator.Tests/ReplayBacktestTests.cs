using System.Text.Json.Nodes;
using Snapstone.Simulator.Demo;
using Snapstone.Simulator.Replay;

namespace Snapstone.Simulator.Tests;

public sealed class ReplayBacktestTests
{
    private static readonly string[] Waves = ["canary", "ten-percent", "all"];

    public static TheoryData<string?[], string?[], string?[], string> Rows => new()
    {
        { ["advance", "advance", "advance"], ["healthy", "healthy", "healthy"], ["healthy", "healthy", "healthy"], "advance ×3" },
        { ["rollback", null, null], ["unhealthy", null, null], ["unhealthy", null, null], "rollback in canary" },
        { ["advance", "wait", null], ["healthy", "inconclusive", null], ["healthy", "healthy", null], "advance ×1, wait in ten-percent" },
        { ["advance", null, null], ["healthy", null, null], ["unhealthy", null, null], "advance ×1, ten-percent not recorded" },
        { [null, null, null], [null, null, null], [null, null, null], "no recorded evidence" },
    };

    [Theory]
    [MemberData(nameof(Rows))]
    public void A_judgement_sums_up_as_what_the_rollout_would_have_done(string?[] actions, string?[] results, string?[] recorded, string summary)
    {
        var judgement = new JudgementView("r-0123456789abcdef", [.. Waves.Select((name, i) => new WaveJudgementView(i, name,
            results[i] is { } result ? new VerdictView(result, []) : null, actions[i], null,
            recorded[i] is { } was ? new VerdictView(was, []) : null))]);

        var row = ReplayBacktestRow.Of("stricter", judgement);

        Assert.Equal(summary, row.Summary);
    }

    [Fact]
    public void Only_waves_recorded_and_judged_again_with_another_result_are_differences()
    {
        var row = new ReplayBacktestRow(ReplayBacktest.AsRun, Waves, ["advance", "wait", null], ["healthy", "inconclusive", null], ["healthy", "healthy", "healthy"]);

        Assert.Equal(["ten-percent: recorded healthy, judged again inconclusive"], row.Differences);
    }

    [Fact]
    public void A_set_lays_its_gates_over_the_replay_plans()
    {
        var plan = DemoScenario.Plan(10, new JsonObject { ["maxP99LatencyRatio"] = 1.5, ["maxCrashes"] = 0 });

        var stricter = ReplayBacktest.Gates(plan, ReplayBacktest.Sets.Single(s => s.Name == "stricter").Overrides);

        Assert.Equal(1.25, (double)stricter["maxP99LatencyRatio"]!);
        Assert.Equal(0, (int)stricter["maxCrashes"]!);
        Assert.Equal(0.005, (double)stricter["maxErrorRate"]!);
        Assert.Null(plan["waves"]![0]!["gates"]!["maxErrorRate"]);
    }
}
