using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;
using Snapstone.Domain.Health;
using Snapstone.Domain.Plans;

namespace Snapstone.Domain.Tests.Health;

public class FindingTests
{
    private static NodeSample S(string id, long requests, long errors, double p99 = 40) =>
        new() { NodeId = id, Requests = requests, Errors = errors, P99LatencyMs = p99, Reported = true };

    private static List<NodeSample> Many(string prefix, int count, long requests, long errors, double p99 = 40) =>
        [.. Enumerable.Range(0, count).Select(i => S($"{prefix}-{i}", requests, errors, p99))];

    [Fact]
    public void A_verdict_carries_its_reasons_as_codes_with_numbers_and_renders_them_as_before()
    {
        var verdict = HealthPolicy.Judge(Many("c", 10, 1000, 31), Many("k", 20, 1000, 1), new Gates(), 10);

        var ceiling = Assert.IsType<Finding.ErrorRate>(verdict.Findings[0]);
        Assert.Equal((CheckOutcome.Fail, "cohort", 310.0, 10_000.0, 0.01, (double?)null), (ceiling.Outcome, ceiling.Subject, ceiling.Errors, ceiling.Requests, ceiling.Limit, ceiling.Ratio));
        var ratio = Assert.IsType<Finding.ErrorRate>(verdict.Findings[1]);
        Assert.Equal((CheckOutcome.Fail, 2.0, 0.002), (ratio.Outcome, ratio.Ratio, ratio.Limit));
        Assert.Equal(new ReferenceFigures(ReferenceKind.Control, "control", 0.001, 0.001, 20, 20_000), ratio.Reference);
        Assert.Equal("cohort error rate 3.10% (310/10000) > ceiling 1.00%", verdict.Reasons[0]);
        Assert.Equal("cohort error rate 3.10% (310/10000) > 2× control 0.10% (20/20000) = 0.20%", verdict.Reasons[1]);
        Assert.Equal(verdict.Findings.Count, verdict.Reasons.Count);
    }

    public static TheoryData<Finding, string> Lines => new()
    {
        { new Finding.EmptyWave(), "no nodes selected: an empty wave adds no risk" },
        { new Finding.Crashed(7, 7, 0, ["a", "b", "c", "d", "e"]), "7 crash(es) on 7 node(s) > max 0 (a, b, c, d, e and 2 more)" },
        { new Finding.Rejected(1, 0, ["n-1"]), "1 node(s) rejected the package > max 0 (n-1)" },
        { new Finding.Reporting(7, 10, 0.9, 9), "7/10 nodes reported on the package (70%) < required 90% (9 nodes)" },
        { new Finding.Reporting(9, 10, 0.9, 9), "9/10 nodes reported on the package (90%)" },
        { new Finding.TooLittleTraffic(150, 200), "cohort served 150 requests < 200 needed for a verdict" },
        { new Finding.ErrorRate(CheckOutcome.Unsure, "cohort", 4, 300, 0.01, null, null, 0.3527, 0.001),
            "cohort error rate 1.33% (4/300) > ceiling 1.00%, but that could be chance on 300 requests (p = 0.353, needs < 0.001)" },
        { new Finding.ErrorRate(CheckOutcome.Pass, "cohort", 0, 5000, 0.002, 2, new ReferenceFigures(ReferenceKind.Control, "control", 0, 0.001, 0, 4000), 1, 0.001),
            "cohort error rate 0.00% (0/5000) within 2× control 0.00% (0/4000), floored to 0.10% = 0.20%" },
        { new Finding.ErrorRate(CheckOutcome.Fail, "cohort", 100, 10_000, 0.002, 2, new ReferenceFigures(ReferenceKind.Baseline, "baseline", 0.001, 0.001), 0, 0.001),
            "cohort error rate 1.00% (100/10000) > 2× the cohort's own baseline 0.10% = 0.20%" },
        { new Finding.ErrorRate(CheckOutcome.Fail, "cohort", 2999.7, 20_000, 0.01, null, null, 0, 0.001),
            "cohort error rate 15.00% (2999.7/20000) > ceiling 1.00%" },
        { new Finding.Latency(CheckOutcome.Fail, "cohort", 70, 1.5, "control", 40, 1.75), "cohort p99 70.0 ms > 1.5× control p99 40.0 ms (ratio 1.75)" },
        // Decided at one slot while the whole window's figure is within the limit: the line says when, not "0.79% > 1.00%".
        { new Finding.ErrorRate(CheckOutcome.Fail, "cohort", 377, 47_880, 0.01, null, null, 0.0004, 0.001, DecidedAt: new DateTimeOffset(2026, 1, 1, 10, 0, 5, 625, TimeSpan.Zero)),
            "cohort error rate 0.79% (377/47880) over the window is within ceiling 1.00%, but was significantly over it by 10:00:05.6 UTC (p = 0, needs < 0.001)" },
        { new Finding.Latency(CheckOutcome.Fail, "cohort", 55, 1.5, "control", 40, 1.37, 0.0002, 0.001, 12),
            "cohort p99 55.0 ms within 1.5× control p99 40.0 ms (ratio 1.37) over the window, but was significantly over it (p = 0, needs < 0.001)" },
        { new Finding.FlakyTooMany(Side.Control, 6, 10), "6 of 10 control nodes were above the ceiling before the change too: too many to set aside, all are judged" },
        { new Finding.NodeBreach("n-1", 100, 1000, 3, 0.018, 0.01, 0.009),
            "node n-1 error rate 10.00% (100/1000) > 3× its limit 1.80% (ceiling 1.00%, own baseline 0.90%)" },
        { new Finding.Note("passed"), "passed" },
    };

    [Theory]
    [MemberData(nameof(Lines))]
    public void Each_finding_renders_one_line_with_its_numbers(Finding finding, string line) =>
        Assert.Equal(line, FindingText.Render(finding));

    [Fact]
    public void A_verdict_made_from_text_keeps_it_as_its_reasons()
    {
        var verdict = new Verdict(VerdictResult.Healthy, ["passed"], 3, 0);
        Assert.Equal(["passed"], verdict.Reasons);
        Assert.Empty(verdict.Findings);
        Assert.Equal((3, 0), (verdict.HealthyNodes, verdict.UnhealthyNodes));
    }

    [Fact]
    public void Findings_serialize_to_json_with_their_code()
    {
        Finding finding = new Finding.Latency(CheckOutcome.Fail, "cohort", 70, 1.5, "control", 40, 1.75);
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web);

        var json = JsonSerializer.Serialize(finding, options);
        var back = JsonSerializer.Deserialize<Finding>(json, options);

        Assert.StartsWith("""{"code":"latency",""", json, StringComparison.Ordinal);
        Assert.Equal(finding, back);
    }

    [Fact]
    public void A_verdict_reads_back_from_json_with_its_findings_and_reasons()
    {
        var verdict = HealthPolicy.Judge(Many("c", 10, 1000, 31), Many("k", 20, 1000, 1), new Gates(), 10);
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web);

        var back = JsonSerializer.Deserialize<Verdict>(JsonSerializer.Serialize(verdict, options), options)!;

        Assert.Equal(verdict.Findings, back.Findings);
        Assert.Equal(verdict.Reasons, back.Reasons);
        Assert.Equal((verdict.Result, verdict.UnhealthyNodes), (back.Result, back.UnhealthyNodes));
    }

    [Fact]
    public void A_long_metric_query_is_shortened_in_text_and_kept_whole_in_the_finding()
    {
        var query = "sum by (node) (" + new string('x', 200) + ")";
        var finding = new Finding.Metric(CheckOutcome.Unsure, "m", query, MetricDirection.HigherIsWorse, null, null, null, null, 0, 0, false, "no reading");

        Assert.Equal($"metric m ({query[..117]}...): no reading: inconclusive", FindingText.Render(finding));
        Assert.Equal(query, finding.Query);
    }

    [Fact]
    public void Verdicts_and_signals_survive_the_cluster_serializer()
    {
        var serializer = new ServiceCollection().AddSerializer().BuildServiceProvider().GetRequiredService<Serializer>();
        var verdict = HealthPolicy.Judge(Many("c", 10, 1000, 31), Many("k", 20, 1000, 1), new Gates(), 10);
        var signal = HealthPolicy.Breach(S("n-1", 1000, 280), new Gates())!;

        var verdictBack = serializer.Deserialize<Verdict>(serializer.SerializeToArray(verdict))!;
        var signalBack = serializer.Deserialize<NodeSignal>(serializer.SerializeToArray(signal))!;

        Assert.Equal(verdict.Reasons, verdictBack.Reasons);
        Assert.Equal(verdict.Findings, verdictBack.Findings);
        Assert.Equal(signal with { }, signalBack);
        Assert.IsType<Finding.NodeBreach>(signalBack.Finding);
    }
}
