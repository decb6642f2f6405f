using System.Text.Json.Nodes;
using Snapstone.Cli;
using Snapstone.Simulator;
using Snapstone.Simulator.Consumers;
using Snapstone.Simulator.Shape;
using Snapstone.Testing;

namespace Snapstone.Server.Tests;

/// <summary>
/// A server and a simulated fleet driven only through <c>snapstone</c>: the unit, its plan and its packages are
/// defined with the CLI, and every package reaches the fleet through a rollout the CLI starts, so nothing rests
/// on how a unit's first package is treated. The fleet reports while the CLI waits, as real agents would.
/// </summary>
public sealed class CliRolloutTests : IAsyncLifetime
{
    private const string Unit = "bot-features";
    private const int Nodes = 40;
    private readonly DirectoryInfo _files = Directory.CreateTempSubdirectory("snapstone-cli-");
    private ServerProcess _server = null!;
    private Fleet _fleet = null!;

    public async Task InitializeAsync()
    {
        _server = await ServerProcess.StartAsync();
        _fleet = new Fleet(new FleetOptions
        {
            Shape = new FleetShape { Nodes = Nodes, Pops = 4, Regions = ["eu-west", "us-east"], CanaryShare = 0.1, LowTrafficPopShare = 0, FlakyNodeShare = 0, Seed = 11 },
            Consumers = new Dictionary<string, IConsumer> { [Unit] = new FeatureFileConsumer(FailureMode.FailClosed) },
            Token = ServerProcess.Tokens["agent"].Token,
        }, _server.Client(null), TimeProvider.System);
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _files.Delete(recursive: true);
    }

    private Task<CliRun> Run(string token, params string[] args) =>
        CliRun.Of(null, ["--server", _server.BaseAddress.ToString(), "--token", ServerProcess.Tokens[token].Token, .. args]);

    /// <summary>Runs the CLI while the fleet reports, tick after tick, until the CLI exits.</summary>
    private async Task<CliRun> RunWhileFleetReports(string token, params string[] args)
    {
        var run = Run(token, args);
        await Eventually.Until(async () =>
        {
            await _fleet.TickAsync();
            return run.IsCompleted;
        }, $"snapstone {string.Join(' ', args)} to exit while the fleet reports", TimeSpan.FromSeconds(120));
        return await run;
    }

    private string File(string name, string content)
    {
        var path = Path.Combine(_files.FullName, name);
        System.IO.File.WriteAllText(path, content);
        return path;
    }

    /// <summary>Defines the plan and the unit with the CLI, and lets every node of the fleet register.</summary>
    private async Task DefineAsync()
    {
        var plan = await Run("ci", "plan", "apply", "--name", "fast", "-f", File("plan.json", """
            { "waves": [
                { "name": "canary", "select": { "tier": "canary" }, "bakeSeconds": 2, "gates": { "minReportingFraction": 1.0 } },
                { "name": "quarter", "select": { "percent": 25 }, "bakeSeconds": 2 },
                { "name": "all", "select": { "percent": 100 }, "bakeSeconds": 2 } ] }
            """));
        Assert.True(plan.Code == 0, plan.ToString());
        var unit = await Run("ci", "unit", "apply", "-f", File("unit.json", $$"""
            { "name": "{{Unit}}", "owner": "bot-management", "kind": "file", "riskTier": "standard", "failureMode": "fail-closed", "plan": "fast" }
            """));
        Assert.True(unit.Code == 0, unit.ToString());
        await Eventually.Until(async () =>
        {
            await _fleet.TickAsync();
            return (await _server.Client("reader").Get("/v1/fleet")).Body.Int("nodes") == Nodes;
        }, $"all {Nodes} nodes to register");
    }

    private async Task<long> PushAsync(int features, int expectCode = 0)
    {
        var pushed = await Run("ci", "package", "push", Unit, "--file", File($"features-{features}.json", Http.Features(features)), "--message", $"{features} features", "-o", "json");
        Assert.True(pushed.Code == expectCode, pushed.ToString());
        return pushed.Json().Long("version")!.Value;
    }

    [Fact]
    public async Task Start_wait_exits_0_when_a_good_package_completes_and_10_when_a_bad_one_is_rolled_back()
    {
        await DefineAsync();
        await PushAsync(150);
        var good = await PushAsync(160);

        var completed = await RunWhileFleetReports("ci", "rollout", "start", Unit, $"{good}", "--reason", "weekly refresh", "--wait", "--timeout", "100s", "-o", "json");

        Assert.True(completed.Code == ExitCodes.Ok, completed.ToString());
        var done = completed.Json();
        Assert.Equal("completed", done.Str("state"));
        Assert.All(done.Items("waves"), w => Assert.Equal("passed", w.Str("state")));
        Assert.Equal(Nodes, done.Items("waves").Last().Int("targeted"));
        // With --output json the progress went to standard error, wave by wave.
        Assert.Contains($"rollout {done.Str("id")} started: {Unit} v{good} on plan fast", completed.Errors);
        Assert.Contains("verdict canary: healthy", completed.Errors);
        Assert.Contains("wave 3/3 all: passed, 40 targeted, 40 applied", completed.Errors);
        var unit = (await Run("reader", "unit", "get", Unit, "-o", "json")).Json();
        Assert.Equal(good, unit.Long("lkgVersion"));

        var bad = await PushAsync(201);
        var rolledBack = await RunWhileFleetReports("ci", "rollout", "start", Unit, $"{bad}", "--reason", "generator bug", "--wait", "--timeout", "100s");

        Assert.True(rolledBack.Code == ExitCodes.RolledBack, rolledBack.ToString());
        Assert.Equal("", rolledBack.Errors);
        Assert.Contains("node-signal", rolledBack.Output);
        var canaries = _fleet.Nodes.Count(n => n.Profile.IsCanary);
        Assert.Matches($@"rolled back: .+; {canaries} of {canaries} nodes confirmed back on v{good}", rolledBack.Output);
        Assert.Contains("wave 1/3 canary: failed", rolledBack.Output);
        Assert.DoesNotContain("wave 2/3 quarter: applying", rolledBack.Output);
        Assert.DoesNotContain(_fleet.NodesEverApplied(Unit, bad), n => !_fleet.Node(n).Profile.IsCanary);

        var refused = await Run("ci", "rollout", "start", Unit, $"{bad}", "--reason", "retry", "--wait");
        Assert.Equal(ExitCodes.Refused, refused.Code);
        Assert.Equal($"error: 409 Conflict: version {bad} of '{Unit}' is quarantined after a rollback; only break-glass may deploy it", refused.Errors.Trim());

        var listed = await Run("reader", "rollout", "list", "--unit", Unit, "-o", "json");
        Assert.Equal(["rolled-back", "completed"], listed.Json().Items("rollouts").Select(r => r.Str("state") ?? "").ToArray());
        var shown = await Run("reader", "rollout", "get", listed.Json().Items("rollouts").First().Str("id")!, "-o", "json");
        Assert.Equal(bad, shown.Json().Long("version"));
        Assert.Equal(canaries, shown.Json()["rollback"].Int("confirmed"));

        // A plan whose canary wave waits for a second person: the deployer cannot approve, a reviewer can.
        var gated = await Run("ci", "plan", "apply", "--name", "gated", "-f", File("gated.json", """
            { "waves": [ { "name": "canary", "select": { "tier": "canary" }, "bakeSeconds": 2, "requiresApproval": true },
                         { "name": "all", "select": { "percent": 100 }, "bakeSeconds": 2 } ] }
            """));
        Assert.True(gated.Code == 0, gated.ToString());
        var next = await PushAsync(170);
        var inFlight = await Run("ci", "rollout", "start", Unit, $"{next}", "--reason", "next refresh", "--plan", "gated", "-o", "json");
        Assert.True(inFlight.Code == 0, inFlight.ToString());
        var flightId = inFlight.Json().Str("id")!;
        await Eventually.Until(async () => (await Run("reader", "rollout", "get", flightId, "-o", "json")).Json().Str("state"),
            state => state == "awaiting-approval", "the gated rollout to wait for approval");
        var selfApproval = await Run("ci", "rollout", "approve", flightId, "--reason", "looks fine to me");
        Assert.Equal(ExitCodes.Refused, selfApproval.Code);
        Assert.StartsWith("error: 403 Forbidden", selfApproval.Errors);
        var approved = await Run("reviewer", "rollout", "approve", flightId, "--reason", "reviewed the diff", "-o", "json");
        Assert.True(approved.Code == 0, approved.ToString());
        Assert.Equal("reviewer", approved.Json().Items("waves").First().Str("approvedBy"));

        // Break-glass from the CLI: the rollout in flight is cut short and every node confirmed back on the LKG.
        var instant = await RunWhileFleetReports("oncall", "breakglass", "rollback", "--unit", Unit, "--reason", "edge errors", "--wait", "--timeout", "60s");
        Assert.True(instant.Code == ExitCodes.Ok, instant.ToString());
        Assert.Matches($@"^rollback bg-[0-9a-f]+: \d+ node\(s\) of {Unit} sent back to v{good}; quarantined \[{next}\]; incident ", instant.Output);
        Assert.Matches(@"confirmed (\d+) of \1: complete", instant.Output);
        await Eventually.Until(async () =>
        {
            await _fleet.TickAsync();
            return (await Run("reader", "rollout", "get", flightId, "-o", "json")).Json().Str("state");
        }, state => state == "aborted", "the rollout cut short by the break-glass rollback to end aborted");
    }

    [Fact]
    public async Task Watch_exits_13_on_its_timeout_11_when_paused_and_12_when_aborted()
    {
        await DefineAsync();
        await PushAsync(150);
        var version = await PushAsync(160);
        var started = await Run("ci", "rollout", "start", Unit, $"{version}", "--reason", "watch me", "--idempotency-key", "pipeline-42", "-o", "json");
        Assert.True(started.Code == 0, started.ToString());
        var id = started.Json().Str("id")!;
        var replay = await Run("ci", "rollout", "start", Unit, $"{version}", "--reason", "watch me", "--idempotency-key", "pipeline-42");
        Assert.True(replay.Code == 0, replay.ToString());
        Assert.StartsWith($"rollout {id} already started with this idempotency key", replay.Output);

        // Nobody reports, so the canary wave cannot pass: the watch gives up at its timeout.
        var timedOut = await Run("reader", "rollout", "watch", id, "--timeout", "2s");
        Assert.True(timedOut.Code == ExitCodes.TimedOut, timedOut.ToString());
        Assert.Contains($"timed out after 2s; rollout {id} goes on: ", timedOut.Output);

        var watch = Run("reader", "rollout", "watch", id, "--timeout", "60s");
        var paused = await Run("ci", "rollout", "pause", id, "--reason", "looking at a dashboard", "-o", "json");
        Assert.True(paused.Code == 0, paused.ToString());
        Assert.Equal("paused", paused.Json().Str("state"));
        var watched = await watch;
        Assert.True(watched.Code == ExitCodes.Paused, watched.ToString());
        Assert.Contains("paused: ", watched.Output);
        Assert.Contains($"'snapstone rollout resume {id}' moves it again", watched.Output);

        var resumed = await Run("ci", "rollout", "resume", id, "--reason", "dashboard fine");
        Assert.True(resumed.Code == 0, resumed.ToString());
        Assert.StartsWith($"rollout {id} resumed: now ", resumed.Output);

        var abortWatch = Run("reader", "rollout", "watch", id, "--timeout", "60s", "-o", "json");
        var aborted = await Run("ci", "rollout", "abort", id, "--reason", "wrong day");
        Assert.True(aborted.Code == 0, aborted.ToString());
        // The canary nodes were told the package; the abort ends once they confirm they are back.
        await Eventually.Until(async () =>
        {
            await _fleet.TickAsync();
            return abortWatch.IsCompleted;
        }, "the watch to see the abort through");
        var end = await abortWatch;
        Assert.True(end.Code == ExitCodes.Aborted, end.ToString());
        Assert.Equal("aborted", end.Json().Str("state"));

        var shown = await Run("reader", "rollout", "get", id, "--timeline");
        Assert.True(shown.Code == 0, shown.ToString());
        Assert.Contains($"rollout {id}: {Unit} v{version}", shown.Output);
        Assert.Contains("aborted", shown.Output);
        Assert.Contains("wrong day", shown.Output);
    }

    [Fact]
    public async Task Watch_rides_out_a_server_restart_reconnecting_its_event_stream_and_exits_0_when_the_rollout_completes()
    {
        await DefineAsync();
        await PushAsync(150);
        var version = await PushAsync(160);
        var id = (await Run("ci", "rollout", "start", Unit, $"{version}", "--reason", "through a restart", "-o", "json")).Json().Str("id")!;
        var watch = CliRun.Start(null, "--server", _server.BaseAddress.ToString(), "--token", ServerProcess.Tokens["reader"].Token,
            "rollout", "watch", id, "--timeout", "150s");
        await Eventually.Until(() => Task.FromResult(watch.Output.Contains("wave-assigned")), "the watch to show the canary wave assigned");

        await _server.KillAsync();
        await Eventually.Until(() => Task.FromResult(watch.Output.Contains("(event stream dropped") && watch.Output.Contains("(Snapstone did not answer")),
            "the watch to notice the server is gone");
        Assert.False(watch.Completion.IsCompleted, watch.Output);

        // Nobody reports while the server is down or coming back, so the rollout cannot end before the stream is back.
        await _server.StartAgainAsync();
        await Eventually.Until(() => Task.FromResult(watch.Output.Contains("(Snapstone answers again)") && watch.Output.Contains("(event stream reconnected)")),
            "the watch to reconnect", TimeSpan.FromSeconds(60));
        await Eventually.Until(async () =>
        {
            await _fleet.TickAsync();
            return watch.Completion.IsCompleted;
        }, "the watch to see the rollout through", TimeSpan.FromSeconds(120));

        var done = await watch.Completion;
        Assert.True(done.Code == ExitCodes.Ok, done.ToString());
        Assert.Contains($"completed: {Unit} v{version} passed every wave", done.Output);
        Assert.Equal("", done.Errors);
    }
}
