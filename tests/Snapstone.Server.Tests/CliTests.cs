using System.Text.Json.Nodes;
using Snapstone.Cli;
using Snapstone.Testing;

namespace Snapstone.Server.Tests;

/// <summary>
/// <c>snapstone</c> against the real server: units, plans, packages and their diff, incidents, drift, fleet, break-glass
/// and the audit chain, each in text and as <c>--output json</c>; connection settings from flags, environment and a
/// profile file; the errors and exit codes a CI job relies on. Rollouts that move are in <see cref="CliRolloutTests"/>.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class CliTests(ServerFixture fixture) : IDisposable
{
    private readonly DirectoryInfo _files = Directory.CreateTempSubdirectory("snapstone-cli-");

    private Task<CliRun> Run(string token, params string[] args) =>
        CliRun.Of(null, ["--server", fixture.Server.BaseAddress.ToString(), "--token", ServerProcess.Tokens[token].Token, .. args]);

    private string File(string name, string content)
    {
        var path = Path.Combine(_files.FullName, name);
        System.IO.File.WriteAllText(path, content);
        return path;
    }

    public void Dispose() => _files.Delete(recursive: true);

    [Fact]
    public async Task Unit_apply_get_and_list_speak_the_gateway_in_text_and_json()
    {
        var unit = TestStorage.Unique("unit");
        var definition = File("unit.json", $$"""
            // comments are allowed in a definition file
            { "name": "{{unit}}", "owner": "bot-management", "description": "feature file", "kind": "file",
              "plan": "standard", "validators": { "maxItems": { "path": "$.features", "max": 200 }, "format": "json" },
              "targets": { "labels": { "proxy": "fl2" } } }
            """);

        var applied = await Run("ci", "unit", "apply", "-f", definition, "--output", "json");
        Assert.True(applied.Code == 0, applied.ToString());
        Assert.Equal(unit, applied.Json().Str("name"));
        Assert.Equal(200, applied.Json()["validators"]!["maxItems"].Long("max"));

        var got = await Run("reader", "unit", "get", unit);
        Assert.True(got.Code == 0, got.ToString());
        Assert.Matches($@"(?m)^unit +{unit}$", got.Output);
        Assert.Contains("at most 200 items at $.features", got.Output);
        Assert.Contains("proxy=fl2", got.Output);

        var listed = await Run("reader", "-o", "json", "unit", "list");
        Assert.True(listed.Code == 0, listed.ToString());
        Assert.Contains(listed.Json().Items("units"), u => u.Str("name") == unit && u.Str("owner") == "bot-management");

        var table = await Run("reader", "unit", "list");
        Assert.Matches($@"│ {unit} +│ bot-management +│ file ", table.Output);
    }

    [Fact]
    public async Task An_unknown_unit_and_a_bad_flag_print_a_clear_error_and_exit_non_zero()
    {
        var missing = TestStorage.Unique("nosuch");
        var unknown = await Run("reader", "unit", "get", missing);
        Assert.Equal(ExitCodes.Refused, unknown.Code);
        Assert.Equal("", unknown.Output);
        Assert.Equal($"error: 404 Not Found: unit '{missing}' is not defined", unknown.Errors.Trim());

        var bad = await Run("ci", "rollout", "start", "some-unit", "1", "--reason", "x", "--bogus");
        Assert.Equal(ExitCodes.Usage, bad.Code);
        Assert.Equal("", bad.Output);
        Assert.Contains("Unrecognized command or argument '--bogus'.", bad.Errors);
        Assert.Contains("usage: snapstone rollout start <unit> <version> --reason <text> [options]", bad.Errors);

        var noReason = await Run("ci", "rollout", "start", "some-unit", "1");
        Assert.Equal(ExitCodes.Usage, noReason.Code);
        Assert.Contains("Option '--reason' is required.", noReason.Errors);

        var badVersion = await Run("ci", "rollout", "start", "some-unit", "seven", "--reason", "x");
        Assert.Equal(ExitCodes.Usage, badVersion.Code);
        Assert.Contains("version must be a whole number of 1 or more (got 'seven')", badVersion.Errors);

        var badTimeout = await Run("reader", "rollout", "watch", "r-1", "--timeout", "soon");
        Assert.Equal(ExitCodes.Usage, badTimeout.Code);
        Assert.Contains("--timeout must be a duration like 90s, 15m, 2h or 1h30m (got 'soon')", badTimeout.Errors);

        var badOutput = await Run("reader", "unit", "list", "--output", "yaml");
        Assert.Equal(ExitCodes.Usage, badOutput.Code);
        Assert.Contains("'yaml'", badOutput.Errors);

        var typo = await Run("reader", "rollout", "lsit");
        Assert.Equal(ExitCodes.Usage, typo.Code);
        Assert.Contains("Did you mean", typo.Errors);
        Assert.Contains("list", typo.Errors);

        var missingFile = await Run("ci", "unit", "apply", "-f", Path.Combine(_files.FullName, "absent.json"));
        Assert.Equal(ExitCodes.Usage, missingFile.Code);
        Assert.StartsWith($"error: cannot read unit file {Path.Combine(_files.FullName, "absent.json")}:", missingFile.Errors);
    }

    [Fact]
    public async Task A_refusal_prints_the_servers_problem_detail_with_its_status_and_title()
    {
        var forbidden = await Run("ci", "breakglass", "freeze", "--reason", "x");
        Assert.Equal(ExitCodes.Refused, forbidden.Code);
        Assert.StartsWith("error: 403 Forbidden:", forbidden.Errors);

        var blank = await Run("oncall", "breakglass", "rollback", "--unit", "anything", "--reason", " ");
        Assert.Equal(ExitCodes.Refused, blank.Code);
        Assert.Equal("error: 400 Bad Request: reason is required for every break-glass action", blank.Errors.Trim());

        var badUnit = await Run("ci", "unit", "apply", "-f", File("bad.json", """{ "name": "Not A Name", "owner": "x" }"""));
        Assert.Equal(ExitCodes.Refused, badUnit.Code);
        Assert.StartsWith("error: 400 Bad Request: unit ", badUnit.Errors);

        var strict = await Run("ci", "unit", "apply", "--name", TestStorage.Unique("unit"), "-f", File("typo.json", """{ "owner": "x", "validatorz": {} }"""));
        Assert.Equal(ExitCodes.Refused, strict.Code);
        Assert.Contains("validatorz", strict.Errors);

        var unauthorized = await CliRun.Of(null, "--server", fixture.Server.BaseAddress.ToString(), "--token", "not-a-token", "unit", "list");
        Assert.Equal(ExitCodes.Refused, unauthorized.Code);
        Assert.StartsWith("error: 401 ", unauthorized.Errors);
    }

    [Fact]
    public async Task Nothing_listening_is_an_error_that_names_the_server()
    {
        var port = Ports.Free();

        var run = await CliRun.Of(null, "--server", $"http://127.0.0.1:{port}", "--token", "t", "fleet");

        Assert.Equal(ExitCodes.Error, run.Code);
        Assert.StartsWith($"error: cannot reach Snapstone at http://127.0.0.1:{port}/:", run.Errors);
    }

    [Fact]
    public async Task Packages_are_pushed_validated_and_diffed_by_changed_lines()
    {
        var unit = TestStorage.Unique("unit");
        Assert.Equal(200, (await fixture.Server.Client("ci").Put($"/v1/units/{unit}", Http.FeatureUnit())).Status);

        var first = await Run("ci", "package", "push", unit, "--file", File("v1.json", """{"features": ["ua-entropy", "tls-ja4", "h2-window"]}"""),
            "--message", "first feature set", "--source", "https://ci.example/pipelines/1", "-o", "json");
        Assert.True(first.Code == 0, first.ToString());
        var v1 = first.Json();
        Assert.Equal(1, v1.Long("version"));
        Assert.True(v1["validation"].Bool("passed"));
        Assert.Equal("https://ci.example/pipelines/1", v1.Str("source"));

        var second = await Run("ci", "package", "push", unit, "-f", File("v2.json", """{"features": ["ua-entropy", "tls-ja5", "h2-window", "quic-id"]}"""), "-m", "ja5");
        Assert.True(second.Code == 0, second.ToString());
        Assert.Contains($"package {unit} v2 created", second.Output);

        var tooMany = File("big.json", Http.Features(201));
        var dry = await Run("ci", "package", "validate", unit, "--file", tooMany, "-o", "json");
        Assert.Equal(ExitCodes.CheckFailed, dry.Code);
        Assert.False(dry.Json()["validation"].Bool("passed"));
        Assert.Contains(dry.Json()["validation"].Items("findings"), f => f.Str("message")!.Contains("201"));
        var dryText = await Run("ci", "package", "validate", unit, "--file", tooMany);
        Assert.Equal(ExitCodes.CheckFailed, dryText.Code);
        Assert.Contains($"fails {unit}'s validation", dryText.Output);
        var passes = await Run("ci", "package", "validate", unit, "--file", File("ok.json", Http.Features(4)));
        Assert.Equal(0, passes.Code);
        Assert.Contains($"passes {unit}'s validation", passes.Output);

        var rejected = await Run("ci", "package", "push", unit, "--file", tooMany, "--message", "too many");
        Assert.Equal(ExitCodes.CheckFailed, rejected.Code);
        Assert.Contains($"package {unit} v3 rejected by validation", rejected.Output);

        var diff = await Run("reader", "package", "diff", unit, "1", "2");
        Assert.True(diff.Code == 0, diff.ToString());
        Assert.Contains($"--- {unit} v1", diff.Output);
        Assert.Contains($"+++ {unit} v2", diff.Output);
        Assert.Contains("-    \"tls-ja4\",", diff.Output);
        Assert.Contains("+    \"tls-ja5\",", diff.Output);
        Assert.Contains("+    \"quic-id\"", diff.Output);
        Assert.Contains("     \"ua-entropy\",", diff.Output);
        Assert.Contains("3 lines added, 2 removed (compared as indented JSON; --raw for the stored text)", diff.Output);

        var json = await Run("reader", "package", "diff", unit, "1", "latest", "-o", "json");
        Assert.True(json.Code == 0, json.ToString());
        var d = json.Json();
        Assert.Equal(3, d["to"].Long("version"));
        Assert.Equal(v1.Str("sha256"), d["from"].Str("sha256"));
        Assert.Equal("indented-json", d.Str("comparedAs"));

        var raw = await Run("reader", "package", "diff", unit, "1", "2", "--raw", "-o", "json");
        var rawDiff = raw.Json();
        Assert.Equal("text", rawDiff.Str("comparedAs"));
        Assert.Equal(1, rawDiff.Int("added"));
        Assert.Equal(1, rawDiff.Int("removed"));
        Assert.Equal([("removed", 1, """{"features": ["ua-entropy", "tls-ja4", "h2-window"]}"""), ("added", 1, """{"features": ["ua-entropy", "tls-ja5", "h2-window", "quic-id"]}""")],
            rawDiff.Items("changes").Select(c => (c.Str("type"), c.Int("line"), c.Str("text"))).ToArray());

        var same = await Run("reader", "package", "diff", unit, "2", "2");
        Assert.Equal($"{unit} v2 and v2 have the same content (as indented JSON)", same.Output.Trim());

        var noSuchVersion = await Run("reader", "package", "diff", unit, "1", "9");
        Assert.Equal(ExitCodes.Refused, noSuchVersion.Code);
        Assert.StartsWith("error: 404 Not Found:", noSuchVersion.Errors);
    }

    [Fact]
    public async Task Plans_apply_and_read_back_their_waves()
    {
        var plan = TestStorage.Unique("plan");
        var file = File("plan.json", """
            { "waves": [ { "name": "canary", "select": { "tier": "canary" }, "bakeSeconds": 30, "gates": { "maxErrorRate": 0.02 } },
                         { "name": "all", "select": { "percent": 100 }, "bakeSeconds": 60, "requiresApproval": true } ] }
            """);

        var applied = await Run("ci", "plan", "apply", "-f", file, "--name", plan, "-o", "json");
        Assert.True(applied.Code == 0, applied.ToString());
        Assert.Equal(["canary", "all"], applied.Json().Items("waves").Select(w => w.Str("name") ?? "").ToArray());

        var got = await Run("reader", "plan", "get", plan);
        Assert.True(got.Code == 0, got.ToString());
        Assert.Matches(@"│ 0 +│ canary +│ tier canary +│ 30s +│ maxErrorRate 0.02", got.Output);
        Assert.Matches(@"│ 1 +│ all +│ percent 100 +│ 60s +│ .*│ required ", got.Output);
    }

    [Fact]
    public async Task Break_glass_freezes_unfreezes_and_the_audit_chain_verifies_and_incidents_follow()
    {
        var unit = TestStorage.Unique("unit");
        await fixture.Server.Client("ci").Put($"/v1/units/{unit}", new { owner = "edge" });

        var frozen = await Run("oncall", "breakglass", "freeze", "--unit", unit, "--reason", "cli drill", "--ttl", "600");
        Assert.Equal(0, frozen.Code);
        Assert.StartsWith($"frozen: {unit} by oncall until ", frozen.Output);

        var refused = await Run("ci", "rollout", "start", unit, "1", "--reason", "during a freeze", "--wait");
        Assert.Equal(ExitCodes.Refused, refused.Code);
        Assert.StartsWith("error: 409 Conflict: ", refused.Errors);

        var lifted = await Run("oncall", "breakglass", "unfreeze", "--unit", unit, "-o", "json");
        Assert.Equal(0, lifted.Code);
        Assert.Equal(unit, lifted.Json()["lifted"].Str("unit"));
        var again = await Run("oncall", "breakglass", "unfreeze", "--unit", unit);
        Assert.Equal(ExitCodes.Refused, again.Code);
        Assert.Contains($"unit '{unit}' has no freeze of its own", again.Errors);

        var verified = await Run("reader", "audit", "verify");
        Assert.Equal(0, verified.Code);
        Assert.Matches(@"^audit chain verified: \d+ entries, every link holds", verified.Output);
        var verdict = (await Run("reader", "audit", "verify", "-o", "json")).Json();
        Assert.True(verdict.Bool("valid"));
        Assert.True(verdict.Long("entries") >= 2);

        // The freeze opened an incident: list it, read it, move it on.
        var incidents = await Run("reader", "incident", "list", "-o", "json");
        Assert.True(incidents.Code == 0, incidents.ToString());
        var incident = Assert.Single(incidents.Json().Items("incidents"), i => i.Strings("units").Contains(unit));
        var id = incident.Str("id")!;
        var shown = await Run("reader", "incident", "get", id);
        Assert.True(shown.Code == 0, shown.ToString());
        Assert.Contains($"incident {id}: ", shown.Output);
        var updated = await Run("oncall", "incident", "update", id, "--status", "monitoring", "--message", "watching the edge", "-o", "json");
        Assert.True(updated.Code == 0, updated.ToString());
        Assert.Equal("monitoring", updated.Json().Str("status"));
        Assert.Contains(updated.Json().Items("updates"), u => u.Str("message") == "watching the edge" && u.Str("by") == "oncall");
        var badStatus = await Run("oncall", "incident", "update", id, "--status", "fixed", "--message", "x");
        Assert.Equal(ExitCodes.Usage, badStatus.Code);
        Assert.Contains("'fixed'", badStatus.Errors);
    }

    [Fact]
    public async Task Drift_fleet_and_rollout_list_answer_json_that_parses()
    {
        var node = TestStorage.Unique("node");
        var (reported, _) = await fixture.Server.Client("agent").Post($"/v1/nodes/{node}/report", new
        {
            pop = "cli01", region = "eu-west", tier = "canary", labels = new { proxy = "fl2" }, applied = new { },
            metrics = new { requests = 10, errors = 0, p99LatencyMs = 5.0, crashes = 0 }, intervalSeconds = 1,
        });
        Assert.Equal(200, reported);

        var fleet = await Run("reader", "fleet", "-o", "json");
        Assert.True(fleet.Code == 0, fleet.ToString());
        Assert.Contains(fleet.Json().Items("pops"), p => p.Str("pop") == "cli01" && p.Int("nodes") >= 1);
        var fleetText = await Run("reader", "fleet");
        Assert.Matches(@"│ cli01 +│ eu-west +│ \d+ +│ canary \d+", fleetText.Output);

        var drift = await Run("reader", "drift", "-o", "json");
        Assert.True(drift.Code == 0, drift.ToString());
        Assert.IsType<JsonArray>(drift.Json()["drifted"]);
        var driftText = await Run("reader", "drift");
        Assert.Matches(@"^\d+ drifted, stale or out-of-band node-unit pairs? \(", driftText.Output);

        var rollouts = await Run("reader", "rollout", "list", "--unit", TestStorage.Unique("unit"), "-o", "json");
        Assert.True(rollouts.Code == 0, rollouts.ToString());
        Assert.Empty(Assert.IsType<JsonArray>(rollouts.Json()["rollouts"]));

        var noRollout = await Run("reader", "rollout", "get", "r-0000000000000000");
        Assert.Equal(ExitCodes.Refused, noRollout.Code);
        Assert.StartsWith("error: 404 Not Found:", noRollout.Errors);
    }

    [Fact]
    public async Task Server_and_token_come_from_flags_then_profile_then_environment_then_the_default_profile()
    {
        var server = fixture.Server.BaseAddress.ToString();
        var tokenFile = File("reader.token", ServerProcess.Tokens["reader"].Token + "\n");
        var config = File("config.json", $$"""
            { "defaultProfile": "nowhere",
              "profiles": {
                "test": { "url": "{{server}}", "tokenFile": "reader.token" },
                "nowhere": { "url": "http://127.0.0.1:9", "token": "wrong" } } }
            """);
        var environment = new Dictionary<string, string> { ["SNAPSTONE_CONFIG"] = config };

        // A named profile: its URL and its token file.
        var profiled = await CliRun.Of(environment, "--profile", "test", "unit", "list", "-o", "json");
        Assert.True(profiled.Code == 0, profiled.ToString());
        Assert.IsType<JsonArray>(profiled.Json()["units"]);

        // The environment beats the default profile (which points nowhere).
        var fromEnvironment = await CliRun.Of(new Dictionary<string, string>(environment)
        {
            ["SNAPSTONE_URL"] = server,
            ["SNAPSTONE_TOKEN"] = ServerProcess.Tokens["reader"].Token,
        }, "fleet", "-o", "json");
        Assert.True(fromEnvironment.Code == 0, fromEnvironment.ToString());

        // The default profile alone is used, and fails on its bad URL, naming it.
        var byDefault = await CliRun.Of(environment, "fleet");
        Assert.Equal(ExitCodes.Error, byDefault.Code);
        Assert.StartsWith("error: cannot reach Snapstone at http://127.0.0.1:9/", byDefault.Errors);

        // Flags beat everything: a wrong token flag wins over the profile's good one.
        var flagged = await CliRun.Of(environment, "--profile", "test", "--token", "wrong-token", "fleet");
        Assert.Equal(ExitCodes.Refused, flagged.Code);
        Assert.StartsWith("error: 401 ", flagged.Errors);

        var unknown = await CliRun.Of(environment, "--profile", "prod", "fleet");
        Assert.Equal(ExitCodes.Usage, unknown.Code);
        Assert.Contains($"--profile names profile 'prod', which {config} does not have (it has: nowhere, test)", unknown.Errors);

        // A broken profile file is named when it is needed, and never read when flags say everything.
        var broken = new Dictionary<string, string> { ["SNAPSTONE_CONFIG"] = File("broken.json", "{ \"profiles\": ") };
        var flagsOnly = await CliRun.Of(broken, "--server", server, "--token", ServerProcess.Tokens["reader"].Token, "fleet", "-o", "json");
        Assert.True(flagsOnly.Code == 0, flagsOnly.ToString());
        var needed = await CliRun.Of(broken, "fleet");
        Assert.Equal(ExitCodes.Usage, needed.Code);
        Assert.StartsWith($"error: cannot read profile file {broken["SNAPSTONE_CONFIG"]}: ", needed.Errors);

        var none = await CliRun.Of(new Dictionary<string, string> { ["SNAPSTONE_CONFIG"] = Path.Combine(_files.FullName, "absent.json") }, "fleet");
        Assert.Equal(ExitCodes.Usage, none.Code);
        Assert.StartsWith("error: a token is required: --token, SNAPSTONE_TOKEN, or a profile in ", none.Errors);
    }
}
