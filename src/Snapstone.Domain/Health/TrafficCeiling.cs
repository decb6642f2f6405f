using System.Globalization;
using Snapstone.Domain.Nodes;

namespace Snapstone.Domain.Health;

/// <summary>
/// The most requests one node may claim for one report interval, for report validation to refuse before a claim
/// reaches a health window. The judge caps each node's weight anyway (<see cref="Plans.GateThresholds.MaxNodeWeight"/>);
/// this refuses the absurd outright, with a message naming the field and the limit.
/// </summary>
/// <example>
/// At the default 10,000,000 a second, a report with <c>intervalSeconds: 1</c> may claim at most 10,000,000 requests:
/// <c>requests: 9000000000000000</c> is refused with "metrics.requests must be at most 10000000 for intervalSeconds 1
/// (10000000 a second; got 9000000000000000)". Configuration may lower or raise the rate; it is a per-second figure so
/// one setting serves agents reporting every 250 ms and every minute alike.
/// </example>
public static class TrafficCeiling
{
    /// <summary>Far beyond any one edge server (a busy one serves tens of thousands a second), far below a lie that could matter.</summary>
    public const double DefaultMaxRequestsPerSecond = 10_000_000;

    /// <summary>The most requests a report covering <paramref name="intervalSeconds"/> may claim.</summary>
    public static long MaxRequests(double intervalSeconds, double maxRequestsPerSecond = DefaultMaxRequestsPerSecond)
    {
        if (!double.IsFinite(intervalSeconds) || intervalSeconds <= 0 || !double.IsFinite(maxRequestsPerSecond) || maxRequestsPerSecond <= 0)
        {
            return 0;
        }
        var max = Math.Ceiling(intervalSeconds * maxRequestsPerSecond);
        return max >= long.MaxValue ? long.MaxValue : (long)max;
    }

    /// <summary>Null when <paramref name="metrics"/> claims no more than the ceiling allows for the interval; else the refusal.</summary>
    public static string? Check(NodeMetrics? metrics, double intervalSeconds, double maxRequestsPerSecond = DefaultMaxRequestsPerSecond)
    {
        if (metrics is null)
        {
            return null;
        }
        var max = MaxRequests(intervalSeconds, maxRequestsPerSecond);
        return metrics.Requests <= max
            ? null
            : string.Create(CultureInfo.InvariantCulture,
                $"metrics.requests must be at most {max} for intervalSeconds {intervalSeconds} ({maxRequestsPerSecond} a second; got {metrics.Requests})");
    }
}
