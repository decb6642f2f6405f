namespace Snapstone.Domain.Health;

/// <summary>
/// The one piece of statistics the verdict needs: how surprising <c>k</c> errors are when, at the allowed
/// rate, <c>λ = rate × requests</c> were expected. Errors are rare events, so their count is Poisson.
/// </summary>
internal static class Poisson
{
    private const int TableSize = 256;
    private static readonly double[] LogFactorials = BuildTable();

    /// <summary>
    /// P(X ≥ k) for X ~ Poisson(λ). Only the upper tail beyond the mean is computed exactly; at or below the
    /// mean the answer is at least about one half and 1 is returned, which is all a one-sided test needs.
    /// </summary>
    /// <example>
    /// λ = 0.6 (300 requests at an allowed 0.2%), k = 3: 1 − e^−0.6 (1 + 0.6 + 0.18) = 0.023 — three errors
    /// could be noise. λ = 6, k = 30: about 2.6e-12 — a regression.
    /// </example>
    public static double UpperTail(long k, double lambda)
    {
        if (k <= 0)
        {
            return 1;
        }
        if (lambda <= 0)
        {
            return 0;
        }
        if (k <= lambda)
        {
            return 1;
        }
        var term = Math.Exp(k * Math.Log(lambda) - lambda - LogFactorial(k));
        var sum = term;
        for (var j = k + 1; term > sum * 1e-17 && j < k + 10_000_000; j++)
        {
            term *= lambda / j;
            sum += term;
        }
        return Math.Min(1, sum);
    }

    /// <summary>ln(k!): exact sums below 256, Stirling's series above (relative error below 1e-15 there).</summary>
    internal static double LogFactorial(long k)
    {
        if (k < TableSize)
        {
            return LogFactorials[k];
        }
        double n = k;
        return n * Math.Log(n) - n + 0.5 * Math.Log(2 * Math.PI * n) + 1 / (12 * n) - 1 / (360 * n * n * n);
    }

    private static double[] BuildTable()
    {
        var table = new double[TableSize];
        for (var i = 2; i < TableSize; i++)
        {
            table[i] = table[i - 1] + Math.Log(i);
        }
        return table;
    }
}
