using System.Diagnostics;
using System.Text.Json.Nodes;
using Snapstone.Testing;

namespace Snapstone.Server.Tests;

/// <summary>A server that scans for drift every 2 s and pauses a wave still applying after 6 s.</summary>
public sealed class DriftServerFixture : IAsyncLifetime
{
    public const int ScanSeconds = 2;
    public const int GraceSeconds = 2; // two 1-s report intervals, the default
    public const int ApplyDeadlineSeconds = 6;

    public ServerProcess Server { get; private set; } = null!;

    public async Task InitializeAsync() =>
        Server = await ServerProcess.StartAsync(new Dictionary<string, string>
        {
            ["Snapstone__Drift__ScanSeconds"] = ScanSeconds.ToString(),
            ["Snapstone__Rollouts__ApplyDeadlineSeconds"] = ApplyDeadlineSeconds.ToString(),
            ["Snapstone__Rollouts__TickMilliseconds"] = "500",
        });

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>Drift end to end: nodes report over HTTP, <c>GET /v1/drift</c> lists them, a stuck wave names them.</summary>
public sealed class DriftTests(DriftServerFixture fixture) : IClassFixture<DriftServerFixture>
{
    private readonly HttpClient _ci = fixture.Server.Client("ci");
    private readonly HttpClient _reader = fixture.Server.Client("reader");
    private readonly DriftDrill _drill = new(fixture.Server);

    private Task<(string Unit, string Sha1, string Sha2)> UnitWithTwoPackages(string plan = "standard") => _drill.UnitWithTwoPackages(plan);

    private Task<JsonNode> Report(string node, string pop, string unit, long version, string sha, string tier = "edge") =>
        _drill.Report(node, pop, unit, version, sha, tier);

    private async Task<(JsonNode Body, List<JsonNode> Mine)> Drift(string unit)
    {
        var (status, body) = await _reader.Get("/v1/drift");
        Assert.True(status == 200, body.ToJsonString());
        return (body, [.. body["drifted"]!.AsArray().Where(e => (string?)e!["unit"] == unit).Select(e => e!)]);
    }

    [Fact]
    public async Task A_node_on_another_hash_than_its_desired_one_is_listed_within_a_scan_and_the_grace_and_leaves_once_it_converges()
    {
        var (unit, sha1, sha2) = await UnitWithTwoPackages();
        var pop = TestStorage.Unique("pop");
        var (behind, tampered, fine) = ($"{pop}-n1", $"{pop}-n2", $"{pop}-n3");
        var foreign = new string('f', 64);
        var (_, before) = await Drift(unit);
        Assert.Empty(before);

        // Each node reports once a second, as agents do; two of them do not run what they are told (v1).
        var clock = Stopwatch.StartNew();
        var firstReport = DateTimeOffset.UtcNow;
        async Task ReportRound(bool converged)
        {
            var desired = await Report(behind, pop, unit, converged ? 1 : 2, converged ? sha1 : sha2);
            Assert.Equal(1, (long?)desired["desired"]![unit]!["version"]);
            await Report(tampered, pop, unit, 1, converged ? sha1 : foreign);
            await Report(fine, pop, unit, 1, sha1);
        }
        List<JsonNode> listed = [];
        JsonNode answer = null!;
        var drifting = new Agents(() => ReportRound(converged: false));
        await Eventually.Until(async () =>
        {
            await drifting.Tick();
            (answer, listed) = await Drift(unit);
            return listed.Count == 2;
        }, "both drifted nodes to be listed", TimeSpan.FromSeconds(30));
        var appeared = clock.Elapsed;

        var limit = TimeSpan.FromSeconds(DriftServerFixture.ScanSeconds + DriftServerFixture.GraceSeconds + 2); // 2 s for a busy test machine
        Assert.True(appeared <= limit, $"listed after {appeared}, more than a scan interval plus the grace ({limit} with slack)");
        Assert.NotNull((string?)answer["scannedAt"]);
        var drifted = listed.Single(e => (string?)e["node"] == behind);
        Assert.Equal(("drifted", 1L, 2L, pop), ((string?)drifted["kind"], (long?)drifted["desiredVersion"], (long?)drifted["appliedVersion"], (string?)drifted["pop"]));
        Assert.InRange((int)drifted["attempts"]!, 0, 4);
        Assert.False((bool?)drifted["excluded"]);
        var since = DateTimeOffset.Parse((string)drifted["since"]!);
        Assert.InRange(since, firstReport.AddSeconds(-1), firstReport.AddSeconds(2));
        var outOfBand = listed.Single(e => (string?)e["node"] == tampered);
        Assert.Equal(("out-of-band", 1L, 1L, foreign), ((string?)outOfBand["kind"], (long?)outOfBand["desiredVersion"], (long?)outOfBand["appliedVersion"], (string?)outOfBand["appliedSha256"]));
        Assert.DoesNotContain(listed, e => (string?)e["node"] == fine);

        clock.Restart();
        var converging = new Agents(() => ReportRound(converged: true));
        await Eventually.Until(async () =>
        {
            await converging.Tick();
            (_, listed) = await Drift(unit);
            return listed.Count == 0;
        }, "the converged nodes to leave the drift list", TimeSpan.FromSeconds(30));
        Assert.True(clock.Elapsed <= TimeSpan.FromSeconds(DriftServerFixture.ScanSeconds + 2), $"still listed {clock.Elapsed} after converging");
    }

    [Fact]
    public async Task A_wave_with_a_node_that_never_converges_pauses_with_a_reason_naming_the_node()
    {
        var (planned, _) = await _ci.Put("/v1/plans/canary-then-all", new
        {
            waves = new object[]
            {
                new { name = "canary", select = new { tier = "canary" }, bakeSeconds = 1, gates = new { minReportingFraction = 1.0 } },
                new { name = "all", select = new { percent = 100 }, bakeSeconds = 1 },
            },
        });
        Assert.Equal(200, planned);
        var (unit, sha1, _) = await UnitWithTwoPackages("canary-then-all");
        var pop = TestStorage.Unique("pop");
        var (follower, stuck) = ($"{pop}-c1", $"{pop}-c2");
        var running = new Dictionary<string, (long Version, string Sha)> { [follower] = (1, sha1), [stuck] = (1, sha1) };
        async Task ReportRound()
        {
            var desired = await Report(follower, pop, unit, running[follower].Version, running[follower].Sha, "canary");
            running[follower] = ((long)desired["desired"]![unit]!["version"]!, (string)desired["desired"]![unit]!["sha256"]!);
            await Report(stuck, pop, unit, 1, sha1, "canary"); // never applies what it is told
        }
        await ReportRound();

        var (started, rollout) = await _ci.Post("/v1/rollouts", new { unit, version = 2, reason = "drift drill" });
        Assert.True(started == 201, rollout.ToJsonString());
        var id = (string)rollout["id"]!;
        JsonNode current = rollout;
        var agents = new Agents(ReportRound);
        await Eventually.Until(async () =>
        {
            await agents.Tick();
            current = (await _ci.Get($"/v1/rollouts/{id}")).Body;
            return (string?)current["state"] != "running";
        }, $"rollout {id} to stop running", TimeSpan.FromSeconds(60));

        Assert.True((string?)current["state"] == "paused", current.ToJsonString());
        var wave = current["waves"]![0]!;
        Assert.Equal(("applying", 2, 1), ((string?)wave["state"], (int?)wave["targeted"], (int?)wave["applied"]));
        var reason = (string)current["pausedReason"]!;
        Assert.StartsWith("wave 'canary' stuck applying: 1 of 2 node(s) have not converged", reason);
        Assert.EndsWith($"; not converged: {stuck}", reason);
        Assert.Equal(0, (int?)current["currentWave"]);
        Assert.Equal(2, running[follower].Version);

        var (aborted, _) = await _ci.Post($"/v1/rollouts/{id}/abort", new { reason = "drill over" });
        Assert.Equal(200, aborted);
    }
}
