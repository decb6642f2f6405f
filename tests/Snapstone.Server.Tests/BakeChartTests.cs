using System.Globalization;
using Snapstone.Domain.Health;
using Snapstone.Domain.Rollouts;
using Snapstone.Server.Http;
using Snapstone.Server.OperatorConsole;

namespace Snapstone.Server.Tests;

/// <summary>The rollout page's chart maps series to SVG path points: gaps skipped, one value per slot, y scaled to the highest of a panel's lines.</summary>
public sealed class BakeChartTests
{
    /// <summary>A 300 × 100 plot without margins: x 0–300 left to right, y 100 (the axis) to 0 (the max).</summary>
    private static readonly ChartFrame Plot = new(300, 100, 0, 0, 0, 0);

    [Theory]
    [InlineData("", "", "")]
    [InlineData("5:0.5", "", "M150,0 h0")]
    [InlineData("0:0 10:0", "", "M0,100 L300,100")]
    [InlineData("0:2 10:2", "", "M0,0 L300,0")]
    [InlineData("0:1 1:4 2:2", "", "M0,75 L150,0 L300,50")]
    [InlineData("2:2 0:1 1:4", "", "M0,75 L150,0 L300,50")]
    [InlineData("0:0 10:1 20:NaN 30:0.5", "", "M0,100 L100,0 M300,50 h0")]
    [InlineData("0:NaN 10:1 20:1", "", "M150,0 L300,0")]
    [InlineData("0:NaN", "", "")]
    [InlineData("0:1 10:1", "0:4", "M0,75 L300,75")]
    [InlineData("0:1 10:1", "-10:NaN 20:NaN", "M100,0 L200,0")]
    [InlineData("0:0.001 30:0.002", "15:0.003", "M0,66.7 L300,33.3")]
    public void A_line_is_scaled_to_the_panel_and_breaks_where_a_slot_has_no_value(string line, string other, string path)
    {
        var points = Points(line);
        Assert.Equal(path, BakeChart.Path(points, ChartScale.Of(points, Points(other)), Plot));
    }

    [Fact]
    public void Nothing_to_plot_scales_to_one_and_margins_move_the_plot()
    {
        Assert.Equal(new ChartScale(0, 1, 1), ChartScale.Of([], []));
        Assert.Equal(new ChartScale(3, 3, 1), ChartScale.Of([], [new ChartPoint(3, double.NaN)]));
        var framed = new ChartFrame(320, 120, 15, 5, 10, 10);
        Assert.Equal("M15,110 L315,10", BakeChart.Path(Points("0:0 4:8"), ChartScale.Of(Points("0:0 4:8")), framed));
    }

    [Fact]
    public void Overlapping_looks_give_one_value_per_slot_the_newer_look_s_and_a_slot_without_traffic_is_a_gap()
    {
        var start = new DateTimeOffset(2026, 12, 2, 5, 0, 0, TimeSpan.Zero);
        var second = TimeSpan.FromSeconds(1);
        var older = Look(start.AddSeconds(2), Slot(start, 100, 1, 40, 200, 1, 30), Slot(start + second, 50, 0, 45, 200, 2, 31));
        var newer = Look(start.AddSeconds(3), Slot(start + second, 100, 2, 44, 400, 4, 32), Slot(start + 2 * second, 0, 0, 0, 100, 0, 33));

        var slots = BakeChart.Slots([newer, older]);
        Assert.Equal([start, start + second, start + 2 * second], slots.Select(s => s.At));
        Assert.Equal([100L, 100, 0], slots.Select(s => s.CohortRequests));

        var lines = BakeChart.Lines(slots, start + second);
        Assert.Equal([-1.0, 0, 1], lines.CohortErrorRate.Select(p => p.X));
        Assert.Equal([0.01, 0.02, double.NaN], lines.CohortErrorRate.Select(p => p.Y));
        Assert.Equal([0.005, 0.01, 0], lines.ControlErrorRate.Select(p => p.Y));
        Assert.Equal([40.0, 44, double.NaN], lines.CohortP99.Select(p => p.Y));
        Assert.Equal([30.0, 32, 33], lines.ControlP99.Select(p => p.Y));
    }

    [Theory]
    [InlineData("", 0)]
    [InlineData("pending pending pending", 0)]
    [InlineData("applying pending pending", 0)]
    [InlineData("passed baking pending", 1)]
    [InlineData("passed passed pending", 1)]
    [InlineData("passed passed passed", 2)]
    [InlineData("failed pending pending", 0)]
    public void The_chart_opens_on_the_wave_in_flight_or_the_last_one_judged(string states, int wave)
    {
        var waves = states.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(s =>
        {
            var state = Enum.Parse<WaveState>(s, ignoreCase: true);
            return new WaveResponse(s, state, 4, 4, 0, 4, 0, null, null,
                state == WaveState.Passed ? new VerdictResponse(VerdictResult.Healthy, []) : null, 2, false, null);
        }).ToList();
        Assert.Equal(wave, BakeChart.DefaultWave(waves));
    }

    private static List<ChartPoint> Points(string line) =>
    [
        .. line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(p => p.Split(':')).Select(p =>
            new ChartPoint(double.Parse(p[0], CultureInfo.InvariantCulture), double.Parse(p[1], CultureInfo.InvariantCulture))),
    ];

    private static EvidenceSlotResponse Slot(DateTimeOffset at, long cohortRequests, long cohortErrors, double cohortP99, long controlRequests, long controlErrors, double controlP99) =>
        new(at, cohortRequests, cohortErrors, cohortP99, controlRequests, controlErrors, controlP99);

    private static LookResponse Look(DateTimeOffset at, params EvidenceSlotResponse[] slots)
    {
        var side = new EvidenceSideResponse(0, 0, 0, 0, 0, 0);
        return new LookResponse(0, "canary", at, LookKind.Latest, new JudgedVerdictResponse(VerdictResult.Healthy, [], null), 0, side, side, slots, [], []);
    }
}
