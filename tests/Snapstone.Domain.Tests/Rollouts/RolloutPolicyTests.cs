using Snapstone.Domain.Health;
using Snapstone.Domain.Plans;
using Snapstone.Domain.Rollouts;
using static Snapstone.Domain.Rollouts.RolloutDecision;

namespace Snapstone.Domain.Tests.Rollouts;

public class RolloutPolicyTests
{
    internal static readonly DateTimeOffset T0 = new(2026, 1, 1, 10, 0, 0, TimeSpan.Zero);
    private static readonly RolloutSettings Settings = RolloutSettings.Default; // apply deadline 10 min, poll 5 s, grace 2× bake

    /// <summary>canary (bake 60 s) → ten (bake 120 s) → all (bake 300 s), default gates.</summary>
    internal static readonly Plan ThreeWaves = new(
    [
        new WaveSpec { Name = "canary", Select = new WaveSelect { Tier = "canary" }, BakeSeconds = 60 },
        new WaveSpec { Name = "ten", Select = new WaveSelect { Percent = 10 }, BakeSeconds = 120 },
        new WaveSpec { Name = "all", Select = new WaveSelect { Percent = 100 }, BakeSeconds = 300 },
    ]);

    private static readonly Plan CanaryNeedsApproval = ThreeWaves with
    {
        Waves = [ThreeWaves.Waves[0] with { RequiresApproval = true }, .. ThreeWaves.Waves.Skip(1)],
    };

    internal static readonly Verdict HealthyVerdict = new(VerdictResult.Healthy, ["10/10 nodes reported on the package (100%)"], 10, 0);
    private static readonly Verdict UnhealthyVerdict = new(VerdictResult.Unhealthy, ["cohort error rate 3.10% (310/10000) > ceiling 1.00%"], 0, 10);
    private static readonly Verdict InconclusiveVerdict = new(VerdictResult.Inconclusive, ["cohort served 150 requests < 200 needed for a verdict"]);

    private static Run BreachAt60() => new Run().Open(0).At(30).Expect<Wait>(Obs(0, 10, 9)).At(60)
        .Do(s => s.WithSignal(new NodeSignal("n-2", SignalKind.Breach,
            "node n-2 error rate 28.00% (280/1000) > 3× its limit 1.00% (ceiling 1.00%, own baseline 0.20%)"), T0.AddSeconds(60)));

    private static WeighedBreach Weighed(string node, BreachStanding standing, double control) =>
        new(node, new BreachCheck(standing, new Finding.BreachWeighed(node, standing, 280, 1000, null, control, standing == BreachStanding.Confirmed ? 0.0001 : 0.4, 0.001)));

    private static WaveObservation Obs(int wave, int targeted, int applied, int rejected = 0, Verdict? verdict = null) =>
        new() { Wave = wave, Targeted = targeted, Applied = applied, Rejected = rejected, Verdict = verdict };

    /// <summary>Plays the rollout grain: decides, persists the decision's status, and moves a fake clock.</summary>
    internal sealed class Run
    {
        public Run(Plan? plan = null)
        {
            Spec = new RolloutSpec
            {
                Id = "r-1", Unit = "bot-features", Version = 8, Sha256 = new string('a', 64), PreviousVersion = 7,
                PreviousSha256 = new string('b', 64), Plan = plan ?? ThreeWaves, PlanName = "standard", Reason = "new features",
                CreatedBy = "ci", CreatedAt = T0,
            };
            Now = T0;
            Status = RolloutStatus.Start(Spec, T0);
        }

        public RolloutSpec Spec { get; init; }
        public RolloutStatus Status { get; private set; }
        public DateTimeOffset Now { get; private set; }
        /// <summary>What the grain would learn each tick: the freezes that apply.</summary>
        public RolloutConditions Conditions { get; private set; } = RolloutConditions.None;

        public RolloutDecision Decide(WaveObservation? observation = null) =>
            RolloutPolicy.Decide(Spec, Status, Conditions, observation, Now, Settings);

        public Run With(RolloutConditions conditions)
        {
            Conditions = conditions;
            return this;
        }

        public RolloutDecision Tick(WaveObservation? observation = null)
        {
            var decision = Decide(observation);
            Status = decision.Status;
            return decision;
        }

        public Run Expect<T>(WaveObservation? observation = null) where T : RolloutDecision
        {
            var decision = Tick(observation);
            Assert.True(decision is T, $"expected {typeof(T).Name}, got {Describe(decision)}");
            return this;
        }

        public Run At(int seconds)
        {
            Now = T0.AddSeconds(seconds);
            return this;
        }

        public Run Do(Func<RolloutStatus, RolloutStatus> change)
        {
            Status = change(Status);
            return this;
        }

        public Run Command(Func<RolloutStatus, CommandResult> command)
        {
            var result = command(Status);
            Assert.True(result.Accepted, result.Refusal?.Message);
            Status = result.Status;
            return this;
        }

        /// <summary>Opens wave k at the current time and confirms its assignment to <paramref name="targeted"/> nodes.</summary>
        public Run Open(int wave, int targeted = 10) =>
            Expect<Assign>().Do(s => s.WaveAssigned(wave, targeted, Now));

        /// <summary>Opens wave k, converges it now, bakes it out and passes it healthy; returns at the bake's end.</summary>
        public Run Pass(int wave, int targeted = 10)
        {
            Open(wave, targeted).Expect<Wait>(Obs(wave, targeted, targeted));
            At((int)(Status.Waves[wave].BakeUntil!.Value - T0).TotalSeconds);
            var last = wave == Spec.Plan.Waves.Count - 1;
            return last ? Expect<Complete>(Obs(wave, targeted, targeted, verdict: HealthyVerdict))
                : Expect<Advance>(Obs(wave, targeted, targeted, verdict: HealthyVerdict));
        }
    }

    internal static string Describe(RolloutDecision decision) => decision switch
    {
        AwaitApproval a => $"AwaitApproval({a.Wave})",
        Assign a => $"Assign({a.Wave})",
        Observe o => $"Observe({o.Wave})",
        Wait w => w.Until is { } until ? $"Wait({until:HH:mm:ss})" : "Wait(none)",
        Advance a => $"Advance({a.Passed}->{a.Next})",
        Complete => "Complete",
        Pause p => $"Pause: {p.Reason.Describe()}",
        Resume => "Resume",
        RolloutDecision.Rollback r => $"Rollback(through {r.ThroughWave}): {r.Reason}",
        FinishRollback f => $"FinishRollback({f.Outcome})",
        _ => decision.GetType().Name,
    };

    private static NodeSignal Crash(string node) => new(node, SignalKind.Crash, $"node {node} crashed 1 time(s) on the package");

    /// <summary>Each stage: a rollout driven to some point, the observation the grain brings (if any).</summary>
    private static readonly Dictionary<string, Func<(Run Run, WaveObservation? Observation)>> Stages = new()
    {
        ["new"] = () => (new Run(), null),
        ["new, canary needs approval"] = () => (new Run(CanaryNeedsApproval), null),
        ["awaiting approval"] = () => (new Run(CanaryNeedsApproval).Expect<AwaitApproval>().At(30), null),
        ["approved"] = () => (new Run(CanaryNeedsApproval).Expect<AwaitApproval>().At(30)
            .Command(s => RolloutCommands.Approve(new Run(CanaryNeedsApproval).Spec, s, "alice", "looks fine", T0.AddSeconds(30))), null),
        ["assign persisted, fan-out not confirmed (crash)"] = () => (new Run().Expect<Assign>().At(5), null),
        ["assigned, not observed"] = () => (new Run().Open(0).At(5), null),
        ["applying 8 of 10 (needs 9)"] = () => (new Run().Open(0).At(30), Obs(0, 10, 8)),
        ["applying 9 of 10"] = () => (new Run().Open(0).At(30), Obs(0, 10, 9)),
        ["applying 7 of 10 at the deadline"] = () => (new Run().Open(0).At(600), Obs(0, 10, 7)),
        ["resumed after a stuck apply"] = () => (new Run().Open(0).At(600).Expect<Pause>(Obs(0, 10, 7)).At(700)
            .Command(s => RolloutCommands.Resume(s, "alice", "nodes fixed", T0.AddSeconds(700))), Obs(0, 10, 7)),
        ["rejected beyond the gate while applying"] = () => (new Run().Open(0).At(30), Obs(0, 10, 5, rejected: 1)),
        ["empty wave"] = () => (new Run().Open(0, targeted: 0).At(1), Obs(0, 0, 0)),
        ["baking, bake not over"] = () => (new Run().Open(0).At(30).Expect<Wait>(Obs(0, 10, 9)).At(60), null),
        ["bake over, not observed"] = () => (new Run().Open(0).At(30).Expect<Wait>(Obs(0, 10, 9)).At(90), null),
        ["bake over, healthy"] = () => (new Run().Open(0).At(30).Expect<Wait>(Obs(0, 10, 9)).At(90), Obs(0, 10, 10, verdict: HealthyVerdict)),
        ["next wave"] = () => (new Run().Pass(0), null),
        ["last wave, bake over, healthy"] = () => (Through(new Run().Pass(0).Pass(1), 2), Obs(2, 10, 10, verdict: HealthyVerdict)),
        ["bake over, unhealthy"] = () => (new Run().Open(0).At(30).Expect<Wait>(Obs(0, 10, 9)).At(90), Obs(0, 10, 10, verdict: UnhealthyVerdict)),
        ["mid-bake, unhealthy observation"] = () => (new Run().Open(0).At(30).Expect<Wait>(Obs(0, 10, 9)).At(60), Obs(0, 10, 10, verdict: UnhealthyVerdict)),
        ["mid-bake, crash signal"] = () => (new Run().Open(0).At(30).Expect<Wait>(Obs(0, 10, 9)).At(60)
            .Do(s => s.WithSignal(Crash("n-1"), T0.AddSeconds(60))), null),
        ["mid-bake, breach signal"] = () => (new Run().Open(0).At(30).Expect<Wait>(Obs(0, 10, 9)).At(60)
            .Do(s => s.WithSignal(new NodeSignal("n-2", SignalKind.Breach,
                "node n-2 error rate 28.00% (280/1000) > 3× its limit 1.00% (ceiling 1.00%, own baseline 0.20%)"), T0.AddSeconds(60))), null),
        ["mid-bake, breach weighed confirmed"] = () => (BreachAt60(), Obs(0, 10, 9) with { Breaches = [Weighed("n-2", BreachStanding.Confirmed, control: 0.001)] }),
        ["mid-bake, breach weighed ambient"] = () => (BreachAt60(), Obs(0, 10, 9) with { Breaches = [Weighed("n-2", BreachStanding.Ambient, control: 0.2)] }),
        ["mid-bake, breach weighed unconfirmed"] = () => (BreachAt60(), Obs(0, 10, 9) with { Breaches = [Weighed("n-2", BreachStanding.Unconfirmed, control: 0.01)] }),
        ["mid-bake, breach of a node the look has no sample of"] = () => (BreachAt60(), Obs(0, 10, 9)),
        ["bake over, first inconclusive"] = () => (new Run().Open(0).At(30).Expect<Wait>(Obs(0, 10, 9)).At(90), Obs(0, 10, 10, verdict: InconclusiveVerdict)),
        ["inconclusive within grace"] = () => (new Run().Open(0).At(30).Expect<Wait>(Obs(0, 10, 9)).At(90)
            .Expect<Wait>(Obs(0, 10, 10, verdict: InconclusiveVerdict)).At(150), Obs(0, 10, 10, verdict: InconclusiveVerdict)),
        ["inconclusive past grace"] = () => (new Run().Open(0).At(30).Expect<Wait>(Obs(0, 10, 9)).At(90)
            .Expect<Wait>(Obs(0, 10, 10, verdict: InconclusiveVerdict)).At(210), Obs(0, 10, 10, verdict: InconclusiveVerdict)),
        ["inconclusive then healthy"] = () => (new Run().Open(0).At(30).Expect<Wait>(Obs(0, 10, 9)).At(90)
            .Expect<Wait>(Obs(0, 10, 10, verdict: InconclusiveVerdict)).At(150), Obs(0, 10, 10, verdict: HealthyVerdict)),
        ["rollback persisted, fan-out not confirmed (crash)"] = () => (RollingBack().At(95), null),
        ["rollback assigned, not observed"] = () => (RollingBack().Do(s => s.RollbackAssigned(10, 0, T0.AddSeconds(95))).At(100), null),
        ["rollback 7 of 10 confirmed"] = () => (RollingBack().Do(s => s.RollbackAssigned(10, 0, T0.AddSeconds(95))).At(100), Obs(WaveObservation.Rollback, 10, 7)),
        ["rollback 7 of 10 confirmed at the deadline"] = () => (RollingBack().Do(s => s.RollbackAssigned(10, 0, T0.AddSeconds(95))).At(395),
            Obs(WaveObservation.Rollback, 10, 7) with { Unconverged = ["n-3", "n-8", "n-9"] }),
        ["rollback 10 of 10 confirmed"] = () => (RollingBack().Do(s => s.RollbackAssigned(10, 0, T0.AddSeconds(95))).At(100), Obs(WaveObservation.Rollback, 10, 10)),
        ["abort, 10 of 10 confirmed"] = () => (new Run().Open(0).At(30).Expect<Wait>(Obs(0, 10, 9)).At(60)
            .Command(s => RolloutCommands.Abort(s, "alice", "wrong file", T0.AddSeconds(60)))
            .Do(s => s.RollbackAssigned(10, 0, T0.AddSeconds(61))).At(70), Obs(WaveObservation.Rollback, 10, 10)),
        ["paused"] = () => (Paused(), null),
        ["paused, crash signal"] = () => (Paused().Do(s => s.WithSignal(Crash("n-1"), T0.AddSeconds(70))).At(70), null),
        ["awaiting approval of wave 1, crash signal"] = () => (ApprovalOfWaveOne().Do(s => s.WithSignal(Crash("n-3"), T0.AddSeconds(95))), null),
        ["completed"] = () => (new Run().Pass(0).Pass(1).Pass(2), null),
    };

    private static Run Through(Run run, int wave)
    {
        var start = (int)(run.Now - T0).TotalSeconds;
        run.Open(wave).Expect<Wait>(Obs(wave, 10, 10));
        return run.At(start + ThreeWaves.Waves[wave].BakeSeconds);
    }

    private static Run RollingBack() =>
        new Run().Open(0).At(30).Expect<Wait>(Obs(0, 10, 9)).At(90).Expect<RolloutDecision.Rollback>(Obs(0, 10, 10, verdict: UnhealthyVerdict));

    private static Run Paused() =>
        new Run().Open(0).At(30).Expect<Wait>(Obs(0, 10, 9)).At(60)
            .Command(s => RolloutCommands.Pause(s, "alice", "investigating a ticket", T0.AddSeconds(60)));

    private static Run ApprovalOfWaveOne()
    {
        var plan = ThreeWaves with { Waves = [ThreeWaves.Waves[0], ThreeWaves.Waves[1] with { RequiresApproval = true }, ThreeWaves.Waves[2]] };
        return new Run(plan).Pass(0).Expect<AwaitApproval>();
    }

    [Theory]
    [InlineData("new", "Assign(0)", RolloutState.Running, true)]
    [InlineData("new, canary needs approval", "AwaitApproval(0)", RolloutState.AwaitingApproval, true)]
    [InlineData("awaiting approval", "Wait(none)", RolloutState.AwaitingApproval, false)]
    [InlineData("approved", "Assign(0)", RolloutState.Running, true)]
    [InlineData("assign persisted, fan-out not confirmed (crash)", "Assign(0)", RolloutState.Running, false)]
    [InlineData("assigned, not observed", "Observe(0)", RolloutState.Running, false)]
    [InlineData("applying 8 of 10 (needs 9)", "Wait(10:00:35)", RolloutState.Running, true)]
    [InlineData("applying 9 of 10", "Wait(10:01:30)", RolloutState.Running, true)]
    [InlineData("applying 7 of 10 at the deadline", "Pause: wave 'canary' stuck applying: 3 of 10 node(s) have not converged after 10 min (applied 7, rejected 0, need 9)", RolloutState.Paused, true)]
    [InlineData("resumed after a stuck apply", "Wait(10:11:45)", RolloutState.Running, false)]
    [InlineData("rejected beyond the gate while applying", "Rollback(through 0): 1 node(s) rejected the package > max 0", RolloutState.RollingBack, true)]
    [InlineData("empty wave", "Advance(0->1)", RolloutState.Running, true)]
    [InlineData("baking, bake not over", "Observe(0)", RolloutState.Running, false)]
    [InlineData("bake over, not observed", "Observe(0)", RolloutState.Running, false)]
    [InlineData("bake over, healthy", "Advance(0->1)", RolloutState.Running, true)]
    [InlineData("next wave", "Assign(1)", RolloutState.Running, true)]
    [InlineData("last wave, bake over, healthy", "Complete", RolloutState.Completed, true)]
    [InlineData("bake over, unhealthy", "Rollback(through 0): wave 'canary' unhealthy: cohort error rate 3.10% (310/10000) > ceiling 1.00%", RolloutState.RollingBack, true)]
    [InlineData("mid-bake, unhealthy observation", "Rollback(through 0): wave 'canary' unhealthy: cohort error rate 3.10% (310/10000) > ceiling 1.00%", RolloutState.RollingBack, true)]
    [InlineData("mid-bake, crash signal", "Rollback(through 0): 1 node(s) crashed > max 0: node n-1 crashed 1 time(s) on the package", RolloutState.RollingBack, true)]
    [InlineData("mid-bake, breach signal", "Observe(0)", RolloutState.Running, false)]
    [InlineData("mid-bake, breach weighed confirmed", "Rollback(through 0): node n-2 error rate 28.00% (280/1000) > 3× its limit 1.00% (ceiling 1.00%, own baseline 0.20%); " +
        "weighed: node n-2 error rate 28.00% (280/1000) is significantly worse than the control (0.10%) at the same time (p = 0, needs < 0.001)", RolloutState.RollingBack, true)]
    [InlineData("mid-bake, breach weighed ambient", "Wait(10:01:15)", RolloutState.Running, true)]
    [InlineData("mid-bake, breach weighed unconfirmed", "Wait(10:01:15)", RolloutState.Running, true)]
    [InlineData("mid-bake, breach of a node the look has no sample of", "Rollback(through 0): node n-2 error rate 28.00% (280/1000) > 3× its limit 1.00% (ceiling 1.00%, own baseline 0.20%)", RolloutState.RollingBack, true)]
    [InlineData("bake over, first inconclusive", "Wait(10:01:35)", RolloutState.Running, true)]
    [InlineData("inconclusive within grace", "Wait(10:02:35)", RolloutState.Running, false)]
    [InlineData("inconclusive past grace", "Pause: wave 'canary' inconclusive for 2 min (grace 2 min): cohort served 150 requests < 200 needed for a verdict", RolloutState.Paused, true)]
    [InlineData("inconclusive then healthy", "Advance(0->1)", RolloutState.Running, true)]
    [InlineData("rollback persisted, fan-out not confirmed (crash)", "Rollback(through 0): wave 'canary' unhealthy: cohort error rate 3.10% (310/10000) > ceiling 1.00%", RolloutState.RollingBack, false)]
    [InlineData("rollback assigned, not observed", "Observe(-1)", RolloutState.RollingBack, false)]
    [InlineData("rollback 7 of 10 confirmed", "Wait(10:01:45)", RolloutState.RollingBack, true)]
    [InlineData("rollback 7 of 10 confirmed at the deadline", "FinishRollback(RolledBack)", RolloutState.RolledBack, true)]
    [InlineData("rollback 10 of 10 confirmed", "FinishRollback(RolledBack)", RolloutState.RolledBack, true)]
    [InlineData("abort, 10 of 10 confirmed", "FinishRollback(Aborted)", RolloutState.Aborted, true)]
    [InlineData("paused", "Wait(none)", RolloutState.Paused, false)]
    [InlineData("paused, crash signal", "Rollback(through 0): 1 node(s) crashed > max 0: node n-1 crashed 1 time(s) on the package", RolloutState.RollingBack, true)]
    [InlineData("awaiting approval of wave 1, crash signal", "Rollback(through 0): 1 node(s) crashed > max 0: node n-3 crashed 1 time(s) on the package", RolloutState.RollingBack, true)]
    [InlineData("completed", "Wait(none)", RolloutState.Completed, false)]
    public void Decide_takes_one_step_from_the_persisted_status(string stage, string expected, RolloutState state, bool changed)
    {
        var (run, observation) = Stages[stage]();
        var before = run.Status;

        var decision = run.Decide(observation);

        Assert.Equal(expected, Describe(decision));
        Assert.Equal(state, decision.Status.State);
        Assert.Equal(changed, decision.Changed);
        Assert.Equal(changed, !ReferenceEquals(before, decision.Status));
    }

    [Fact]
    public void A_breach_the_look_weighs_as_ambient_leaves_the_signals_with_its_weighing_on_the_timeline_and_asks_for_no_more_looks()
    {
        var (run, observation) = Stages["mid-bake, breach weighed ambient"]();

        var decision = run.Decide(observation);

        Assert.DoesNotContain(decision.Status.Signals, s => s.Kind == SignalKind.Breach);
        var last = decision.Status.Timeline[^1];
        Assert.Equal(TimelineTypes.BreachSetAside, last.Type);
        Assert.Equal("breach set aside: node n-2 error rate 28.00% (280/1000), but the control (20.00%) at the same time say the trouble is around it, " +
                     "not on it: left to the verdict", last.Message);
        // Looked at 60 s; at 62 s nothing is left to weigh, so no look before the next one the bake asks for.
        Assert.IsType<Wait>(RolloutPolicy.Decide(run.Spec, decision.Status, run.Conditions, null, T0.AddSeconds(62), Settings, lookedAt: T0.AddSeconds(60)));
        // The breach itself, still standing, would have been looked at again.
        Assert.IsType<Observe>(RolloutPolicy.Decide(run.Spec, run.Status, run.Conditions, null, T0.AddSeconds(62), Settings, lookedAt: T0.AddSeconds(60)));
    }

    [Fact]
    public void A_rollback_that_waits_past_its_deadline_finishes_naming_the_nodes_that_never_confirmed()
    {
        var (run, observation) = Stages["rollback 7 of 10 confirmed at the deadline"]();

        var decision = run.Decide(observation);

        var last = decision.Status.Timeline[^1];
        Assert.Equal(TimelineTypes.RolledBack, last.Type);
        Assert.Equal("7/10 node(s) confirmed back on the previous package; 3 of 10 node(s) did not confirm the previous package within 5 min; " +
                     "not confirmed: n-3, n-8, n-9; they stay told to run it, and /v1/drift lists them until they do", last.Message);
        Assert.Equal((10, 7), (decision.Status.Rollback!.Targeted, decision.Status.Rollback.Confirmed));
        Assert.NotNull(decision.Status.Rollback.CompletedAt);
    }

    [Fact]
    public void A_wave_stopped_by_a_crash_before_any_verdict_counts_the_crashed_node_unhealthy()
    {
        var (run, observation) = Stages["mid-bake, crash signal"]();

        var wave = run.Decide(observation).Status.Waves[0];

        Assert.Equal((WaveState.Failed, 1), (wave.State, wave.Unhealthy));
    }

    public static TheoryData<string> StageNames => new(Stages.Keys);

    [Theory]
    [MemberData(nameof(StageNames))]
    public void The_same_status_gives_the_same_decision(string stage)
    {
        var (run, observation) = Stages[stage]();

        var first = run.Decide(observation);
        var second = run.Decide(observation);

        Assert.Equal(Describe(first), Describe(second));
        Assert.Equal(first.Changed, second.Changed);
        Assert.Equal(Fingerprint(first.Status), Fingerprint(second.Status));
    }

    [Theory]
    [MemberData(nameof(StageNames))]
    public void A_transition_adds_exactly_one_timeline_entry_and_a_count_update_none(string stage)
    {
        var (run, observation) = Stages[stage]();
        var before = run.Status.Timeline.Count;

        var decision = run.Decide(observation);

        var added = decision.Status.Timeline.Count - before;
        var isTransition = decision.Status.State != run.Status.State || decision.Status.CurrentWave != run.Status.CurrentWave ||
            decision.Status.Waves.Select(w => w.State).SequenceEqual(run.Status.Waves.Select(w => w.State)) is false ||
            decision.Status.InconclusiveSince != run.Status.InconclusiveSince ||
            decision.Status.Signals.Count < run.Status.Signals.Count; // a breach set aside by a look, with the weighing
        Assert.Equal(isTransition ? 1 : 0, added);
    }

    [Fact]
    public void A_healthy_rollout_walks_every_wave_once_and_tells_the_story()
    {
        var run = new Run();
        var decisions = new List<string>();
        void Step(WaveObservation? observation = null) => decisions.Add(Describe(run.Tick(observation)));

        for (var wave = 0; wave < 3; wave++)
        {
            var start = (int)(run.Now - T0).TotalSeconds;
            Step();                                           // Assign(wave)
            run.Do(s => s.WaveAssigned(wave, 10 * (wave + 1), run.Now));
            Step();                                           // Observe(wave)
            Step(Obs(wave, 10 * (wave + 1), 10 * (wave + 1))); // converged → bake
            run.At(start + ThreeWaves.Waves[wave].BakeSeconds);
            Step();                                           // Observe(wave)
            Step(Obs(wave, 10 * (wave + 1), 10 * (wave + 1), verdict: HealthyVerdict));
        }
        Step();

        Assert.Equal(new[]
        {
            "Assign(0)", "Observe(0)", "Wait(10:01:00)", "Observe(0)", "Advance(0->1)",
            "Assign(1)", "Observe(1)", "Wait(10:03:00)", "Observe(1)", "Advance(1->2)",
            "Assign(2)", "Observe(2)", "Wait(10:08:00)", "Observe(2)", "Complete",
            "Wait(none)",
        }, decisions);
        Assert.Equal(new[]
        {
            "created",
            "wave-started", "wave-assigned", "wave-baking", "wave-passed",
            "wave-started", "wave-assigned", "wave-baking", "wave-passed",
            "wave-started", "wave-assigned", "wave-baking", "completed",
        }, run.Status.Timeline.Select(e => e.Type));
        Assert.Equal(new[] { WaveState.Passed, WaveState.Passed, WaveState.Passed }, run.Status.Waves.Select(w => w.State));
        Assert.Equal(new[] { 10, 20, 30 }, run.Status.Waves.Select(w => w.Targeted));
        Assert.Equal(T0.AddSeconds(480), run.Status.FinishedAt);
        Assert.Equal("rollout r-1 of bot-features v8 (from v7) on plan 'standard' created by ci: new features", run.Status.Timeline[0].Message);
    }

    [Fact]
    public void A_rollback_after_a_crash_repeats_the_fan_out_and_never_reopens_a_wave()
    {
        var run = RollingBack();
        Assert.Equal(WaveState.Failed, run.Status.Waves[0].State);
        Assert.Equal(UnhealthyVerdict, run.Status.Waves[0].Verdict);

        // The silo dies after persisting the rollback but before telling the nodes: the next tick says the same.
        var again = run.At(120).Tick();
        Assert.Equal("Rollback(through 0): wave 'canary' unhealthy: cohort error rate 3.10% (310/10000) > ceiling 1.00%", Describe(again));
        Assert.False(again.Changed);

        run.At(121).Do(s => s.RollbackAssigned(10, 0, T0.AddSeconds(121))).Expect<Observe>().Expect<Wait>(Obs(WaveObservation.Rollback, 10, 4));
        Assert.Equal(4, run.Status.Rollback!.Confirmed);
        run.Expect<FinishRollback>(Obs(WaveObservation.Rollback, 10, 10));
        Assert.Equal(new RollbackStatus
        {
            Reason = "wave 'canary' unhealthy: cohort error rate 3.10% (310/10000) > ceiling 1.00%", By = "rollout", ThroughWave = 0,
            Targeted = 10, Confirmed = 10, StartedAt = T0.AddSeconds(90), AssignedAt = T0.AddSeconds(121), CompletedAt = T0.AddSeconds(121),
        }, run.Status.Rollback);
        Assert.Equal(new[] { "rollback-started", "rollback-assigned", "rolled-back" }, run.Status.Timeline.TakeLast(3).Select(e => e.Type));
        Assert.Equal("10/10 node(s) confirmed back on the previous package", run.Status.Timeline[^1].Message);
    }

    [Fact]
    public void A_rollback_covers_every_wave_started_so_far()
    {
        var run = new Run().Pass(0).Open(1).At(200);
        var decision = run.Tick(Obs(1, 20, 20, verdict: UnhealthyVerdict));
        var rollback = Assert.IsType<RolloutDecision.Rollback>(decision);
        Assert.Equal(1, rollback.ThroughWave);
        Assert.Equal(new[] { WaveState.Passed, WaveState.Failed, WaveState.Pending }, run.Status.Waves.Select(w => w.State));
    }

    [Fact]
    public void Rejections_within_the_gate_do_not_roll_back_and_count_toward_convergence_only_as_applied()
    {
        var plan = ThreeWaves with { Waves = [ThreeWaves.Waves[0] with { Gates = new Gates() with { MaxRejected = 1 } }, .. ThreeWaves.Waves.Skip(1)] };
        var run = new Run(plan).Open(0).At(30);
        Assert.Equal("Wait(10:00:35)", Describe(run.Tick(Obs(0, 10, 8, rejected: 1))));
        Assert.Equal("Wait(10:01:30)", Describe(run.Tick(Obs(0, 10, 9, rejected: 1))));
        Assert.Equal(1, run.Status.Waves[0].Rejected);
    }

    [Fact]
    public void Signals_are_kept_once_per_node_and_kind_and_only_while_nodes_run_the_package()
    {
        var fresh = new Run();
        Assert.Same(fresh.Status, fresh.Status.WithSignal(Crash("n-1"), T0)); // nothing touched yet

        var run = new Run().Open(0);
        var once = run.Status.WithSignal(Crash("n-1"), T0);
        Assert.Single(once.Signals);
        Assert.Same(once, once.WithSignal(Crash("n-1"), T0));
        Assert.Equal(2, once.WithSignal(new NodeSignal("n-1", SignalKind.Rejected, "node n-1 rejected the package"), T0).Signals.Count);
        Assert.Equal("node-signal", once.Timeline[^1].Type);
    }

    [Fact]
    public void Crashes_within_the_gate_do_not_roll_back()
    {
        var plan = ThreeWaves with { Waves = [ThreeWaves.Waves[0] with { Gates = new Gates() with { MaxCrashes = 1 } }, .. ThreeWaves.Waves.Skip(1)] };
        var run = new Run(plan).Open(0).At(30).Do(s => s.WithSignal(Crash("n-1"), T0.AddSeconds(30)));
        Assert.Equal("Observe(0)", Describe(run.Decide()));
        run.Do(s => s.WithSignal(Crash("n-2"), T0.AddSeconds(31)));
        Assert.Equal("Rollback(through 0): 2 node(s) crashed > max 1: node n-1 crashed 1 time(s) on the package (and 1 more node(s) crashed)",
            Describe(run.Decide()));
    }

    [Fact]
    public void The_timeline_keeps_the_newest_500_entries_and_counts_the_ones_it_dropped()
    {
        var run = Paused();
        var before = run.Status.TimelineTotal;
        Assert.Equal(0, run.Status.TimelineDropped);
        for (var i = 0; i < 300; i++)
        {
            run.Command(s => RolloutCommands.Resume(s, "alice", null, T0.AddSeconds(100 + i)))
               .Command(s => RolloutCommands.Pause(s, "alice", $"pause {i}", T0.AddSeconds(100 + i)));
        }
        Assert.Equal(RolloutStatus.MaxTimeline, run.Status.Timeline.Count);
        Assert.Equal("paused by alice: pause 299", run.Status.Timeline[^1].Message);
        Assert.Equal(before + 600, run.Status.TimelineTotal);
        Assert.Equal(before + 600 - RolloutStatus.MaxTimeline, run.Status.TimelineDropped);
    }

    [Fact]
    public void A_status_that_does_not_match_the_plan_pauses_instead_of_guessing()
    {
        var run = new Run();
        var broken = run.Status with { CurrentWave = 7 };
        var decision = RolloutPolicy.Decide(run.Spec, broken, RolloutConditions.None, null, T0, Settings);
        Assert.Equal("Pause: status has 3 wave(s) and current wave 7, the plan has 3: refusing to guess", Describe(decision));
    }

    [Theory]
    [InlineData(null, 60, 120)]
    [InlineData(null, 10, 60)]
    [InlineData(null, 300, 600)]
    [InlineData(45, 300, 45)]
    public void Inconclusive_grace_defaults_to_twice_the_bake_and_at_least_a_minute(int? configuredSeconds, int bakeSeconds, int expectedSeconds)
    {
        var settings = new RolloutSettings { InconclusiveGrace = configuredSeconds is { } s ? TimeSpan.FromSeconds(s) : null };
        var wave = new WaveSpec { Name = "w", Select = new WaveSelect { Percent = 100 }, BakeSeconds = bakeSeconds };
        Assert.Equal(TimeSpan.FromSeconds(expectedSeconds), settings.GraceFor(wave));
    }

    private static string Fingerprint(RolloutStatus s) =>
        $"{s.State}|{s.CurrentWave}|{string.Join(",", s.Waves.Select(w => $"{w.State}/{w.Targeted}/{w.Applied}/{w.Rejected}/{w.BakeUntil}/{w.Verdict?.Result}"))}|" +
        $"{s.Rollback}|{s.PausedReason}|{s.InconclusiveSince}|{s.Signals.Count}|{s.Timeline.Count}|{s.Timeline.LastOrDefault()}";
}
