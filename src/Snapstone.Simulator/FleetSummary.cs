using System.Globalization;
using System.Text;

namespace Snapstone.Simulator;

/// <summary>One line about the fleet for people watching a run.</summary>
public static class FleetSummary
{
    /// <summary>
    /// E.g. <c>[  12s] 2000 nodes | err 0.11% p99 38.2ms crashes 0 | batches 480 (2 retried, 0 lost) refused 0 fetches 2 |
    /// bot-features v7:1990 v8:10 rejected:3 | crash-looping 0</c>, and with several gateways how many requests each
    /// answered, e.g. <c>| gateways 127.0.0.1:5080 160, 127.0.0.1:5081 158, 127.0.0.1:5082 2 avoided</c>.
    /// </summary>
    public static string Line(Fleet fleet, TimeSpan elapsed)
    {
        var line = new StringBuilder();
        var c = fleet.Counters;
        line.Append(CultureInfo.InvariantCulture, $"[{elapsed.TotalSeconds,5:0}s] {fleet.Nodes.Count} nodes");
        if (fleet.LastTick is { } last)
        {
            line.Append(CultureInfo.InvariantCulture, $" | err {last.ErrorRate * 100:0.00}% p99 {last.MedianP99LatencyMs:0.0}ms crashes {last.Crashes}");
        }
        line.Append(CultureInfo.InvariantCulture,
            $" | batches {c.BatchesSent} ({c.BatchesRetried} retried, {c.BatchesFailed} lost) refused {c.ReportsRefused} fetches {c.ContentFetches}");
        foreach (var unit in fleet.Units)
        {
            line.Append(" | ").Append(unit);
            foreach (var (version, count) in fleet.VersionCounts(unit))
            {
                line.Append(CultureInfo.InvariantCulture, $" {(version == 0 ? "none" : "v" + version)}:{count}");
            }
            var refusing = fleet.Nodes.Count(n => n.Refused(unit) is not null);
            if (refusing > 0)
            {
                line.Append(CultureInfo.InvariantCulture, $" rejected:{refusing}");
            }
        }
        line.Append(CultureInfo.InvariantCulture, $" | crash-looping {fleet.Nodes.Count(n => n.CrashLooping)}");
        if (fleet.Gateways.Count > 1)
        {
            line.Append(" | gateways ").AppendJoin(", ", fleet.Gateways.Status().Select(g =>
                string.Create(CultureInfo.InvariantCulture, $"{g.Url.Authority} {g.Answered}{(g.AvoidedUntil is null ? "" : " avoided")}")));
        }
        return line.ToString();
    }
}
