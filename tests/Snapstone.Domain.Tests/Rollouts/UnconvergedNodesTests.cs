using Snapstone.Domain.Rollouts;
using static Snapstone.Domain.Rollouts.RolloutDecision;
using static Snapstone.Domain.Tests.Rollouts.RolloutPolicyTests;

namespace Snapstone.Domain.Tests.Rollouts;

/// <summary>A wave whose nodes do not converge never passes, and pauses at the deadline naming them.</summary>
public class UnconvergedNodesTests
{
    private static WaveObservation Obs(int targeted, int applied, params string[] unconverged) =>
        new() { Wave = 0, Targeted = targeted, Applied = applied, Unconverged = unconverged };

    private const string Stuck = "wave 'canary' stuck applying: ";

    [Theory]
    [InlineData(1, 0, new[] { "ams01-n003" }, Stuck + "1 of 1 node(s) have not converged after 10 min (applied 0, rejected 0, need 1); not converged: ams01-n003")]
    [InlineData(10, 7, new[] { "n-1", "n-2", "n-3" }, Stuck + "3 of 10 node(s) have not converged after 10 min (applied 7, rejected 0, need 9); not converged: n-1, n-2, n-3")]
    [InlineData(10, 2, new[] { "n-1", "n-2", "n-3", "n-4", "n-5" }, Stuck + "8 of 10 node(s) have not converged after 10 min (applied 2, rejected 0, need 9); not converged: n-1, n-2, n-3, n-4, n-5 and 3 more")]
    [InlineData(10, 2, new[] { "n-1", "n-2", "n-3", "n-4", "n-5", "n-6", "n-7" }, Stuck + "8 of 10 node(s) have not converged after 10 min (applied 2, rejected 0, need 9); not converged: n-1, n-2, n-3, n-4, n-5 and 3 more")]
    [InlineData(10, 8, new[] { "n-1", "n-1", "" }, Stuck + "2 of 10 node(s) have not converged after 10 min (applied 8, rejected 0, need 9); not converged: n-1 and 1 more")]
    [InlineData(10, 7, new string[0], Stuck + "3 of 10 node(s) have not converged after 10 min (applied 7, rejected 0, need 9)")]
    public void A_wave_stuck_past_the_deadline_pauses_naming_its_unconverged_nodes(int targeted, int applied, string[] unconverged, string reason)
    {
        var run = new Run().Open(0, targeted).At(600);

        var decision = run.Tick(Obs(targeted, applied, unconverged));

        Assert.Equal("Pause: " + reason, Describe(decision));
        Assert.Equal(RolloutState.Paused, decision.Status.State);
        Assert.Equal(reason, decision.Status.PausedReason);
        Assert.Equal("paused: " + reason, decision.Status.Timeline[^1].Message);
    }

    [Theory]
    [InlineData(599)]
    [InlineData(30)]
    public void Before_the_deadline_a_wave_with_an_unconverged_node_waits_and_never_bakes(int at)
    {
        var run = new Run().Open(0, targeted: 1).At(at);

        var decision = run.Tick(Obs(1, 0, "ams01-n003"));

        Assert.IsType<Wait>(decision);
        Assert.Equal(WaveState.Applying, decision.Status.Waves[0].State);
    }

    [Fact]
    public void A_wave_never_passes_while_too_few_of_its_nodes_converged_however_long_it_is_polled()
    {
        var run = new Run().Open(0, targeted: 10);
        for (var t = 0; t < 600; t += 5)
        {
            var decision = run.At(t).Tick(Obs(10, 8, "n-9", "n-10"));
            Assert.True(decision is Wait, $"at {t} s: {Describe(decision)}");
            Assert.Equal(WaveState.Applying, run.Status.Waves[0].State);
        }
        Assert.IsType<Pause>(run.At(600).Tick(Obs(10, 8, "n-9", "n-10")));
    }
}
