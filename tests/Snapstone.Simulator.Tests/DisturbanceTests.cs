using Microsoft.Extensions.Time.Testing;
using Snapstone.Simulator.Consumers;
using Snapstone.Simulator.Shape;
using Snapstone.Simulator.Traffic;

namespace Snapstone.Simulator.Tests;

public sealed class DisturbanceTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 3, 10, 0, 1, TimeSpan.Zero);

    /// <summary>20% from 10:00:01 for 3 s; the interval's bounds in seconds after 10:00:00.</summary>
    public static TheoryData<string, double, double, double> Intervals => new()
    {
        { "before it", 0.75, 1.0, 0 },
        { "inside it", 1.5, 1.75, 0.2 },
        { "across its start, a quarter inside", 0.25, 1.25, 0.05 },
        { "across its end, half inside", 3.875, 4.125, 0.1 },
        { "covering all of it", 0, 5, 0.12 },
        { "after it", 4.0, 4.25, 0 },
        { "no length, inside", 2, 2, 0.2 },
        { "no length, at its end", 4, 4, 0 },
    };

    [Theory]
    [MemberData(nameof(Intervals))]
    public void A_disturbance_fails_its_share_for_the_part_of_an_interval_it_covers(string @case, double from, double to, double expected)
    {
        var window = new Disturbance(0.2, TimeSpan.FromSeconds(3)).From(T0);
        var zero = T0.AddSeconds(-1);

        Assert.True(Math.Abs(expected - window.ErrorShareOver(zero.AddSeconds(from), zero.AddSeconds(to))) < 1e-9, @case);
    }

    public static TheoryData<double, double, string> Refused => new()
    {
        { 0, 3, "disturbance errorShare must be above 0 and at most 1 (got 0)" },
        { 1.5, 3, "disturbance errorShare must be above 0 and at most 1 (got 1.5)" },
        { 0.2, 0, "disturbance length must be positive (got 00:00:00)" },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public void A_disturbance_out_of_range_is_refused_naming_the_field(double share, double seconds, string message)
    {
        Assert.Equal(message, Assert.Throws<ArgumentException>(() => new Disturbance(share, TimeSpan.FromSeconds(seconds)).Check()).Message);
    }

    [Fact]
    public async Task Every_node_fails_the_disturbance_s_share_while_it_lasts_and_only_then_the_same_errors_for_the_same_seed()
    {
        var runs = await Task.WhenAll(RunAsync(), RunAsync());

        // Quiet nodes fail about 0.1% of their requests; during the 2 s of the disturbance every one fails about 30%.
        var (before, during, after) = runs[0];
        Assert.All(before, rate => Assert.InRange(rate, 0, 0.01));
        Assert.All(during, rate => Assert.InRange(rate, 0.2, 0.4));
        Assert.All(after, rate => Assert.InRange(rate, 0, 0.01));
        Assert.Equal(runs[0].Before, runs[1].Before);
        Assert.Equal(runs[0].During, runs[1].During);
        Assert.Equal(runs[0].After, runs[1].After);
    }

    /// <summary>Ticks 60 quiet nodes a second at a time: one tick before, two inside, one after a 30% disturbance of 2 s.</summary>
    private static async Task<(double[] Before, double[] During, double[] After)> RunAsync()
    {
        var time = new FakeTimeProvider(T0);
        var fleet = new Fleet(new FleetOptions
        {
            Shape = new FleetShape { Nodes = 60, Pops = 3, Seed = 7, FlakyNodeShare = 0, LowTrafficPopShare = 0 },
            Consumers = new Dictionary<string, IConsumer>(),
            OtherUnits = null,
            ReportAfterChange = false,
        }, new HttpClient(new FakeSnapstone()) { BaseAddress = new Uri("http://snapstone.test") }, time);
        async Task<double[]> TickAsync()
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await fleet.TickAsync(CancellationToken.None);
            return [.. fleet.Nodes.Select(n => n.LastMetrics is { Requests: > 0 } m ? (double)m.Errors / m.Requests : 0)];
        }

        var before = await TickAsync();
        var window = fleet.Disturb(new Disturbance(0.3, TimeSpan.FromSeconds(2)));
        Assert.Equal((time.GetUtcNow(), time.GetUtcNow().AddSeconds(2)), (window.Start, window.End));
        double[] during = [.. await TickAsync(), .. await TickAsync()];
        var after = await TickAsync();
        return (before, during, after);
    }
}
