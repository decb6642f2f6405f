namespace Snapstone.Benchmarks.Probes;

public static class Percentiles
{
    /// <summary>
    /// The nearest-rank percentile: the smallest sample with at least <paramref name="p"/> of the samples
    /// at or below it. [10, 20, 30, 40] → p50 20, p99 40. NaN for no samples.
    /// </summary>
    public static double Of(IReadOnlyList<double> sorted, double p)
    {
        if (sorted.Count == 0)
        {
            return double.NaN;
        }
        var rank = (int)Math.Ceiling(p * sorted.Count);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Count - 1)];
    }
}
