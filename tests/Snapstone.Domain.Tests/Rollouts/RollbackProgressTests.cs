using Snapstone.Domain.Health;
using Snapstone.Domain.Rollouts;
using static Snapstone.Domain.Tests.Rollouts.RolloutPolicyTests;

namespace Snapstone.Domain.Tests.Rollouts;

/// <summary>What a rollback records as it goes out, and how closely the grain watches it.</summary>
public class RollbackProgressTests
{
    private static readonly NodeSignal Crash = new("n-1", SignalKind.Crash, "node n-1 crashed 1 time(s) on the package");

    /// <summary>A crash pre-empts the wave's first observation: the wave's applied count comes from the rollback's own answers.</summary>
    private static Run CutShort(int observedApplied)
    {
        var run = new Run().Open(0, targeted: 100);
        if (observedApplied > 0)
        {
            run.At(5).Expect<RolloutDecision.Wait>(new WaveObservation { Wave = 0, Targeted = 100, Applied = observedApplied });
        }
        return run.At(6).Do(s => s.WithSignal(Crash, T0.AddSeconds(6))).Expect<RolloutDecision.Rollback>();
    }

    [Theory]
    // observed before the crash, running it when told to go back → the wave's applied count after
    [InlineData(0, 37, 37)]
    [InlineData(0, 0, 0)]
    [InlineData(60, 37, 60)]
    [InlineData(0, 500, 100)]
    [InlineData(0, -3, 0)]
    public void A_wave_cut_short_by_a_rollback_counts_the_nodes_that_were_running_it(int observed, int ran, int applied)
    {
        var run = CutShort(observed).Do(s => s.RollbackAssigned(100, ran, T0.AddSeconds(6)));

        Assert.Equal(applied, run.Status.Waves[0].Applied);
        Assert.Equal(100, run.Status.Rollback!.Targeted);
        Assert.EndsWith($"{Math.Clamp(ran, 0, 100)} of them were running the rolled-back package", run.Status.Timeline[^1].Message);
    }

    /// <summary>The wave opened (its fan-out under way) and a crash rolled it back before the fan-out's count came back.</summary>
    private static Run StoppedWhileTelling() =>
        new Run().Expect<RolloutDecision.Assign>().At(1).Do(s => s.WithSignal(Crash, T0.AddSeconds(1))).Expect<RolloutDecision.Rollback>();

    public static TheoryData<string, Func<RolloutStatus>, int, bool> FanOutCounts => new()
    {
        // status when the fan-out's count comes back → wave 0's targeted after, whether the count was recorded
        { "applying, not yet assigned", () => new Run().Expect<RolloutDecision.Assign>().Status, 100, true },
        { "failed by a rollback while its nodes were told", () => StoppedWhileTelling().Status, 100, true },
        { "already assigned", () => new Run().Open(0, targeted: 40).Status, 40, false },
        { "rolled back and finished", () => StoppedWhileTelling().Status.RollbackFinished(0, 0, T0.AddSeconds(3)), 0, false },
    };

    [Theory]
    [MemberData(nameof(FanOutCounts))]
    public void A_waves_fan_out_count_is_recorded_once_even_when_the_wave_was_stopped_while_its_nodes_were_told(
        string _, Func<RolloutStatus> status, int targeted, bool recorded)
    {
        var before = status();
        var after = before.WaveAssigned(0, 100, T0.AddSeconds(2));

        Assert.Equal(targeted, after.Waves[0].Targeted);
        Assert.Equal(recorded, !ReferenceEquals(before, after));
        if (recorded)
        {
            Assert.Equal(before.Waves[0].State, after.Waves[0].State);
            Assert.Equal(TimelineTypes.WaveAssigned, after.Timeline[^1].Type);
            Assert.Same(after, after.WaveAssigned(0, 90, T0.AddSeconds(3)));
        }
    }

    [Fact]
    public void A_rollback_already_assigned_is_not_counted_again()
    {
        var run = CutShort(0).Do(s => s.RollbackAssigned(100, 37, T0.AddSeconds(6)));
        var before = run.Status;

        Assert.Same(before, before.RollbackAssigned(100, 90, T0.AddSeconds(7)));
    }

    public static TheoryData<string, Func<RolloutStatus>, int> Cadences => new()
    {
        // state, status → tick interval (ms) with a 1 s poll and a 200 ms rollback poll
        { "fresh rollout", () => new Run().Status, 1000 },
        { "wave applying", () => new Run().Open(0, targeted: 10_000).Status, 1000 },
        { "rolling back, not yet assigned", () => CutShort(0).Status, 1000 },
        { "rollback of 100 nodes", () => CutShort(0).Do(s => s.RollbackAssigned(100, 0, T0)).Status, 200 },
        { "rollback of 4,000 nodes", () => CutShort(0).Do(s => s.RollbackAssigned(4_000, 0, T0)).Status, 200 },
        { "rollback of 10,000 nodes", () => CutShort(0).Do(s => s.RollbackAssigned(10_000, 0, T0)).Status, 500 },
        { "rollback of 100,000 nodes", () => CutShort(0).Do(s => s.RollbackAssigned(100_000, 0, T0)).Status, 5000 },
    };

    [Theory]
    [MemberData(nameof(Cadences))]
    public void A_rollback_is_watched_more_closely_than_a_wave_but_never_floods_the_silo(string stage, Func<RolloutStatus> status, int milliseconds)
    {
        var settings = new RolloutSettings { PollInterval = TimeSpan.FromSeconds(1), RollbackPollInterval = TimeSpan.FromMilliseconds(200) };

        Assert.True(TimeSpan.FromMilliseconds(milliseconds) == settings.TickInterval(status()), $"{stage}: {settings.TickInterval(status()).TotalMilliseconds} ms");
    }

    [Fact]
    public void A_poll_faster_than_the_rollback_poll_is_kept_while_rolling_back()
    {
        var settings = new RolloutSettings { PollInterval = TimeSpan.FromMilliseconds(50), RollbackPollInterval = TimeSpan.FromMilliseconds(200) };

        Assert.Equal(TimeSpan.FromMilliseconds(50), settings.TickInterval(CutShort(0).Do(s => s.RollbackAssigned(100, 0, T0)).Status));
    }
}
