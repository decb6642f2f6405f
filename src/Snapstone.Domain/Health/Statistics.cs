using Snapstone.Domain.Plans;

namespace Snapstone.Domain.Health;

/// <summary>The numbers every check shares: sound counts from a sample, and whether an error count is over a limit beyond chance.</summary>
internal static class Statistics
{
    /// <summary>A sample's counts made sound: requests ≥ 0, 0 ≤ errors ≤ requests.</summary>
    public static (long Errors, long Requests) Counts(NodeSample s)
    {
        var requests = Math.Max(0, s.Requests);
        return (Math.Clamp(s.Errors, 0, requests), requests);
    }

    /// <summary>A sample's p99, 0 when it is not a finite positive number.</summary>
    public static double Latency(NodeSample s) => double.IsFinite(s.P99LatencyMs) && s.P99LatencyMs > 0 ? s.P99LatencyMs : 0;

    public static CheckOutcome Worst(CheckOutcome a, CheckOutcome b) => (CheckOutcome)Math.Max((int)a, (int)b);

    public static CheckOutcome ErrorOutcome(double errors, double requests, double limit, GateThresholds t) => ErrorOutcome(errors, requests, limit, t, out _);

    /// <summary>
    /// One node's (or one total's) errors against a known limit: Pass when the point rate is within it; Fail when
    /// above it and the always-valid evidence passes <c>1 / Significance</c> (<see cref="Sequential.AgainstLimit"/>);
    /// Unsure in between.
    /// </summary>
    public static CheckOutcome ErrorOutcome(double errors, double requests, double limit, GateThresholds t, out double p)
    {
        p = 1;
        if (requests <= 0)
        {
            return CheckOutcome.Unsure;
        }
        var evidence = Sequential.AgainstLimit([(0, errors, limit * requests)], Level.Once(t.Significance));
        p = evidence.P;
        return evidence.Crossed ? CheckOutcome.Fail : errors / requests <= limit ? CheckOutcome.Pass : CheckOutcome.Unsure;
    }
}
