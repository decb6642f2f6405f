using Snapstone.Domain.Health;
using Snapstone.Domain.Plans;

namespace Snapstone.Domain.Tests.Health;

/// <summary>A metric query's result, split into cohort and control, judged with the same comparison as pushed metrics.</summary>
public class MetricGateTests
{
    private const string Query = "sum by (node) (rate(edge_errors_total[15s])) / sum by (node) (rate(edge_requests_total[15s]))";

    private static readonly MetricGate ErrorRate = new()
    {
        Name = "edge-error-rate", Query = Query, Direction = MetricDirection.HigherIsWorse, Max = 0.01, MaxRatio = 2.0, MinNodes = 3,
    };

    private static readonly MetricGate SuccessRate = new()
    {
        Name = "edge-success", Query = "avg by (node) (edge_success_ratio)", Direction = MetricDirection.LowerIsWorse, Max = 0.99, MaxRatio = 1.02, MinNodes = 3,
    };

    private static MetricReading Reading(string gate, double[] cohort, double[] control, string? error = null) => new()
    {
        Gate = gate,
        Cohort = [.. cohort.Select((v, i) => new NodeValue($"c-{i}", v))],
        Control = [.. control.Select((v, i) => new NodeValue($"k-{i}", v))],
        Error = error,
    };

    private static readonly double[] Fleet = [0.001, 0.001, 0.0012, 0.0008, 0.001];

    public static TheoryData<string, MetricGate, MetricReading?, string[]> Cases => new()
    {
        { "a clear regression: over the max and 13× the control", ErrorRate, Reading(ErrorRate.Name, [0.012, 0.015, 0.012], Fleet),
            [
                $"metric edge-error-rate ({Query}): cohort 0.013 on 3 node(s) > max 0.01 (control 0.001 on 5 node(s))",
                $"metric edge-error-rate ({Query}): cohort 0.013 on 3 node(s) is 13.00× worse than control 0.001 on 5 node(s), more than the 2× allowed",
            ] },
        { "like the control", ErrorRate, Reading(ErrorRate.Name, [0.001, 0.0011, 0.0009], Fleet),
            [
                $"metric edge-error-rate ({Query}): cohort 0.001 on 3 node(s) within max 0.01 (control 0.001 on 5 node(s))",
                $"metric edge-error-rate ({Query}): cohort 0.001 on 3 node(s) within 2× control 0.001 on 5 node(s) (ratio 1.00×)",
            ] },
        { "cohort and control both over the max at the same time: waits", ErrorRate, Reading(ErrorRate.Name, [0.013, 0.013, 0.013], [0.012, 0.012]),
            [
                $"metric edge-error-rate ({Query}): cohort 0.013 on 3 node(s) > max 0.01 (control 0.012 on 2 node(s)), but the control is over it too at the same time: an ambient disturbance, waiting for it to clear",
                $"metric edge-error-rate ({Query}): cohort 0.013 on 3 node(s) within 2× control 0.012 on 2 node(s) (ratio 1.08×)",
            ] },
        { "too few nodes with data", ErrorRate, Reading(ErrorRate.Name, [0.5, double.NaN], Fleet),
            [$"metric edge-error-rate ({Query}): 1 cohort node(s) with a value (1 more answered NaN or ±Inf, which is no value), 3 needed: inconclusive"] },
        { "the query failed", ErrorRate, Reading(ErrorRate.Name, [], [], error: "Prometheus at http://127.0.0.1:9090 did not answer within 5 s"),
            [$"metric edge-error-rate ({Query}): query failed: Prometheus at http://127.0.0.1:9090 did not answer within 5 s: inconclusive"] },
        { "no reading at all", ErrorRate, null, [$"metric edge-error-rate ({Query}): no reading: inconclusive"] },
        { "a control at 0 gives no ratio", ErrorRate with { Max = null }, Reading(ErrorRate.Name, [0.001, 0.001, 0.001], [0, 0]),
            [$"metric edge-error-rate ({Query}): cohort 0.001 on 3 node(s) against 2× control 0 on 2 node(s), but the control is 0, so no ratio can be taken"] },
        { "lower is worse: under the floor and worse than the control", SuccessRate, Reading(SuccessRate.Name, [0.95, 0.95, 0.95], [0.999, 0.999]),
            [
                "metric edge-success (avg by (node) (edge_success_ratio)): cohort 0.95 on 3 node(s) < min 0.99 (control 0.999 on 2 node(s))",
                "metric edge-success (avg by (node) (edge_success_ratio)): cohort 0.95 on 3 node(s) is 1.05× worse than control 0.999 on 2 node(s), more than the 1.02× allowed",
            ] },
        { "lower is worse: a cohort at 0 is as bad as it gets", SuccessRate with { Max = null }, Reading(SuccessRate.Name, [0, 0, 0], [0.999]),
            ["metric edge-success (avg by (node) (edge_success_ratio)): cohort 0 on 3 node(s) is infinitely worse than control 0.999 on 1 node(s), more than the 1.02× allowed"] },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void A_metric_gate_compares_like_pushed_metrics_and_cites_its_query(string because, MetricGate gate, MetricReading? reading, string[] lines)
    {
        var findings = HealthPolicy.JudgeMetric(gate, reading);
        Assert.True(lines.SequenceEqual(findings.Select(FindingText.Render)), $"{because}: got [{string.Join(" | ", findings.Select(FindingText.Render))}]");
    }

    public static TheoryData<string, MetricReading?, CheckOutcome[]> Outcomes => new()
    {
        { "a clear regression", Reading(ErrorRate.Name, [0.012, 0.015, 0.012], Fleet), [CheckOutcome.Fail, CheckOutcome.Fail] },
        { "ambient", Reading(ErrorRate.Name, [0.013, 0.013, 0.013], [0.012, 0.012]), [CheckOutcome.Unsure, CheckOutcome.Pass] },
        { "no data is never a pass", Reading(ErrorRate.Name, [], []), [CheckOutcome.Unsure] },
        { "no control to take the ratio against", Reading(ErrorRate.Name, [0.001, 0.001, 0.001], []), [CheckOutcome.Pass, CheckOutcome.Unsure] },
    };

    [Theory]
    [MemberData(nameof(Outcomes))]
    public void No_data_or_too_few_nodes_is_unsure_never_a_pass(string because, MetricReading? reading, CheckOutcome[] outcomes) =>
        Assert.True(outcomes.SequenceEqual(HealthPolicy.JudgeMetric(ErrorRate, reading).Select(f => f.Outcome)), because);

    private static Verdict Judge(IReadOnlyList<MetricGate> metrics, IReadOnlyList<MetricReading> readings, bool pushed = true)
    {
        var cohort = Enumerable.Range(0, 5).Select(i => new NodeSample { NodeId = $"c-{i}", Requests = pushed ? 1000 : 0, Errors = pushed ? 1 : 0, P99LatencyMs = 40, Reported = true }).ToList();
        var control = Enumerable.Range(0, 20).Select(i => new NodeSample { NodeId = $"k-{i}", Requests = pushed ? 1000 : 0, Errors = pushed ? 1 : 0, P99LatencyMs = 40, Reported = true }).ToList();
        return HealthPolicy.Judge(new WaveEvidence { Unit = "bot-features", Targeted = 5, Cohort = cohort, Control = control, Metrics = readings },
            new Gates { Metrics = metrics });
    }

    public static TheoryData<string, MetricReading[], bool, VerdictResult> Verdicts => new()
    {
        { "pushed metrics clean, the query shows the regression", [Reading(ErrorRate.Name, [0.012, 0.015, 0.012], Fleet)], true, VerdictResult.Unhealthy },
        { "pushed metrics and the query both clean", [Reading(ErrorRate.Name, [0.001, 0.001, 0.001], Fleet)], true, VerdictResult.Healthy },
        { "the metrics store is down: the wave waits", [Reading(ErrorRate.Name, [], [], error: "connection refused")], true, VerdictResult.Inconclusive },
        { "no reading for the gate: the wave waits", [], true, VerdictResult.Inconclusive },
        { "no pushed metrics, a clean query: judged on the query alone", [Reading(ErrorRate.Name, [0.001, 0.001, 0.001], Fleet)], false, VerdictResult.Healthy },
        { "no pushed metrics, a bad query", [Reading(ErrorRate.Name, [0.02, 0.02, 0.02], Fleet)], false, VerdictResult.Unhealthy },
        { "no pushed metrics and the store down: never healthy", [Reading(ErrorRate.Name, [], [], error: "timeout")], false, VerdictResult.Inconclusive },
    };

    [Theory]
    [MemberData(nameof(Verdicts))]
    public void The_wave_verdict_takes_its_metric_gates_with_the_pushed_checks(string because, MetricReading[] readings, bool pushed, VerdictResult result)
    {
        var verdict = Judge([ErrorRate], readings, pushed);
        Assert.True(result == verdict.Result, $"{because}: got {verdict.Result}: {string.Join(" | ", verdict.Reasons)}");
        if (!pushed && result == VerdictResult.Healthy)
        {
            Assert.Contains("no traffic in the cohort's reports: judged on its metric queries alone", verdict.Reasons);
        }
    }

    [Fact]
    public void A_report_only_gate_is_recorded_and_never_changes_the_verdict()
    {
        var verdict = Judge([ErrorRate with { Mode = GateMode.ReportOnly }], [Reading(ErrorRate.Name, [0.012, 0.015, 0.012], Fleet)]);

        Assert.Equal(VerdictResult.Healthy, verdict.Result);
        Assert.Contains(verdict.Reasons, r => r.EndsWith("more than the 2× allowed [report-only: recorded, not acted on]", StringComparison.Ordinal));
        Assert.All(verdict.Findings.OfType<Finding.Metric>(), f => Assert.True(f.ReportOnly));
    }
}
