namespace Snapstone.Simulator.Traffic;

/// <summary>
/// Random counts for traffic: exact for small numbers, normal approximations where the exact draw would
/// cost one random number per request (a node serving 1,000 requests a second, 2,000 nodes, every second).
/// </summary>
internal static class Sampling
{
    /// <summary>Requests arriving in an interval with the given mean.</summary>
    public static long Poisson(Random random, double mean)
    {
        if (mean <= 0)
        {
            return 0;
        }
        if (mean < 30)
        {
            // Knuth: multiply uniforms until the product drops below e^-mean.
            var limit = Math.Exp(-mean);
            var product = random.NextDouble();
            long count = 0;
            while (product > limit)
            {
                count++;
                product *= random.NextDouble();
            }
            return count;
        }
        return Math.Max(0, (long)Math.Round(mean + Math.Sqrt(mean) * Normal(random)));
    }

    /// <summary>How many of <paramref name="trials"/> requests fail when each fails with <paramref name="p"/>.</summary>
    public static long Binomial(Random random, long trials, double p)
    {
        if (trials <= 0 || p <= 0)
        {
            return 0;
        }
        if (p >= 1)
        {
            return trials;
        }
        if (trials <= 64)
        {
            long hits = 0;
            for (var i = 0; i < trials; i++)
            {
                if (random.NextDouble() < p)
                {
                    hits++;
                }
            }
            return hits;
        }
        var mean = trials * p;
        var variance = mean * (1 - p);
        if (variance < 9)
        {
            // Rare events (or rare successes): the Poisson limit is close and cheap.
            return p <= 0.5
                ? Math.Min(trials, Poisson(random, mean))
                : trials - Math.Min(trials, Poisson(random, trials * (1 - p)));
        }
        return Math.Clamp((long)Math.Round(mean + Math.Sqrt(variance) * Normal(random)), 0, trials);
    }

    /// <summary>A standard normal draw (Box–Muller).</summary>
    public static double Normal(Random random)
    {
        var u1 = 1.0 - random.NextDouble();
        var u2 = random.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }
}
