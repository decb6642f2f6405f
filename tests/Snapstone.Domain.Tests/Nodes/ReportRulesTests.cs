using Snapstone.Domain.Health;
using Snapstone.Domain.Nodes;

namespace Snapstone.Domain.Tests.Nodes;

public class ReportRulesTests
{
    private const string Rule = "^[a-z0-9][a-z0-9._-]{0,99}$";
    private const string Hint = " (lower-case letters, digits, '.', '_', '-'; at most 100 characters)";
    private static readonly string Sha = new('a', 64);

    private static readonly NodeReport Valid = new()
    {
        Node = "n-1",
        Pop = "ams01",
        Region = "eu-west",
        Tier = "canary",
        Labels = new Dictionary<string, string> { ["proxy"] = "fl2" },
        Applied = new Dictionary<string, AppliedPackage> { ["bot-features"] = new() { Version = 7, Sha256 = Sha } },
        Metrics = new NodeMetrics { Requests = 1200, Errors = 3, P99LatencyMs = 41.5, Crashes = 0 },
        IntervalSeconds = 1,
    };

    private static NodeReport Metrics(long requests = 1200, long errors = 3, double p99 = 41.5, int crashes = 0) =>
        Valid with { Metrics = new NodeMetrics { Requests = requests, Errors = errors, P99LatencyMs = p99, Crashes = crashes } };

    private static NodeReport Applied(AppliedPackage? package, string unit = "bot-features") =>
        Valid with { Applied = new Dictionary<string, AppliedPackage> { [unit] = package! } };

    public static TheoryData<string, NodeReport, string?> Cases => new()
    {
        { "the valid report", Valid, null },
        { "region, tier, labels, applied and metrics are optional", new NodeReport { Node = "n-1", Pop = "ams01" }, null },
        { "a rejected package with its error", Applied(new() { Version = 8, Status = ApplyStatus.Rejected, Error = new string('e', 1024) }), null },
        { "the most labels, at the most bytes", Valid with { Labels = Enumerable.Range(0, 8).ToDictionary(i => $"k{i}", _ => new string('v', 14)) }, null },
        { "a region and a tier of 32 characters", Valid with { Region = new string('r', 32), Tier = new string('t', 32) }, null },
        { "zero traffic", Metrics(0, 0, 0), null },
        { "missing node", Valid with { Node = null }, "node is required and must match " + Rule },
        { "bad node", Valid with { Node = "N1" }, "node 'N1' must match " + Rule + Hint },
        { "missing pop", Valid with { Pop = null }, "pop is required and must match " + Rule },
        { "bad region", Valid with { Region = "EU" }, "region 'EU' must match " + Rule + Hint },
        { "bad tier", Valid with { Tier = "Canary" }, "tier 'Canary' must match " + Rule + Hint },
        { "bad label key", Valid with { Labels = new Dictionary<string, string> { ["Proxy"] = "fl2" } }, "labels key 'Proxy' must match " + Rule + Hint },
        { "9 labels", Valid with { Labels = Enumerable.Range(0, 9).ToDictionary(i => $"k{i}", _ => "v") }, "labels may hold at most 8 labels (got 9)" },
        { "an empty label value", Valid with { Labels = new Dictionary<string, string> { ["proxy"] = "" } }, "labels.proxy must be 1 to 64 bytes of UTF-8 (got 0)" },
        { "a label value of 65 bytes", Valid with { Labels = new Dictionary<string, string> { ["proxy"] = new string('v', 65) } }, "labels.proxy must be 1 to 64 bytes of UTF-8 (got 65)" },
        { "a label value of 22 characters, 66 bytes", Valid with { Labels = new Dictionary<string, string> { ["proxy"] = new string('€', 22) } }, "labels.proxy must be 1 to 64 bytes of UTF-8 (got 66)" },
        { "labels over 128 bytes together", Valid with { Labels = Enumerable.Range(0, 8).ToDictionary(i => $"k{i}", _ => new string('v', 15)) }, "labels must total at most 128 bytes of UTF-8, keys and values together (got 136)" },
        { "a region of 33 characters", Valid with { Region = new string('r', 33) }, "region 'rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr' must be at most 32 characters (got 33)" },
        { "a tier of 33 characters", Valid with { Tier = new string('t', 33) }, "tier 'ttttttttttttttttttttttttttttttttt' must be at most 32 characters (got 33)" },
        { "interval 0", Valid with { IntervalSeconds = 0 }, "intervalSeconds must be greater than 0 and at most 3600 (got 0)" },
        { "interval NaN", Valid with { IntervalSeconds = double.NaN }, "intervalSeconds must be greater than 0 and at most 3600 (got NaN)" },
        { "interval over an hour", Valid with { IntervalSeconds = 3601 }, "intervalSeconds must be greater than 0 and at most 3600 (got 3601)" },
        { "negative requests", Metrics(requests: -1, errors: 0), "metrics.requests must be 0 or more (got -1)" },
        { "negative errors", Metrics(errors: -1), "metrics.errors must be 0 or more (got -1)" },
        { "more errors than requests", Metrics(requests: 3, errors: 5), "metrics.errors (5) must not exceed metrics.requests (3)" },
        { "NaN latency", Metrics(p99: double.NaN), "metrics.p99LatencyMs must be a finite number of 0 or more (got NaN)" },
        { "infinite latency", Metrics(p99: double.PositiveInfinity), "metrics.p99LatencyMs must be a finite number of 0 or more (got Infinity)" },
        { "negative latency", Metrics(p99: -0.5), "metrics.p99LatencyMs must be a finite number of 0 or more (got -0.5)" },
        { "negative crashes", Metrics(crashes: -1), "metrics.crashes must be 0 or more (got -1)" },
        { "257 units", Valid with { Applied = Enumerable.Range(0, 257).ToDictionary(i => $"u{i}", _ => new AppliedPackage { Version = 1 }) }, "applied may list at most 256 units (got 257)" },
        { "bad unit name", Applied(new() { Version = 7 }, unit: "Bot"), "applied unit 'Bot' must match " + Rule + Hint },
        { "missing package", Applied(null), "applied.bot-features must be an object" },
        { "version 0", Applied(new() { Version = 0 }), "applied.bot-features.version must be 1 or more (got 0)" },
        { "upper-case sha", Applied(new() { Version = 7, Sha256 = new string('A', 64) }), "applied.bot-features.sha256 must be 64 lower-case hex characters" },
        { "short sha", Applied(new() { Version = 7, Sha256 = new string('a', 63) }), "applied.bot-features.sha256 must be 64 lower-case hex characters" },
        { "non-hex sha", Applied(new() { Version = 7, Sha256 = new string('g', 64) }), "applied.bot-features.sha256 must be 64 lower-case hex characters" },
        { "error of 1025 bytes", Applied(new() { Version = 7, Error = new string('e', 1025) }), "applied.bot-features.error must be at most 1024 bytes of UTF-8 (got 1025)" },
        { "error of 342 characters, 1026 bytes", Applied(new() { Version = 7, Error = new string('€', 342) }), "applied.bot-features.error must be at most 1024 bytes of UTF-8 (got 1026)" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void A_report_is_refused_with_its_first_problem(string because, NodeReport report, string? expected)
    {
        Assert.True(expected == ReportRules.Check(report), $"{because}: got {ReportRules.Check(report) ?? "null"}");
    }

    /// <summary>The traffic ceiling is a rate: the claim may grow with the interval, never past it.</summary>
    public static TheoryData<string, NodeReport, double, string?> Ceilings => new()
    {
        { "the default ceiling, exactly", Metrics(requests: 10_000_000, errors: 0), TrafficCeiling.DefaultMaxRequestsPerSecond, null },
        { "one past the default ceiling", Metrics(requests: 10_000_001, errors: 0), TrafficCeiling.DefaultMaxRequestsPerSecond,
            "metrics.requests must be at most 10000000 for intervalSeconds 1 (10000000 a second; got 10000001)" },
        { "the liar of nine quadrillion", Metrics(requests: 9_000_000_000_000_000, errors: 0), TrafficCeiling.DefaultMaxRequestsPerSecond,
            "metrics.requests must be at most 10000000 for intervalSeconds 1 (10000000 a second; got 9000000000000000)" },
        { "a configured ceiling over a 5 s interval, exactly", Metrics(requests: 5000, errors: 0) with { IntervalSeconds = 5 }, 1000, null },
        { "a configured ceiling over a 5 s interval, one past", Metrics(requests: 5001, errors: 0) with { IntervalSeconds = 5 }, 1000,
            "metrics.requests must be at most 5000 for intervalSeconds 5 (1000 a second; got 5001)" },
        { "a 250 ms interval rounds its allowance up", Metrics(requests: 251, errors: 0) with { IntervalSeconds = 0.25 }, 1001, null },
        { "a 250 ms interval, one past", Metrics(requests: 252, errors: 0) with { IntervalSeconds = 0.25 }, 1001,
            "metrics.requests must be at most 251 for intervalSeconds 0.25 (1001 a second; got 252)" },
        { "the errors rule is named first when both break", Metrics(requests: 5, errors: 6), 1,
            "metrics.errors (6) must not exceed metrics.requests (5)" },
        { "a report with no metrics claims no traffic", Valid with { Metrics = null }, 1, null },
    };

    [Theory]
    [MemberData(nameof(Ceilings))]
    public void A_report_claiming_more_traffic_than_the_ceiling_is_refused(string because, NodeReport report, double maxRequestsPerSecond, string? expected)
    {
        var got = ReportRules.Check(report, maxRequestsPerSecond);
        Assert.True(expected == got, $"{because}: got {got ?? "null"}");
    }

    [Theory]
    [InlineData("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", true)]
    [InlineData("0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", false)]
    [InlineData("", false)]
    public void Sha256_is_64_lower_case_hex(string value, bool expected)
    {
        Assert.Equal(expected, ReportRules.IsSha256(value));
    }

    [Fact]
    public void Identity_fills_the_defaults()
    {
        var identity = new NodeReport { Node = "n-1", Pop = "ams01" }.Identity;
        Assert.Equal(("ams01", "default", "standard", 0), (identity.Pop, identity.Region, identity.Tier, identity.Labels.Count));
    }
}
