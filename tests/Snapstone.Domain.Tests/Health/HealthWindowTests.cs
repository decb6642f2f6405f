using Snapstone.Domain.Health;
using Snapstone.Domain.Nodes;

namespace Snapstone.Domain.Tests.Health;

public class HealthWindowTests
{
    // A minute boundary: with the default 60 s span, slots (0.9375 s) start exactly here.
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 10, 0, 0, TimeSpan.Zero);

    private static NodeMetrics M(long requests, long errors = 0, double p99 = 40, int crashes = 0) =>
        new() { Requests = requests, Errors = errors, P99LatencyMs = p99, Crashes = crashes };

    [Theory]
    [InlineData("same slot, seconds later", 30_000, 180, 1, 55.0, 2)]
    [InlineData("just inside the window", 59_900, 180, 1, 55.0, 2)]
    [InlineData("slot has left the window", 61_000, 0, 0, 0.0, 0)]
    public void Reports_in_one_slot_are_summed_until_the_slot_leaves_the_window(string because, int nowMs, long requests, long errors, double p99, int reports)
    {
        var window = new HealthWindow();
        window.Add(T0.AddMilliseconds(200), M(100, 1, 40));
        window.Add(T0.AddMilliseconds(500), M(80, 0, 55));

        var totals = window.Totals(T0.AddMilliseconds(nowMs));

        Assert.True(new HealthTotals { Requests = requests, Errors = errors, P99LatencyMs = p99, Reports = reports } == totals, because);
    }

    [Theory]
    [InlineData(119, null, 60, 600)]  // reports at 60 s .. 119 s
    [InlineData(119, 100, 20, 200)]   // since 100 s: reports at 100 s .. 119 s
    public void Totals_cover_the_last_span_or_since_a_moment(int nowSeconds, int? sinceSeconds, int reports, long requests)
    {
        var window = new HealthWindow();
        for (var s = 0; s < 120; s++)
        {
            window.Add(T0.AddSeconds(s), M(10, 0, 40 + s));
        }

        var totals = window.Totals(T0.AddSeconds(nowSeconds), sinceSeconds is { } since ? T0.AddSeconds(since) : null);

        Assert.Equal(reports, totals.Reports);
        Assert.Equal(requests, totals.Requests);
        Assert.Equal(40 + nowSeconds, totals.P99LatencyMs);
    }

    [Fact]
    public void Thousands_of_reports_fit_in_the_window_without_losing_traffic()
    {
        var window = new HealthWindow();
        for (var i = 0; i < 10_000; i++)
        {
            window.Add(T0.AddMilliseconds(i * 5), M(3, i % 100 == 0 ? 1 : 0));
        }
        var totals = window.Totals(T0.AddSeconds(50));
        Assert.Equal(30_000, totals.Requests);
        Assert.Equal(100, totals.Errors);
        Assert.Equal(10_000, totals.Reports);
    }

    [Fact]
    public void A_late_report_inside_the_window_lands_in_its_own_slot_between_the_others()
    {
        var window = new HealthWindow();
        window.Add(T0.AddSeconds(1), M(10));
        window.Add(T0.AddSeconds(10), M(30));
        window.Add(T0.AddSeconds(5), M(20, 2)); // arrives last, belongs in between

        var series = window.Series(T0.AddSeconds(20))!; // slots of 0.9375 s: 1 s is slot 1, 5 s slot 5, 10 s slot 10

        Assert.Equal([10L, 0, 0, 0, 20, 0, 0, 0, 0, 30], series.Requests);
        Assert.Equal(2, window.Totals(T0.AddSeconds(20)).Errors);
    }

    [Theory]
    [InlineData(1)]    // every slot of the window holds a report
    [InlineData(5)]    // a node at the usual 5 s cadence
    [InlineData(300)]  // a node that reports every 5 minutes: one slot at a time
    public void Reporting_for_an_hour_at_any_cadence_keeps_exactly_the_last_minute(int everySeconds)
    {
        var window = new HealthWindow();
        var end = 3_600;
        for (var s = 0; s <= end; s += everySeconds)
        {
            window.Add(T0.AddSeconds(s), M(7));
        }
        var now = T0.AddSeconds(end);
        var inWindow = Enumerable.Range(0, end / everySeconds + 1).Count(i => T0.AddSeconds(i * everySeconds).UtcTicks / window.SlotTicks > now.UtcTicks / window.SlotTicks - HealthWindow.Slots);

        Assert.Equal(7L * inWindow, window.Totals(now).Requests);
    }

    [Fact]
    public void A_report_older_than_its_slot_holds_is_dropped()
    {
        var window = new HealthWindow();
        window.Add(T0.AddSeconds(120), M(10));
        window.Add(T0.AddSeconds(0), M(1000, 1000)); // same wheel position, one minute earlier
        var totals = window.Totals(T0.AddSeconds(120));
        Assert.Equal(10, totals.Requests);
        Assert.Equal(0, totals.Errors);
    }

    [Theory]
    [InlineData(-5, 3, 0, 0)]
    [InlineData(10, 50, 10, 10)]
    [InlineData(10, -1, 10, 0)]
    public void Impossible_numbers_are_clamped(long requests, long errors, long expectedRequests, long expectedErrors)
    {
        var window = new HealthWindow();
        window.Add(T0, M(requests, errors, double.NaN, -2));
        var totals = window.Totals(T0);
        Assert.Equal(expectedRequests, totals.Requests);
        Assert.Equal(expectedErrors, totals.Errors);
        Assert.Equal(0, totals.Crashes);
        Assert.Equal(0, totals.P99LatencyMs);
    }

    [Theory]
    [InlineData(100, 2, 0.02, 45.0)]
    [InlineData(99, 2, null, null)]
    public void Baseline_needs_enough_requests_to_give_a_rate(long requests, long errors, double? rate, double? p99)
    {
        var window = new HealthWindow();
        window.Add(T0, M(requests, errors, 45));
        var baseline = window.CaptureBaseline(T0.AddSeconds(1));
        window.Add(T0.AddSeconds(2), M(1000, 500, 900)); // after the change: must not move the baseline

        Assert.Equal(requests, baseline.Requests);
        Assert.Equal(rate, window.BaselineErrorRate);
        Assert.Equal(p99, window.BaselineP99LatencyMs);
    }

    [Fact]
    public void Sample_carries_totals_since_the_package_and_the_baseline()
    {
        var labels = new Dictionary<string, string> { ["proxy"] = "fl2" };
        var window = new HealthWindow();
        window.Add(T0, M(200, 2, 40));
        window.CaptureBaseline(T0.AddSeconds(1));
        window.Add(T0.AddSeconds(5), M(300, 30, 80, crashes: 1));

        var sample = window.Sample("n-1", T0.AddSeconds(10), since: T0.AddSeconds(5), reported: true, rejected: false, labels);

        Assert.Equal(new NodeSample
        {
            NodeId = "n-1", Requests = 300, Errors = 30, P99LatencyMs = 80, Crashes = 1, Reported = true, Rejected = false,
            Labels = labels, BaselineErrorRate = 0.01, BaselineP99LatencyMs = 40,
            Series = new SlotSeries { SlotTicks = SlotTicks, FirstSlot = Slot(T0.AddSeconds(5)), Requests = [300], Errors = [30], P99 = [80] },
        }, sample);
    }

    private const long SlotTicks = 60 * TimeSpan.TicksPerSecond / HealthWindow.Slots;

    private static long Slot(DateTimeOffset at) => at.UtcTicks / SlotTicks;

    [Fact]
    public void The_series_holds_each_slot_from_the_first_report_on_with_zeros_where_none_landed()
    {
        var window = new HealthWindow();
        window.Add(T0.AddMilliseconds(200), M(100, 1, 40));
        window.Add(T0.AddMilliseconds(500), M(80, 0, 55));
        window.Add(T0.AddMilliseconds(2000), M(50, 5, 30));

        var series = window.Series(T0.AddSeconds(3), since: T0);

        Assert.Equal(new SlotSeries { SlotTicks = SlotTicks, FirstSlot = Slot(T0), Requests = [180, 0, 50], Errors = [1, 0, 5], P99 = [55, 0, 30] }, series);
        Assert.Equal(T0.AddMilliseconds(1875), series!.StartOf(2));
        Assert.Null(window.Series(T0.AddSeconds(3), since: T0.AddSeconds(2.9)));
    }

    [Theory]
    [InlineData("the rollout's start is later than the package's", 5, 20, 20)]
    [InlineData("the package's is later", 20, 5, 20)]
    [InlineData("no start from the rollout", 10, null, 10)]
    public void A_sample_starts_at_the_later_of_the_package_and_the_stretch_the_rollout_judges(string because, int sinceSeconds, int? fromSeconds, int expectedFirst)
    {
        var window = new HealthWindow();
        for (var s = 0; s < 30; s++)
        {
            window.Add(T0.AddSeconds(s), M(10, 1));
        }

        var sample = window.Sample("n-1", T0.AddSeconds(29.5), T0.AddSeconds(sinceSeconds), reported: true, rejected: false,
            new Dictionary<string, string>(), from: fromSeconds is { } f ? T0.AddSeconds(f) : null);

        Assert.True(Slot(T0.AddSeconds(expectedFirst)) == sample.Series!.FirstSlot, because);
        Assert.Equal(10L * (30 - expectedFirst), sample.Requests);
        Assert.Equal(sample.Requests, sample.Series.Requests.Sum());
    }

    [Fact]
    public void A_node_not_on_the_package_brings_no_traffic_or_crashes_from_the_one_it_left()
    {
        var window = new HealthWindow();
        window.CaptureBaseline(T0);
        window.Add(T0.AddSeconds(1), M(300, 300, 80, crashes: 2));

        var sample = window.Sample("n-1", T0.AddSeconds(1.5), since: T0.AddSeconds(1.5), reported: false, rejected: false, new Dictionary<string, string>());

        Assert.Equal((0L, 0L, 0, false), (sample.Requests, sample.Errors, sample.Crashes, sample.Reported));
        Assert.Null(sample.Series);
        Assert.Null(HealthPolicy.Breach(sample, new Domain.Plans.Gates()));
    }

    [Theory]
    // crash report, then the first report on the new package, ms after T0 (slot 0.9375 s) → crashes since the switch, in the window
    [InlineData(100, 600, 0, 1)]  // same slot: split off
    [InlineData(100, 1000, 0, 1)] // next slot: apart already
    [InlineData(900, 900, 0, 1)]  // reported the moment before the switch: still the old package's
    public void A_package_switch_splits_its_slot_so_the_old_package_crashes_stay_behind(int crashAtMs, int switchAtMs, int since, int inWindow)
    {
        var window = new HealthWindow();
        var crash = T0.AddMilliseconds(crashAtMs);
        var at = T0.AddMilliseconds(switchAtMs);
        window.Add(crash, M(100, 100, 80, crashes: 1));

        window.Split(at);
        window.Add(at, M(50, 0, 20));

        var now = T0.AddSeconds(2);
        Assert.Equal((since, 50L), (window.Totals(now, since: at).Crashes, window.Totals(now, since: at).Requests));
        Assert.Equal(inWindow, window.Totals(now).Crashes);
        Assert.Equal(150, window.Totals(now).Requests);
    }

    [Fact]
    public void Custom_span_sets_the_window()
    {
        var window = new HealthWindow(TimeSpan.FromSeconds(10));
        window.Add(T0, M(10));
        Assert.Equal(10, window.Totals(T0.AddSeconds(9)).Requests);
        Assert.Equal(0, window.Totals(T0.AddSeconds(11)).Requests);
    }

    [Fact]
    public void A_span_shorter_than_the_wheel_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new HealthWindow(TimeSpan.FromTicks(10)));
    }
}
