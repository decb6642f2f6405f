namespace Snapstone.Simulator.Exposition;

/// <summary>
/// Turns one interval's traffic as the simulator knows it (a request count and a p99) into histogram bucket counts,
/// so that Prometheus' <c>histogram_quantile(0.99, …)</c> gives back about that p99.
/// <para>
/// Latency is taken to be log-normal with a fixed spread (<see cref="Sigma"/>), placed so that its 99th percentile is
/// the node's p99: median = p99 / e^(2.326 σ). With σ = 0.35 the median is 44% of the p99 (a 40 ms p99 has an 18 ms
/// median), which is the shape of a proxy's latency: most requests fast, a long thin tail. Worked example, 1000
/// requests with a p99 of 40 ms: cumulative counts at the bounds 20, 30, 40, 50 ms are 635, 934, 990, 998, so the
/// 990th request falls at the 40 ms bound.
/// </para>
/// </summary>
internal static class LatencyShape
{
    /// <summary>Upper bounds of the buckets, in seconds; fine where edge p99s live (15–150 ms), coarse beyond.</summary>
    public static readonly double[] Bounds = [0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.075, 0.1, 0.125, 0.15, 0.2, 0.3, 0.5, 1, 2.5];

    public const double Sigma = 0.35;

    /// <summary>z of the 99th percentile of a standard normal.</summary>
    private const double Z99 = 2.3263478740408408;

    /// <summary>
    /// How many of <paramref name="requests"/> fall in each bucket: index i counts those in (Bounds[i-1], Bounds[i]],
    /// the last index those above the largest bound. The counts add up to <paramref name="requests"/>.
    /// </summary>
    public static long[] Split(long requests, double p99Seconds)
    {
        var counts = new long[Bounds.Length + 1];
        if (requests <= 0)
        {
            return counts;
        }
        if (!(p99Seconds > 0))
        {
            counts[0] = requests;
            return counts;
        }
        var logMedian = Math.Log(p99Seconds) - Z99 * Sigma;
        long below = 0;
        for (var i = 0; i < Bounds.Length; i++)
        {
            var cumulative = (long)Math.Round(requests * NormalCdf((Math.Log(Bounds[i]) - logMedian) / Sigma));
            counts[i] = cumulative - below;
            below = cumulative;
        }
        counts[^1] = requests - below;
        return counts;
    }

    /// <summary>The value observed for every request in bucket <paramref name="i"/>: the middle of its range.</summary>
    public static double Representative(int i) => i switch
    {
        0 => Bounds[0] / 2,
        _ when i < Bounds.Length => (Bounds[i - 1] + Bounds[i]) / 2,
        _ => Bounds[^1] * 1.5,
    };

    /// <summary>Φ(x) through erf (Abramowitz and Stegun 7.1.26, absolute error below 1.5e-7).</summary>
    internal static double NormalCdf(double x)
    {
        var z = Math.Abs(x) / Math.Sqrt(2);
        var t = 1 / (1 + 0.3275911 * z);
        var erf = 1 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.Exp(-z * z);
        return x >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
    }
}
