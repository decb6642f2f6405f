using System.Globalization;
using System.Text;
using Snapstone.Domain.Rollouts;
using Snapstone.Server.Http;

namespace Snapstone.Server.OperatorConsole;

/// <summary>One point of a line: <see cref="Y"/> is NaN where the slot had no traffic (nothing to plot there).</summary>
public readonly record struct ChartPoint(double X, double Y);

/// <summary>
/// The drawing area of one panel, in SVG user units: the whole box and the plot inside its margins (left for the y
/// labels, bottom for the x labels).
/// </summary>
public sealed record ChartFrame(double Width, double Height, double Left, double Right, double Top, double Bottom)
{
    /// <summary>The panels of the rollout page: 520 × 170, room for two-line labels.</summary>
    public static readonly ChartFrame Panel = new(520, 170, 56, 12, 10, 34);

    public double PlotLeft => Left;
    public double PlotRight => Width - Right;
    public double PlotTop => Top;
    public double PlotBottom => Height - Bottom;
}

/// <summary>What a panel's lines are scaled to: x from <see cref="MinX"/> to <see cref="MaxX"/>, y from 0 to <see cref="MaxY"/>.</summary>
public sealed record ChartScale(double MinX, double MaxX, double MaxY)
{
    /// <summary>
    /// x over every point (a slot without traffic still takes its place in time), y from 0 (rates and latencies are
    /// never below) to the highest value of <paramref name="lines"/>. Nothing to plot: 0 to 1 both ways; no value above
    /// 0 (a flat zero line, or only gaps): y up to 1, so a line lies on the axis.
    /// </summary>
    /// <example>[(0, 0.01), (5, 0.03)] and [(-2, NaN), (3, 0.02)] → x −2 to 5, y 0 to 0.03.</example>
    public static ChartScale Of(params IEnumerable<ChartPoint>[] lines)
    {
        var points = lines.SelectMany(l => l).Where(p => double.IsFinite(p.X)).ToList();
        if (points.Count == 0)
        {
            return new(0, 1, 1);
        }
        var maxY = points.Where(p => double.IsFinite(p.Y)).Select(p => p.Y).DefaultIfEmpty(0).Max();
        return new(points.Min(p => p.X), points.Max(p => p.X), maxY > 0 ? maxY : 1);
    }
}

/// <summary>
/// The cohort-against-control chart of a wave's bake, drawn as SVG paths on the server: the slots of the wave's recorded
/// looks as lines of error rate and p99 latency against seconds since the wave started. Pure: the page draws what
/// this returns.
/// </summary>
public static class BakeChart
{
    /// <summary>
    /// An SVG path through <paramref name="line"/> scaled by <paramref name="scale"/> into <paramref name="frame"/>, in
    /// x order. A point with no value (NaN) is skipped and breaks the line there, so a gap is not drawn as a slope; a
    /// lone point is a zero-length segment (<c>h0</c>) that a round line cap draws as a dot. Empty: the empty string.
    /// With one x (a single slot) the points sit in the middle of the plot.
    /// </summary>
    /// <example>
    /// [(0, 0), (10, 1), (20, NaN), (30, 0.5)] scaled 0–30 × 0–1 into a plot from (0, 0) to (300, 100):
    /// <c>M0,100 L100,0 M300,50 h0</c>.
    /// </example>
    public static string Path(IReadOnlyList<ChartPoint> line, ChartScale scale, ChartFrame frame)
    {
        var path = new StringBuilder();
        var run = new List<(double X, double Y)>();
        void Flush()
        {
            for (var i = 0; i < run.Count; i++)
            {
                path.Append(path.Length > 0 ? " " : "").Append(i == 0 ? 'M' : 'L').Append(Number(run[i].X)).Append(',').Append(Number(run[i].Y));
            }
            if (run.Count == 1)
            {
                path.Append(" h0");
            }
            run.Clear();
        }
        foreach (var point in line.Where(p => double.IsFinite(p.X)).OrderBy(p => p.X))
        {
            if (!double.IsFinite(point.Y))
            {
                Flush();
                continue;
            }
            run.Add((X(point.X, scale, frame), Y(point.Y, scale, frame)));
        }
        Flush();
        return path.ToString();
    }

    /// <summary>Where <paramref name="x"/> falls across the plot.</summary>
    public static double X(double x, ChartScale scale, ChartFrame frame) =>
        scale.MaxX > scale.MinX
            ? frame.PlotLeft + (x - scale.MinX) / (scale.MaxX - scale.MinX) * (frame.PlotRight - frame.PlotLeft)
            : (frame.PlotLeft + frame.PlotRight) / 2;

    /// <summary>Where <paramref name="y"/> falls up the plot: 0 on the x axis, the scale's max at the top, clamped to the plot.</summary>
    public static double Y(double y, ChartScale scale, ChartFrame frame) =>
        frame.PlotBottom - Math.Clamp(y / scale.MaxY, 0, 1) * (frame.PlotBottom - frame.PlotTop);

    /// <summary>An SVG coordinate: one decimal, invariant.</summary>
    public static string Number(double value) => Math.Round(value, 1).ToString("0.#", CultureInfo.InvariantCulture);

    /// <summary>
    /// The slots of a wave's looks, oldest first, one per moment: looks overlap (each holds the node windows at its
    /// time), and where two hold the same slot the newer look's figures stand, since its nodes had reported more of it.
    /// </summary>
    public static IReadOnlyList<EvidenceSlotResponse> Slots(IEnumerable<LookResponse> looks)
    {
        var slots = new SortedDictionary<DateTimeOffset, EvidenceSlotResponse>();
        foreach (var look in looks.OrderBy(l => l.At))
        {
            foreach (var slot in look.Slots)
            {
                slots[slot.At] = slot;
            }
        }
        return [.. slots.Values];
    }

    /// <summary>The four lines of the two panels from <paramref name="slots"/>, x in seconds since <paramref name="start"/> (the wave's start).</summary>
    public static BakeLines Lines(IReadOnlyList<EvidenceSlotResponse> slots, DateTimeOffset start)
    {
        double Seconds(EvidenceSlotResponse s) => (s.At - start).TotalSeconds;
        static double Rate(long errors, long requests) => requests > 0 ? (double)errors / requests : double.NaN;
        static double Latency(double p99, long requests) => requests > 0 ? p99 : double.NaN;
        return new BakeLines(
            [.. slots.Select(s => new ChartPoint(Seconds(s), Rate(s.CohortErrors, s.CohortRequests)))],
            [.. slots.Select(s => new ChartPoint(Seconds(s), Rate(s.ControlErrors, s.ControlRequests)))],
            [.. slots.Select(s => new ChartPoint(Seconds(s), Latency(s.CohortP99LatencyMs, s.CohortRequests)))],
            [.. slots.Select(s => new ChartPoint(Seconds(s), Latency(s.ControlP99LatencyMs, s.ControlRequests)))]);
    }

    /// <summary>
    /// The wave a rollout's chart opens on: the wave in flight, else the last one judged (or stopped), else the first.
    /// </summary>
    /// <example>canary passed, quarter baking, all pending → 1; all three passed → 2; canary failed → 0; nothing started → 0.</example>
    public static int DefaultWave(IReadOnlyList<WaveResponse> waves)
    {
        for (var k = waves.Count - 1; k >= 0; k--)
        {
            if (waves[k].State is WaveState.Applying or WaveState.Baking or WaveState.Failed || waves[k].Verdict is not null)
            {
                return k;
            }
        }
        return 0;
    }
}

/// <summary>A wave's chart lines: error rate (a fraction) and p99 latency (ms), cohort and control, by seconds since the wave started.</summary>
public sealed record BakeLines(
    IReadOnlyList<ChartPoint> CohortErrorRate, IReadOnlyList<ChartPoint> ControlErrorRate,
    IReadOnlyList<ChartPoint> CohortP99, IReadOnlyList<ChartPoint> ControlP99);
