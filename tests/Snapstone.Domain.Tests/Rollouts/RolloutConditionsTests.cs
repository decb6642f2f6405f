using Snapstone.Domain.BreakGlass;
using Snapstone.Domain.Health;
using Snapstone.Domain.Plans;
using Snapstone.Domain.Rollouts;
using static Snapstone.Domain.Rollouts.RolloutDecision;
using static Snapstone.Domain.Tests.Rollouts.RolloutPolicyTests;

namespace Snapstone.Domain.Tests.Rollouts;

/// <summary>Freezes are inputs: every tick Decide is told which apply and derives the pause (and its end) itself.</summary>
public class RolloutConditionsTests
{
    private static readonly Freeze UnitFreeze = new() { Unit = "bot-features", Reason = "edge on fire", By = "oncall", At = T0, Until = T0.AddHours(1) };
    private static readonly Freeze GlobalFreeze = new() { Unit = null, Reason = "holiday", By = "oncall", At = T0 };
    private static readonly Freeze OtherUnit = UnitFreeze with { Unit = "other-unit" };
    private static readonly RolloutConditions Frozen = RolloutConditions.Of([UnitFreeze]);
    private static readonly RolloutConditions Thawed = RolloutConditions.None;

    private static WaveObservation Obs(int wave, int targeted, int applied) => new() { Wave = wave, Targeted = targeted, Applied = applied };

    private static readonly Plan CanaryNeedsApproval = ThreeWaves with
    {
        Waves = [ThreeWaves.Waves[0] with { RequiresApproval = true }, .. ThreeWaves.Waves.Skip(1)],
    };

    /// <summary>Wave 0 assigned and baking until 10:01:00.</summary>
    private static Run Baking() => new Run().Open(0).Expect<Wait>(Obs(0, 10, 10)).At(10);

    private static Run FrozenPaused() => Baking().With(Frozen).Expect<Pause>().At(20);

    private static NodeSignal Crash(string node) => new(node, SignalKind.Crash, $"node {node} crashed 1 time(s) on the package");

    /// <summary>Each case: a rollout, the conditions of the next tick; the decision, the state it leaves and the kind of pause.</summary>
    internal static readonly Dictionary<string, Func<(Run Run, RolloutConditions Conditions)>> Cases = new()
    {
        ["baking, its unit frozen"] = () => (Baking(), Frozen),
        ["baking, all units frozen"] = () => (Baking(), RolloutConditions.Of([GlobalFreeze])),
        ["baking, another unit frozen"] = () => (Baking(), RolloutConditions.Of([OtherUnit])),
        ["baking, the freeze expired"] = () => (Baking().At(3700), Frozen),
        ["pending, frozen"] = () => (new Run(), Frozen),
        ["awaiting approval, frozen"] = () => (new Run(CanaryNeedsApproval).Expect<AwaitApproval>(), Frozen),
        ["paused by the freeze, still frozen"] = () => (FrozenPaused(), Frozen),
        ["paused by the freeze, freeze lifted"] = () => (FrozenPaused(), Thawed),
        ["paused by a person, then frozen"] = () => (Baking().Command(s => RolloutCommands.Pause(s, "alice", "a ticket", T0.AddSeconds(10))), Frozen),
        ["paused by a person over the freeze, freeze lifted"] = () =>
            (FrozenPaused().Command(s => RolloutCommands.Pause(s, "alice", "keep it stopped", T0.AddSeconds(20))), Thawed),
        ["baking with a crash signal, frozen"] = () => (Baking().Do(s => s.WithSignal(Crash("n-1"), T0.AddSeconds(10))), Frozen),
        ["paused by the freeze, a crash signal"] = () => (FrozenPaused().Do(s => s.WithSignal(Crash("n-1"), T0.AddSeconds(20))), Frozen),
        ["rolling back, frozen"] = () => (Baking().Command(s => RolloutCommands.Abort(s, "alice", "wrong file", T0.AddSeconds(10))), Frozen),
        ["emergency deploy, frozen"] = () => (new Run { Spec = new Run().Spec with { BreakGlass = true } }, Frozen),
        ["baking, freezes unknown"] = () => (Baking(), RolloutConditions.Unknown),
        ["pending, freezes unknown"] = () => (new Run(), RolloutConditions.Unknown),
        ["baking with a crash signal, freezes unknown"] = () => (Baking().Do(s => s.WithSignal(Crash("n-1"), T0.AddSeconds(10))), RolloutConditions.Unknown),
    };


    [Theory]
    [InlineData("baking, its unit frozen", "Pause: unit 'bot-features' is frozen by oncall until 2026-01-01T11:00:00Z: edge on fire", RolloutState.Paused, "Frozen")]
    [InlineData("baking, all units frozen", "Pause: all units are frozen (global freeze) by oncall: holiday", RolloutState.Paused, "Frozen")]
    [InlineData("baking, another unit frozen", "Observe(0)", RolloutState.Running, null)]
    [InlineData("baking, the freeze expired", "Observe(0)", RolloutState.Running, null)]
    [InlineData("pending, frozen", "Pause: unit 'bot-features' is frozen by oncall until 2026-01-01T11:00:00Z: edge on fire", RolloutState.Paused, "Frozen")]
    [InlineData("awaiting approval, frozen", "Pause: unit 'bot-features' is frozen by oncall until 2026-01-01T11:00:00Z: edge on fire", RolloutState.Paused, "Frozen")]
    [InlineData("paused by the freeze, still frozen", "Wait(11:00:00)", RolloutState.Paused, "Frozen")]
    [InlineData("paused by the freeze, freeze lifted", "Resume", RolloutState.Running, null)]
    [InlineData("paused by a person, then frozen", "Wait(11:00:00)", RolloutState.Paused, "Manual")]
    [InlineData("paused by a person over the freeze, freeze lifted", "Wait(none)", RolloutState.Paused, "Manual")]
    [InlineData("baking with a crash signal, frozen", "Rollback(through 0): 1 node(s) crashed > max 0: node n-1 crashed 1 time(s) on the package", RolloutState.RollingBack, null)]
    [InlineData("paused by the freeze, a crash signal", "Rollback(through 0): 1 node(s) crashed > max 0: node n-1 crashed 1 time(s) on the package", RolloutState.RollingBack, null)]
    [InlineData("rolling back, frozen", "Rollback(through 0): aborted by alice: wrong file", RolloutState.RollingBack, null)]
    [InlineData("emergency deploy, frozen", "Assign(0)", RolloutState.Running, null)]
    [InlineData("baking, freezes unknown", "Wait(10:00:15)", RolloutState.Running, null)]
    [InlineData("pending, freezes unknown", "Wait(10:00:05)", RolloutState.Pending, null)]
    [InlineData("baking with a crash signal, freezes unknown", "Rollback(through 0): 1 node(s) crashed > max 0: node n-1 crashed 1 time(s) on the package", RolloutState.RollingBack, null)]
    public void Decide_derives_the_pause_from_the_freezes_it_is_given(string name, string expected, RolloutState state, string? pause)
    {
        var (run, conditions) = Cases[name]();

        var decision = run.With(conditions).Decide();

        Assert.Equal(expected, Describe(decision));
        Assert.Equal(state, decision.Status.State);
        Assert.Equal(pause, decision.Status.Pause?.GetType().Name);
    }

    [Fact]
    public void Every_case_is_in_the_table()
    {
        var tested = typeof(RolloutConditionsTests).GetMethod(nameof(Decide_derives_the_pause_from_the_freezes_it_is_given))!
            .GetCustomAttributes(typeof(InlineDataAttribute), false).Cast<InlineDataAttribute>().Select(a => (string)a.GetData(null!).First()[0]);
        Assert.Equal(Cases.Keys.Order(), tested.Order());
    }

    [Fact]
    public void A_rollout_paused_by_a_freeze_moves_again_when_the_freeze_lifts_and_asks_for_approval_again_if_it_was_waiting()
    {
        var run = new Run(CanaryNeedsApproval).Expect<AwaitApproval>().With(Frozen).Expect<Pause>().At(30).With(Thawed);

        run.Expect<Resume>();
        Assert.Equal("resumed: the freeze by oncall no longer applies", run.Status.Timeline[^1].Message);
        Assert.Equal(T0.AddSeconds(30), run.Status.ResumedAt);
        Assert.Equal("AwaitApproval(0)", Describe(run.Tick()));
    }

    [Fact]
    public void A_freeze_pause_is_a_timeline_entry_naming_the_freeze_and_no_string_names_who_paused()
    {
        var run = FrozenPaused();
        Assert.Equal("paused: unit 'bot-features' is frozen by oncall until 2026-01-01T11:00:00Z: edge on fire", run.Status.Timeline[^1].Message);
        Assert.Equal(new PauseReason.Frozen(UnitFreeze), run.Status.Pause);

        // A token named like the old freeze actor pauses as a person: the freeze ending does not resume it.
        run.Command(s => RolloutCommands.Pause(s, "freeze", "a person whose token is called freeze", T0.AddSeconds(25))).With(Thawed);
        Assert.Equal("Wait(none)", Describe(run.Tick()));
        Assert.Equal(new PauseReason.Manual("freeze", "a person whose token is called freeze"), run.Status.Pause);
    }

    [Fact]
    public void Resuming_is_refused_while_a_freeze_holds_the_unit()
    {
        var run = FrozenPaused();
        var refused = RolloutCommands.Resume(run.Status, "alice", "let me", T0.AddSeconds(30), UnitFreeze);
        Assert.Equal(new Refusal(ProblemKind.Conflict, "unit 'bot-features' is frozen by oncall until 2026-01-01T11:00:00Z: edge on fire; lift it before resuming"),
            refused.Refusal);
        Assert.Same(run.Status, refused.Status);
    }

    [Theory]
    [InlineData("ci", "ci", "ci created this rollout and may not approve it; someone else must")]
    [InlineData("dana", "dana", "dana wrote package v8 and may not approve its rollout; someone else must")]
    [InlineData("Dana", "dana", "Dana wrote package v8 and may not approve its rollout; someone else must")]
    [InlineData("erin", "dana", null)]
    public void Neither_the_creator_nor_the_package_author_may_approve(string actor, string author, string? refusal)
    {
        var run = new Run(CanaryNeedsApproval) { Spec = new Run(CanaryNeedsApproval).Spec with { PackageAuthor = author } }.Expect<AwaitApproval>();
        var result = RolloutCommands.Approve(run.Spec, run.Status, actor, "looks fine", T0);
        Assert.Equal(refusal, result.Refusal?.Message);
        Assert.Equal(refusal is null ? null : ProblemKind.Forbidden, result.Refusal?.Kind);
    }

    [Fact]
    public void The_approval_prompt_names_everyone_who_may_not_approve()
    {
        var run = new Run(CanaryNeedsApproval) { Spec = new Run(CanaryNeedsApproval).Spec with { PackageAuthor = "dana" } }.Expect<AwaitApproval>();
        Assert.Equal("wave 'canary' needs approval by someone other than ci and dana", run.Status.Timeline[^1].Message);
    }
}
