using System.Diagnostics;
using System.Text.Json.Nodes;
using Snapstone.Testing;
using Xunit.Abstractions;
using static Snapstone.Chaos.Tests.ChaosCluster;
using static Snapstone.Chaos.Tests.ChaosScenario;

namespace Snapstone.Chaos.Tests;

/// <summary>
/// Faults during rollouts on a three-silo cluster (<see cref="ChaosCluster"/>), each scenario on a unit of its own, each
/// keeping every promise of <see cref="ChaosScenario"/>. Each prints its narrative and the suite's table so far; the
/// table also goes to <see cref="ChaosReport.FilePath"/>, which <c>.ci/run</c> prints. Plans are small (a canary wave of
/// the fleet's 6 canaries, then 50% and 100% of 60 nodes) and bakes short; a bake that a fault must land in lasts 8 to
/// 12 s, and each scenario checks that the fault did land where it says.
/// </summary>
public sealed class ChaosTests(ChaosCluster cluster, ITestOutputHelper output) : IClassFixture<ChaosCluster>
{
    private static readonly TimeSpan RolloutTimeout = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task Sigkill_of_the_silo_hosting_a_good_rollout_mid_bake_and_it_completes_on_another_silo_with_every_wave_started_once()
    {
        var s = await BeginAsync(cluster, output, "SIGKILL of the rollout's silo mid-bake");
        await s.RunAsync(async () =>
        {
            const string unit = Units.KillBake;
            await s.PlanAsync(unit, ("canary", new { tier = "canary" }, 2, false), ("half", new { percent = 50 }, 8, false), ("all", new { percent = 100 }, 2, false));
            await s.DefineAsync(unit, unit, """{"v":1}""");
            var v2 = await s.PublishAsync(unit, """{"v":2}""", "second");
            var id = await s.StartAsync(unit, v2, unit);

            await s.UntilAsync(id, r => WaveState(r, 1) == "baking", "wave 1 of the good rollout to bake", RolloutTimeout);
            var host = await s.HostOfAsync(id, "while wave 1 bakes");
            await AssertBakingAsync(s, id, 1);
            await s.KillAsync(host);
            var killed = DateTimeOffset.UtcNow;
            await s.UnitIdleAsync(unit, id, RolloutTimeout);

            var (outcome, starts) = await s.CompletedAsync(unit, id, v2, RolloutTimeout);
            var next = s.AssertResumed(await s.RolloutAsync(id), killed, killed, "the kill");
            var survivor = await s.HostOfAsync(id, "after it completed");
            Assert.NotEqual(host, survivor);
            s.Note($"first step after the kill ({next.Type}) {Seconds(next.At - killed)} after it");
            await s.FinishAsync(outcome, starts, null);
        });
    }

    [Fact]
    public async Task Sigkill_of_the_silo_hosting_a_rollback_in_progress_and_it_completes_on_another_silo_with_every_touched_node_confirmed()
    {
        var s = await BeginAsync(cluster, output, "SIGKILL of the rollout's silo mid-rollback");
        await s.RunAsync(async () =>
        {
            const string unit = Units.KillRollbackBad;
            await s.PlanAsync(unit, ("canary", new { tier = "canary" }, 8, false), ("half", new { percent = 50 }, 2, false), ("all", new { percent = 100 }, 2, false));
            var v1 = await s.DefineAsync(unit, unit, """{"extraLatencyMs":0}""");
            // A latency regression: nothing crashes, so the canary verdict rolls it back (no node sends itself back).
            var bad = await s.PublishAsync(unit, """{"extraLatencyMs":250}""", "slower");
            // Agents told to go back hang at that moment, so the rollback is still waiting for them when its silo dies.
            cluster.Hold.Arm(unit, bad, v1);
            var id = await s.StartAsync(unit, bad, unit);

            await Eventually.Until(() => Task.FromResult(cluster.Hold.Held.Count > 0), "the rollout to roll back and a canary told to go back (and held)", RolloutTimeout);
            var host = await s.HostOfAsync(id, "while it rolls back");
            var midway = await s.RolloutAsync(id);
            var (targeted, confirmed) = (midway["rollback"]!["targeted"]!.GetValue<int>(), midway["rollback"]!["confirmed"]!.GetValue<int>());
            Assert.True(State(midway) == "rolling-back" && confirmed < targeted,
                $"the kill must land mid-rollback: {State(midway)}, {confirmed}/{targeted} confirmed: {Timeline(midway)}");
            await s.KillAsync(host);
            var killed = DateTimeOffset.UtcNow;
            s.Say($"the rollback had {confirmed}/{targeted} confirmations when its silo died; {cluster.Hold.Held.Count} agent(s) held");
            s.Say($"released {cluster.Hold.Release()} held agent(s): they report, take v{v1} and confirm");

            await s.UnitIdleAsync(unit, id, RolloutTimeout);
            var (outcome, starts, safe, safeAt) = await s.RolledBackAsync(unit, id, bad, v1, RolloutTimeout);
            Assert.True(safeAt > killed, $"the rollback completed at {safeAt:HH:mm:ss.fff}, before its silo was killed at {killed:HH:mm:ss.fff}");
            var finished = s.AssertResumed(await s.RolloutAsync(id), killed, killed, "the kill");
            var survivor = await s.HostOfAsync(id, "after the rollback completed");
            Assert.NotEqual(host, survivor);
            s.Note($"{confirmed}/{targeted} confirmed when the silo died; the rest confirmed on silo {survivor}, {Seconds(finished.At - killed)} after the kill; " +
                   "time to safe includes the agents held until the kill and the failover");
            await s.FinishAsync(outcome, starts, safe);
        });
    }

    [SkippableFact]
    public async Task A_silo_cut_off_from_the_others_and_from_storage_past_the_probe_timeout_and_restored_and_the_rollout_completes_on_the_survivors()
    {
        Skip.If(cluster.Network is null, $"cutting one silo off needs network namespaces, which could not be made here: {cluster.NamespacesUnavailable}");
        var s = await BeginAsync(cluster, output, "the rollout's silo cut off (link down), then restored");
        await s.RunAsync(async () =>
        {
            const string unit = Units.Cut;
            await s.PlanAsync(unit, ("canary", new { tier = "canary" }, 2, false), ("half", new { percent = 50 }, 12, false), ("all", new { percent = 100 }, 2, false));
            await s.DefineAsync(unit, unit, """{"v":1}""");
            var v2 = await s.PublishAsync(unit, """{"v":2}""", "second");
            var id = await s.StartAsync(unit, v2, unit);

            await s.UntilAsync(id, r => WaveState(r, 1) == "baking", "wave 1 to bake", RolloutTimeout);
            var cut = await s.HostOfAsync(id, "while wave 1 bakes");
            await AssertBakingAsync(s, id, 1);
            await cluster.Network!.CutAsync(cut);
            var clock = Stopwatch.StartNew();
            s.Say($"silo {cut}'s link is down: it reaches neither the other silos nor storage");

            var cutAt = DateTimeOffset.UtcNow;
            await Eventually.Until(async () => await cluster.MembershipStatusAsync(cut) == "Dead",
                $"the other silos to declare silo {cut} dead in the membership table", TimeSpan.FromSeconds(90));
            var declared = clock.Elapsed;
            var declaredAt = DateTimeOffset.UtcNow;
            s.Say($"silo {cut} declared dead {Seconds(declared)} after its link went down (probe timeout 2 s, 3 missed probes)");
            Assert.True(declared > TimeSpan.FromSeconds(2), "declared dead within the probe timeout");
            // Nobody reads the rollout: the survivors must take it up by themselves.
            var moved = await s.HostOfAsync(id, "on a survivor, while the cut-off silo is still cut off");
            Assert.NotEqual(cut, moved);

            await cluster.Network.RestoreAsync(cut);
            var cutFor = clock.Elapsed;
            s.Say($"silo {cut}'s link is up again after {Seconds(cutFor)}");
            var exit = await cluster.Silos[cut].WaitForExitAsync(TimeSpan.FromSeconds(60));
            if (exit is null)
            {
                s.Note($"silo {cut} still ran 60 s after its link came back, though the cluster had declared it dead; killed");
                await cluster.Silos[cut].KillAsync();
            }
            else
            {
                s.Say($"silo {cut} found itself declared dead and exited with {exit}");
            }
            var restart = s.RestartInBackground(cut);

            await s.UnitIdleAsync(unit, id, RolloutTimeout);
            var (outcome, starts) = await s.CompletedAsync(unit, id, v2, RolloutTimeout);
            var next = s.AssertResumed(await s.RolloutAsync(id), cutAt, declaredAt, "the cut-off silo was declared dead");
            await restart;
            s.Note($"cut off for {Seconds(cutFor)}; declared dead after {Seconds(declared)}; first step on a survivor ({next.Type}) {Seconds(next.At - declaredAt)} after that; " +
                   $"{(exit is null ? "did not exit by itself" : $"exited by itself ({exit})")}");
            await s.FinishAsync(outcome, starts, null);
        });
    }

    [Fact]
    public async Task Azurite_stopped_for_20_s_mid_bake_turns_every_silo_unready_advances_no_wave_and_the_rollout_goes_on_from_the_same_wave()
    {
        var s = await BeginAsync(cluster, output, "Azurite stopped (SIGSTOP) for 20 s mid-bake");
        await s.RunAsync(async () =>
        {
            const string unit = Units.Stall;
            await s.PlanAsync(unit, ("canary", new { tier = "canary" }, 2, false), ("half", new { percent = 50 }, 12, false), ("all", new { percent = 100 }, 2, false));
            await s.DefineAsync(unit, unit, """{"v":1}""");
            var v2 = await s.PublishAsync(unit, """{"v":2}""", "second");
            var id = await s.StartAsync(unit, v2, unit);

            var baking = await s.UntilAsync(id, r => WaveState(r, 1) == "baking", "wave 1 to bake", RolloutTimeout);
            var cohort = baking["waves"]![1]!["targeted"]!.GetValue<int>();
            var bakeUntil = DateTimeOffset.Parse(baking["waves"]![1]!["bakeUntil"]!.ToString(), System.Globalization.CultureInfo.InvariantCulture);
            await s.HostOfAsync(id, "while wave 1 bakes");

            Signals.Send(cluster.Storage.Pid, Signals.Stop);
            var stopped = DateTimeOffset.UtcNow;
            s.Say($"Azurite stopped; wave 1's bake ends at {bakeUntil:HH:mm:ss.fff}, {Seconds(bakeUntil - stopped)} from now");
            var watch = await WatchStallAsync(id, TimeSpan.FromSeconds(20));
            Signals.Send(cluster.Storage.Pid, Signals.Continue);
            var resumed = DateTimeOffset.UtcNow;
            s.Say($"Azurite resumed after {Seconds(resumed - stopped)}");

            Assert.True(bakeUntil < resumed, $"wave 1's bake ended at {bakeUntil:HH:mm:ss.fff}, after storage came back: the stall did not test an advance");
            foreach (var (silo, statuses) in watch.Readiness)
            {
                s.Say($"silo {silo} /readyz during the stall: {string.Join(" ", statuses.Select(r => r.Status?.ToString() ?? "-"))}");
            }
            Assert.True(watch.AllUnreadyAt is not null, "every silo's readiness must be false at once while storage is stopped");
            s.Say($"every silo unready {Seconds(watch.AllUnreadyAt!.Value - stopped)} after the stop");
            Assert.True(watch.Reads.Count == 0 || watch.Reads.All(r => r["currentWave"]!.GetValue<int>() == 1 && WaveState(r, 1) == "baking" && WaveState(r, 2) == "pending"),
                $"a wave advanced while storage was stopped: {string.Join(" / ", watch.Reads.Select(r => $"wave {r["currentWave"]} {WaveState(r, 1)} {WaveState(r, 2)}"))}");
            s.Say($"{watch.Reads.Count} read(s) of the rollout answered during the stall, all at wave 1 baking; {watch.Unanswered} did not answer within 4 s");
            var running = cluster.Fleet.NodesOn(unit, v2).Count;
            Assert.True(running <= cohort, $"{running} nodes ran v{v2} when storage came back; wave 1's cohort is {cohort}");

            Assert.True(await Task.WhenAll(cluster.Silos.Select(silo => cluster.ReadyWithinAsync(silo, TimeSpan.FromSeconds(60)))) is var ready && ready.All(r => r),
                "every silo to be ready again within 60 s of storage resuming");
            var (outcome, starts) = await s.CompletedAsync(unit, id, v2, RolloutTimeout);
            var done = await s.RolloutAsync(id);
            var wave2 = Entries(done, "wave-started").Single(e => e.Message.StartsWith("wave 2 ", StringComparison.Ordinal)).At;
            var passed = Entries(done, "wave-passed").Where(e => e.Message.StartsWith("wave 'half'", StringComparison.Ordinal)).ToList();
            Assert.True(wave2 >= resumed, $"wave 2 started at {wave2:HH:mm:ss.fff}, while storage was stopped ({stopped:HH:mm:ss.fff}–{resumed:HH:mm:ss.fff})");
            Assert.Single(passed);
            s.Note($"wave 1 passed, stamped {passed[0].At:HH:mm:ss.fff} ({Seconds(passed[0].At - stopped)} into the stall; persisted once storage answered), wave 2 started {Seconds(wave2 - resumed)} after the resume; all silos unready {Seconds(watch.AllUnreadyAt.Value - stopped)} after the stop");
            await s.FinishAsync(outcome, starts, null);
        });
    }

    [Fact]
    public async Task A_rolling_restart_of_every_silo_while_a_rollout_walks_its_waves_and_it_completes_with_no_wave_repeated()
    {
        var s = await BeginAsync(cluster, output, "rolling restart (SIGTERM, wait, start) of every silo");
        await s.RunAsync(async () =>
        {
            const string unit = Units.Restart;
            // One restart per wave: each begins while a wave bakes, and the next wave waits for an approval given once
            // that silo is back, so every restart lands in a live rollout however long a restart takes.
            await s.PlanAsync(unit, ("canary", new { tier = "canary" }, 10, false), ("quarter", new { percent = 25 }, 10, true),
                ("half", new { percent = 50 }, 10, true), ("all", new { percent = 100 }, 2, true));
            await s.DefineAsync(unit, unit, """{"v":1}""");
            var v2 = await s.PublishAsync(unit, """{"v":2}""", "second");
            var id = await s.StartAsync(unit, v2, unit);

            var walked = new List<string>();
            var restarted = new List<int>();
            for (var wave = 0; wave < SiloCount; wave++)
            {
                var baking = await s.UntilAsync(id, r => WaveState(r, wave) == "baking", $"wave {wave} to bake", RolloutTimeout);
                var host = await s.HostOfAsync(id, $"while wave {wave} bakes");
                // The rollout's own silo first, then the others in turn.
                var silo = restarted.Contains(host) ? Enumerable.Range(0, SiloCount).First(i => !restarted.Contains(i)) : host;
                restarted.Add(silo);
                var clock = Stopwatch.StartNew();
                var exit = await cluster.Silos[silo].TerminateAsync(TimeSpan.FromSeconds(60));
                s.Say($"silo {silo}{(host == silo ? " (the rollout's)" : "")} exited with {exit} {Seconds(clock.Elapsed)} after SIGTERM");
                Assert.Equal(0, exit);
                await cluster.StartSiloAsync(silo, s.Say);
                var after = await s.UntilAsync(id, r => State(r) is "awaiting-approval" or "completed" or "rolled-back" or "paused" or "aborted",
                    $"wave {wave + 1} to wait for its approval", RolloutTimeout);
                Assert.True(State(after) == "awaiting-approval" && after["currentWave"]!.GetValue<int>() == wave + 1,
                    $"after silo {silo}'s restart the rollout must wait at wave {wave + 1}: {State(after)} at wave {after["currentWave"]}: {Timeline(after)}");
                walked.Add($"silo {silo}{(host == silo ? " (the rollout's)" : "")} restarted in {Seconds(clock.Elapsed)} from wave {wave} baking");
                s.Say($"silo {silo} back and ready {Seconds(clock.Elapsed)} after SIGTERM; wave {wave} passed; approving wave {wave + 1}");
                var (approved, body) = await cluster.Reviewer.Post($"/v1/rollouts/{id}/approve", new { reason = $"chaos: silo {silo} is back" });
                Assert.True(approved == 200, $"approve answered {approved}: {body.ToJsonString()}");
            }
            Assert.Equal(SiloCount, restarted.Distinct().Count());

            var (outcome, starts) = await s.CompletedAsync(unit, id, v2, RolloutTimeout);
            Assert.Equal(SiloCount, Entries(await s.RolloutAsync(id), "approved").Count);
            await s.HostOfAsync(id, "after it completed");
            s.Note(string.Join("; ", walked));
            await s.FinishAsync(outcome, starts, null);
        });
    }

    [Fact]
    public async Task A_good_and_a_bad_rollout_at_once_on_units_of_different_consumers_and_the_good_one_completes_while_the_bad_one_is_rolled_back_from_the_first_wave()
    {
        var s = await BeginAsync(cluster, output, "a good and a bad rollout at once (fl1 and fl2 consumers)");
        await s.RunAsync(() => PairAsync(s, Units.PairGood, Units.PairBad, "pair",
            new Dictionary<string, string> { ["proxy"] = "fl1" }, new Dictionary<string, string> { ["proxy"] = "fl2" }));
    }

    /// <summary>
    /// The same, on two units every node consumes: the canary tier takes both packages in the same report round, so
    /// apply times cannot tell the two apart. The bad one crashes the canaries and their agents name the unit they
    /// crashed on (<c>applied.{unit}.crashes</c>): the good one must not be blamed for it.
    /// </summary>
    [Fact]
    public async Task A_good_and_a_bad_rollout_at_once_on_the_same_canaries_and_the_good_one_is_not_blamed_for_the_bad_ones_crashes()
    {
        var s = await BeginAsync(cluster, output, "a good and a bad rollout at once (the same canaries)");
        await s.RunAsync(() => PairAsync(s, Units.SharedGood, Units.SharedBad, "shared", null, null));
    }

    private static async Task PairAsync(ChaosScenario s, string goodUnit, string badUnit, string plan,
        IReadOnlyDictionary<string, string>? goodTargets, IReadOnlyDictionary<string, string>? badTargets)
    {
        await s.PlanAsync(plan, ("canary", new { tier = "canary" }, 3, false), ("half", new { percent = 50 }, 3, false), ("all", new { percent = 100 }, 2, false));
        var firsts = await Task.WhenAll(
            s.DefineAsync(goodUnit, plan, """{"v":1}""", goodTargets),
            s.DefineAsync(badUnit, plan, Features(190), badTargets));
        var canaries = (Good: s.Consumers(goodUnit).Count(n => n.Profile.IsCanary), Bad: s.Consumers(badUnit).Count(n => n.Profile.IsCanary));
        Assert.True(canaries.Good > 0 && canaries.Bad > 0, $"each unit needs canaries among its consumers: {canaries}");
        var shared = s.Consumers(goodUnit).Intersect(s.Consumers(badUnit)).Count();
        s.Say($"{goodUnit}: {s.Consumers(goodUnit).Count} consumers ({canaries.Good} canaries); {badUnit}: {s.Consumers(badUnit).Count} ({canaries.Bad} canaries); {shared} consume both");
        var good = await s.PublishAsync(goodUnit, """{"v":2}""", "second");
        // 210 features: past the 200 a fail-closed proxy holds, so every canary that loads it crashes.
        var bad = await s.PublishAsync(badUnit, Features(210), "more features");
        var ids = await Task.WhenAll(s.StartAsync(goodUnit, good, plan), s.StartAsync(badUnit, bad, plan));
        await s.HostOfAsync(ids[0], "(the good rollout)");
        await s.HostOfAsync(ids[1], "(the bad rollout)");

        var completed = Task.Run(() => s.CompletedAsync(goodUnit, ids[0], good, RolloutTimeout));
        var rolledBack = Task.Run(() => s.RolledBackAsync(badUnit, ids[1], bad, firsts[1], RolloutTimeout));
        await Task.WhenAll(completed.ContinueWith(_ => { }), rolledBack.ContinueWith(_ => { }));
        var (goodOutcome, goodStarts) = await completed;
        var (badOutcome, badStarts, safe, _) = await rolledBack;
        await s.FinishAsync($"{goodOutcome}; {badOutcome}", $"{goodStarts} and {badStarts}", safe);
    }

    /// <summary>The fault must land in the bake: at least a second of it left.</summary>
    private static async Task AssertBakingAsync(ChaosScenario s, string id, int wave)
    {
        var now = await s.RolloutAsync(id);
        var left = DateTimeOffset.Parse(now["waves"]![wave]!["bakeUntil"]!.ToString(), System.Globalization.CultureInfo.InvariantCulture) - DateTimeOffset.UtcNow;
        Assert.True(WaveState(now, wave) == "baking" && left > TimeSpan.FromSeconds(1),
            $"the fault must land mid-bake of wave {wave}, but it is {WaveState(now, wave)} with {Seconds(left)} of bake left: lengthen the bake");
    }

    private static string Features(int count) =>
        System.Text.Json.JsonSerializer.Serialize(new { features = Enumerable.Range(0, count).Select(i => $"f{i}").ToArray() });

    /// <summary>What the suite saw while storage was stopped: each silo's readiness, and the reads of the rollout that answered.</summary>
    private sealed record StallWatch(
        IReadOnlyDictionary<int, List<(DateTimeOffset At, int? Status)>> Readiness, DateTimeOffset? AllUnreadyAt, List<JsonNode> Reads, int Unanswered);

    private async Task<StallWatch> WatchStallAsync(string id, TimeSpan length)
    {
        var until = DateTimeOffset.UtcNow + length;
        var readiness = Enumerable.Range(0, SiloCount).ToDictionary(i => i, _ => new List<(DateTimeOffset, int?)>());
        DateTimeOffset? allUnready = null;
        var reads = new List<JsonNode>();
        var unanswered = 0;
        var probes = Task.Run(async () =>
        {
            while (DateTimeOffset.UtcNow < until)
            {
                var answers = await Task.WhenAll(Enumerable.Range(0, SiloCount).Select(i =>
                    cluster.Admin.OnceAsync(cluster.Gateways[i], "/readyz", TimeSpan.FromSeconds(2), anonymous: true)));
                var at = DateTimeOffset.UtcNow;
                for (var i = 0; i < SiloCount; i++)
                {
                    readiness[i].Add((at, answers[i].Status));
                }
                if (allUnready is null && answers.All(a => a.Status == 503))
                {
                    allUnready = at;
                }
                await Task.Delay(500);
            }
        });
        var rollouts = Task.Run(async () =>
        {
            for (var turn = 0; DateTimeOffset.UtcNow < until; turn++)
            {
                var (status, body) = await cluster.Ci.OnceAsync(cluster.Gateways[turn % SiloCount], $"/v1/rollouts/{id}", TimeSpan.FromSeconds(4));
                if (status == 200 && body is not null)
                {
                    lock (reads)
                    {
                        reads.Add(body);
                    }
                }
                else
                {
                    Interlocked.Increment(ref unanswered);
                }
                await Task.Delay(500);
            }
        });
        await Task.WhenAll(probes, rollouts);
        var left = until - DateTimeOffset.UtcNow;
        if (left > TimeSpan.Zero)
        {
            await Task.Delay(left);
        }
        return new StallWatch(readiness, allUnready, reads, unanswered);
    }
}
