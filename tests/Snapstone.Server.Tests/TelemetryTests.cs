using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Snapstone.Grains.Telemetry;
using Snapstone.Simulator.Consumers;
using Snapstone.Testing;
using YamlDotNet.RepresentationModel;

namespace Snapstone.Server.Tests;

/// <summary>
/// <c>/metrics</c> scraped by a real Prometheus (Debian's, on a free loopback port, every second) while the server
/// runs rollouts for a simulated fleet: PromQL sees the rollouts the test made, their time to safe, the reports,
/// the fleet and break-glass; the dashboard's and the alert rules' expressions all evaluate against it.
/// </summary>
public sealed partial class TelemetryTests
{
    [Fact]
    public async Task Prometheus_scraping_metrics_sees_a_completed_and_a_rolled_back_rollout_with_its_time_to_safe()
    {
        await using var scenario = await RolloutScenario.StartAsync(FailureMode.FailClosed, nodes: 40,
            settings: new Dictionary<string, string> { ["Snapstone__Telemetry__GaugeSeconds"] = "1" });
        var unit = scenario.Unit;
        var metrics = new Uri(scenario.Server.BaseAddress, "/metrics");
        Assert.Equal(HttpStatusCode.Unauthorized, (await scenario.Server.Client(null).GetAsync(metrics)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await scenario.Server.Client("agent").GetAsync(metrics)).StatusCode);
        await using var prometheus = await PrometheusProcess.StartAsync([new ScrapeTarget("snapstone", metrics, ServerProcess.Tokens["reader"].Token)]);
        await prometheus.WaitForTargetsUpAsync(TimeSpan.FromSeconds(30));

        var good = await scenario.PublishAsync(Http.Features(151));
        var completed = await scenario.TickUntilState(await scenario.StartRolloutAsync(good), "completed", "paused", "rolled-back");
        Assert.Equal("completed", (string?)completed["state"]);
        var bad = await scenario.PublishAsync(Http.Features(201));
        var rolledBack = await scenario.TickUntilState(await scenario.StartRolloutAsync(bad), "rolled-back", "completed", "paused");
        Assert.Equal("rolled-back", (string?)rolledBack["state"]);
        var (refused, _) = await scenario.Server.Client("agent").Post("/v1/nodes/n-refused/report", new { pop = "ams01", intervalSeconds = -1 });
        Assert.Equal(400, refused);
        var oncall = scenario.Server.Client("oncall");
        Assert.Equal(200, (await oncall.Post("/v1/breakglass/freeze", new { unit, reason = "telemetry drill", ttlSeconds = 600 })).Status);
        Assert.Equal(200, (await oncall.Send(HttpMethod.Delete, $"/v1/breakglass/freeze?unit={unit}")).Status);

        // The scenario rolled the unit's first package out on its one-wave plan before these two: it is counted too.
        var u = $"unit=\"{unit}\"";
        await prometheus.UntilAsync($"sum(snapstone_rollouts_started_total{{{u}}})", One(3), "the first package's rollout and both rollouts started");
        await prometheus.UntilAsync($"sum(snapstone_rollouts_completed_total{{{u}}})", One(2), "the first package's and the good rollout completed");
        var rollbacks = await prometheus.UntilAsync($"sum by (reason) (snapstone_rollouts_rolled_back_total{{{u}}})", One(1), "the bad rollout rolled back");
        Assert.Contains(rollbacks[0].Label("reason"), new[] { "crash", "unhealthy" });

        // Time to safe: one observation, the one the rollout's own record gives (first crash signal, else the deciding verdict, to the last confirmation).
        await prometheus.UntilAsync($"sum(snapstone_time_to_safe_seconds_count{{{u}}})", One(1), "one time-to-safe observation");
        var expected = ExpectedTimeToSafe(rolledBack);
        var sum = (await prometheus.QueryAsync($"sum(snapstone_time_to_safe_seconds_sum{{{u}}})")).Single().Value;
        Assert.True(Math.Abs(sum - expected) < 0.002, $"time to safe {sum} s in Prometheus, {expected} s from the rollout:\n{rolledBack.ToJsonString()}");
        Assert.Equal(1, (await prometheus.QueryAsync($"sum(snapstone_time_to_safe_seconds_bucket{{{u},le=\"+Inf\"}})")).Single().Value);
        var p50 = (await prometheus.QueryAsync($"histogram_quantile(0.5, sum by (le) (snapstone_time_to_safe_seconds_bucket{{{u}}}))")).Single().Value;
        Assert.InRange(p50, 0, 600);

        var targeted = (int)rolledBack["rollback"]!["targeted"]!;
        await prometheus.UntilAsync($"sum(snapstone_rollback_nodes_total{{{u}}})", One(targeted), "the nodes told to roll back");
        await prometheus.UntilAsync($"sum(snapstone_wave_duration_seconds_count{{{u},outcome=\"passed\"}})", One(4), "the first package's one wave and the good rollout's three waves passed");
        await prometheus.UntilAsync($"sum(snapstone_wave_duration_seconds_count{{{u},outcome=\"failed\"}})", One(1), "the bad rollout's canary failed");
        await prometheus.UntilAsync($"sum(snapstone_verdicts_total{{{u},result=\"healthy\"}})", r => r.Count == 1 && r[0].Value >= 4, "a healthy verdict per passed wave");
        await prometheus.UntilAsync("sum(snapstone_reports_refused_total{reason=\"invalid\"})", One(1), "the refused report");
        await prometheus.UntilAsync("sum(snapstone_reports_ingested_total)", r => r.Count == 1 && r[0].Value >= 40, "the fleet's reports");
        await prometheus.UntilAsync("sum(snapstone_nodes_enrolled)", One(40), "every node enrolled, by PoP");
        await prometheus.UntilAsync("count(snapstone_nodes_enrolled)", One(4), "one series per PoP");
        await prometheus.UntilAsync("sum(snapstone_incidents_open)", r => r.Count == 1 && r[0].Value >= 1, "the rollback's incident open");
        await prometheus.UntilAsync("sum by (action) (snapstone_breakglass_actions_total)", r => r.Count == 2 && r.All(s => s.Value == 1), "a freeze and an unfreeze");
        await prometheus.UntilAsync("snapstone_silo_ready", One(1), "the silo ready");
        await prometheus.UntilAsync("sum(orleans_catalog_activations)", r => r.Count == 1 && r[0].Value > 40, "Orleans' own meter");

        // Every expression of the dashboard and of the alert rules is one this Prometheus evaluates, over these series.
        foreach (var (source, expression) in DashboardExpressions().Concat(RuleExpressions()))
        {
            var query = expression.Replace("$unit", ".*").Replace("$__rate_interval", "1m");
            try
            {
                await prometheus.QueryAsync(query);
            }
            catch (PrometheusQueryException e)
            {
                Assert.Fail($"{source}: {e.Message}");
            }
        }
        var names = (await prometheus.QueryAsync("group by (__name__) ({__name__=~\".+\"})")).Select(s => s.Label("__name__")).ToHashSet();
        var foreign = DashboardExpressions().Concat(RuleExpressions()).SelectMany(e => MetricNames(e.Expression)).Where(n => !n.StartsWith("snapstone_", StringComparison.Ordinal)).ToHashSet();
        var absent = foreign.Where(n => !names.Contains(n)).ToList();
        Assert.True(absent.Count == 0, "named by the dashboard or the rules, absent from Prometheus: " + string.Join(", ", absent));

        // The exposition names the instruments as ExportedNames predicts.
        var scraped = SampleNames(await scenario.Server.Client("reader").GetStringAsync(metrics)).Where(n => n.StartsWith("snapstone_", StringComparison.Ordinal)).ToList();
        Assert.True(scraped.Count > 15, string.Join(", ", scraped));
        var unexpected = scraped.Where(n => !ExportedNames.Contains(n)).ToList();
        Assert.True(unexpected.Count == 0, "scraped but not predicted: " + string.Join(", ", unexpected));
    }

    [Fact]
    public async Task Metrics_are_anonymous_only_when_configured()
    {
        await using var server = await ServerProcess.StartAsync(new Dictionary<string, string> { ["Snapstone__Telemetry__AnonymousScrape"] = "true" });
        using var response = await server.Client(null).GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Contains("snapstone_silo_ready", body);
        Assert.Contains("orleans_", body);
        Assert.Equal(HttpStatusCode.Unauthorized, (await server.Client(null).GetAsync("/v1/fleet")).StatusCode);
    }

    private static Func<IReadOnlyList<PromSample>, bool> One(double value) => r => r.Count == 1 && r[0].Value == value;

    /// <summary>From the rollout's record: the earliest node signal since the failed wave started, else the rollback's start, to its end.</summary>
    private static double ExpectedTimeToSafe(JsonNode rollout)
    {
        var rollback = rollout["rollback"]!;
        var started = DateTimeOffset.Parse((string)rollback["startedAt"]!);
        var completed = DateTimeOffset.Parse((string)rollback["completedAt"]!);
        var failed = rollout["waves"]!.AsArray().First(w => (string?)w!["state"] == "failed")!;
        var since = DateTimeOffset.Parse((string)failed["startedAt"]!);
        var first = rollout["timeline"]!.AsArray()
            .Where(e => (string?)e!["type"] == "node-signal")
            .Select(e => DateTimeOffset.Parse((string)e!["at"]!))
            .Where(at => at >= since && at < started)
            .DefaultIfEmpty(started).Min();
        return (completed - first).TotalSeconds;
    }
}

/// <summary>deploy/: the Prometheus configuration and rules pass promtool, and the dashboard and rules name only metrics Snapstone exports.</summary>
public sealed partial class TelemetryTests
{
    private static readonly string PrometheusDeploy = Path.Combine(Repository.Root, "deploy", "prometheus");
    private static readonly string Dashboard = Path.Combine(Repository.Root, "deploy", "grafana", "snapstone.json");

    private static string Promtool => Path.Combine(Path.GetDirectoryName(PrometheusProcess.Executable)!, "promtool");

    [Fact]
    public async Task Promtool_accepts_the_scrape_configuration_with_its_rules()
    {
        // The configuration reads the scrape token from a file beside it, as a deployment mounts it.
        var folder = Directory.CreateTempSubdirectory("snapstone-promtool-").FullName;
        try
        {
            foreach (var file in Directory.GetFiles(PrometheusDeploy))
            {
                File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
            }
            await File.WriteAllTextAsync(Path.Combine(folder, "snapstone-read-token"), "a-read-token-of-16+chars");
            var (code, output) = await RunPromtool(folder, "check", "config", "prometheus.yml");
            Assert.True(code == 0, output);
            Assert.Contains("SUCCESS: 1 rule files found", output);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task Promtool_accepts_the_rules_and_their_unit_tests_pass()
    {
        var (checkCode, checkOutput) = await RunPromtool(PrometheusDeploy, "check", "rules", "snapstone.rules.yml");
        Assert.True(checkCode == 0, checkOutput);
        var (testCode, testOutput) = await RunPromtool(PrometheusDeploy, "test", "rules", "snapstone.rules.test.yml");
        Assert.True(testCode == 0, testOutput);
        Assert.Contains("SUCCESS", testOutput);
    }

    [Fact]
    public void Every_snapstone_metric_the_dashboard_and_the_rules_name_is_one_the_meter_exports()
    {
        var expressions = DashboardExpressions().Concat(RuleExpressions()).ToList();
        Assert.True(expressions.Count > 30, $"found only {expressions.Count} expressions");
        var unknown = expressions
            .SelectMany(e => MetricNames(e.Expression).Where(n => n.StartsWith("snapstone_", StringComparison.Ordinal)).Select(n => $"{e.Source}: {n}"))
            .Where(n => !ExportedNames.Contains(n[(n.LastIndexOf(' ') + 1)..]))
            .ToList();
        Assert.True(unknown.Count == 0, "not exported: " + string.Join("; ", unknown) + "\nexported: " + string.Join(", ", ExportedNames.Order()));
        var shown = expressions.Where(e => e.Source.StartsWith("dashboard", StringComparison.Ordinal)).SelectMany(e => MetricNames(e.Expression)).ToHashSet();
        // And the dashboard shows every instrument of the meter (drift's scan-by-scan histograms and counters are for drift's own docs,
        // the PoPs' observation costs for the benchmark's tick-cost row and sizing).
        var mustShow = Instruments.Where(i => (!i.Name.StartsWith("snapstone.drift.", StringComparison.Ordinal) || i.Name is "snapstone.drift.nodes" or "snapstone.drift.unit_nodes")
                                              && !i.Name.StartsWith("snapstone.pop.", StringComparison.Ordinal));
        Assert.Empty(mustShow.Where(i => !PrometheusNames(i).Any(shown.Contains)).Select(i => i.Name));
    }

    [Theory]
    [InlineData("snapstone.rollouts.started", "snapstone_rollouts_started_total")]
    [InlineData("snapstone.time_to_safe", "snapstone_time_to_safe_seconds_bucket")]
    [InlineData("snapstone.wave.duration", "snapstone_wave_duration_seconds_count")]
    [InlineData("snapstone.nodes.enrolled", "snapstone_nodes_enrolled")]
    [InlineData("snapstone.nodes.enrolments", "snapstone_nodes_enrolments_total")]
    [InlineData("snapstone.nodes.reports.refused", "snapstone_nodes_reports_refused_total")]
    [InlineData("snapstone.drift.share", "snapstone_drift_share_sum")]
    public void An_instrument_is_exported_under_its_prometheus_name(string instrument, string name) =>
        Assert.Contains(name, PrometheusNames(Instruments.Single(i => i.Name == instrument)));

    /// <summary>The Snapstone meter's instruments, drift's included.</summary>
    private static readonly IReadOnlyList<Instrument> Instruments = ListInstruments();

    /// <summary>Every sample name the Prometheus exporter writes for the Snapstone meter.</summary>
    private static readonly HashSet<string> ExportedNames = [.. Instruments.SelectMany(PrometheusNames)];

    private static IReadOnlyList<Instrument> ListInstruments()
    {
        System.Runtime.CompilerServices.RuntimeHelpers.RunClassConstructor(typeof(SnapstoneMetrics).TypeHandle);
        System.Runtime.CompilerServices.RuntimeHelpers.RunClassConstructor(
            (Type.GetType("Snapstone.Grains.Drift.DriftMetrics, Snapstone.Grains") ?? throw new InvalidOperationException("no DriftMetrics")).TypeHandle);
        System.Runtime.CompilerServices.RuntimeHelpers.RunClassConstructor(
            (Type.GetType("Snapstone.Grains.Fleet.PopTelemetry, Snapstone.Grains") ?? throw new InvalidOperationException("no PopTelemetry")).TypeHandle);
        System.Runtime.CompilerServices.RuntimeHelpers.RunClassConstructor(
            (Type.GetType("Snapstone.Grains.Nodes.NodeTelemetry, Snapstone.Grains") ?? throw new InvalidOperationException("no NodeTelemetry")).TypeHandle);
        var found = new List<Instrument>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, _) =>
            {
                if (instrument.Meter.Name == SnapstoneMetrics.MeterName)
                {
                    lock (found) found.Add(instrument);
                }
            },
        };
        listener.Start();
        return found;
    }

    /// <summary>The exporter's names: dots to underscores, seconds as <c>_seconds</c>, counters <c>_total</c>, histograms their three series.</summary>
    private static IEnumerable<string> PrometheusNames(Instrument instrument)
    {
        var name = instrument.Name.Replace('.', '_') + (instrument.Unit == "s" ? "_seconds" : "");
        var type = instrument.GetType().GetGenericTypeDefinition();
        return type == typeof(Counter<>) || type == typeof(ObservableCounter<>) ? [name + "_total"]
            : type == typeof(Histogram<>) ? [name + "_bucket", name + "_sum", name + "_count"]
            : [name];
    }

    private static IEnumerable<(string Source, string Expression)> DashboardExpressions()
    {
        var dashboard = JsonNode.Parse(File.ReadAllText(Dashboard))!;
        foreach (var panel in dashboard["panels"]!.AsArray())
        {
            foreach (var target in panel!["targets"]?.AsArray() ?? [])
            {
                yield return ($"dashboard panel '{panel["title"]}'", (string)target!["expr"]!);
            }
        }
        foreach (var variable in dashboard["templating"]!["list"]!.AsArray().Where(v => (string?)v!["type"] == "query"))
        {
            var query = (string)variable!["query"]!["query"]!;
            var inner = Regex.Match(query, @"^label_values\((?<metric>[a-z_:]+),").Groups["metric"].Value;
            yield return ($"dashboard variable '{variable["name"]}'", inner);
        }
        foreach (var annotation in dashboard["annotations"]!["list"]!.AsArray())
        {
            yield return ($"dashboard annotation '{annotation!["name"]}'", (string)annotation["expr"]!);
        }
    }

    private static IEnumerable<(string Source, string Expression)> RuleExpressions()
    {
        var yaml = new YamlStream();
        yaml.Load(new StringReader(File.ReadAllText(Path.Combine(PrometheusDeploy, "snapstone.rules.yml"))));
        foreach (YamlMappingNode group in (YamlSequenceNode)((YamlMappingNode)yaml.Documents[0].RootNode)["groups"])
        {
            foreach (YamlMappingNode rule in (YamlSequenceNode)group["rules"])
            {
                var name = rule.Children.TryGetValue("alert", out var alert) ? alert.ToString() : rule["record"].ToString();
                yield return ($"rule {name}", rule["expr"].ToString());
            }
        }
    }

    /// <summary>Metric names in a PromQL expression: identifiers not followed by '(', outside braces and strings, not keywords or label names after by/on.</summary>
    internal static IEnumerable<string> MetricNames(string promql)
    {
        var withoutStrings = Regex.Replace(promql, "\"[^\"]*\"", "\"\"");
        var withoutMatchers = Regex.Replace(withoutStrings, @"\{[^}]*\}", "{}");
        var withoutGroupings = Regex.Replace(withoutMatchers, @"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "");
        var withoutRanges = Regex.Replace(withoutGroupings, @"\[[^\]]*\]", "");
        foreach (Match m in Regex.Matches(withoutRanges, @"(?<![\w:$.])([a-zA-Z_][a-zA-Z0-9_:]*)\b(?!\s*\()"))
        {
            var name = m.Groups[1].Value;
            if (!Keywords.Contains(name) && !Regex.IsMatch(name, @"^\d"))
            {
                yield return name;
            }
        }
    }

    private static readonly HashSet<string> Keywords = ["and", "or", "unless", "offset", "bool", "inf", "nan", "Inf", "NaN", "m", "s", "h"];

    private static IEnumerable<string> SampleNames(string exposition) =>
        exposition.Split('\n').Where(l => l.Length > 0 && l[0] != '#').Select(l => l.Split('{', ' ')[0]).Distinct();

    private static async Task<(int Code, string Output)> RunPromtool(string directory, params string[] arguments)
    {
        if (!File.Exists(Promtool))
        {
            throw new FileNotFoundException($"no promtool at {Promtool}: install Debian's prometheus (apt-get install prometheus; .ci/run does)");
        }
        var start = new ProcessStartInfo(Promtool) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(limit.Token);
        return (process.ExitCode, $"promtool {string.Join(' ', arguments)}:\n{await stdout}{await stderr}");
    }
}
