namespace Snapstone.Simulator.Tests;

public sealed class FleetHistoryTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 3, 9, 0, 0, TimeSpan.Zero);

    private static DateTimeOffset At(double seconds) => T0.AddSeconds(seconds);

    [Theory]
    [InlineData(9.0, 10.0)]
    [InlineData(10.0, 10.0)]
    [InlineData(10.3, 11.0)]
    [InlineData(12.0, 12.0)]
    [InlineData(12.5, null)]
    public void The_first_round_at_or_after_a_moment_is_the_one_that_reported_it(double moment, double? round)
    {
        var history = new FleetHistory();
        foreach (var start in new[] { 10.0, 11.0, 12.0 })
        {
            history.RoundStarted(At(start));
        }

        Assert.Equal(round is { } r ? At(r) : null, history.FirstRoundAt(At(moment)));
    }

    [Fact]
    public void The_fleet_is_back_when_the_last_node_that_ran_a_version_runs_the_good_one_again()
    {
        var history = new FleetHistory();
        history.Record(new NodeChange(At(10), "a", "u", NodeChangeKind.Applied, 8, "h8", 7));
        history.Record(new NodeChange(At(10), "b", "u", NodeChangeKind.Rejected, 8, "h8", 7));
        history.Record(new NodeChange(At(11), "c", "u", NodeChangeKind.Applied, 8, "h8", 7));
        history.Record(new NodeChange(At(14), "a", "u", NodeChangeKind.Applied, 7, "h7", 8));
        Assert.Null(history.LastBackOnAt("u", 8, 7));

        history.Record(new NodeChange(At(13), "c", "u", NodeChangeKind.Applied, 7, "h7", 8));

        Assert.Equal(At(14), history.LastBackOnAt("u", 8, 7));
        Assert.Equal(TimeSpan.FromSeconds(4), history.TimeToSafe("u", 8, 7));
        Assert.Null(history.LastBackOnAt("u", 9, 7));
        Assert.Null(history.LastBackOnAt("u", 8, 6));
    }
}
