namespace Snapstone.Simulator.Shape;

/// <summary>
/// A point of presence. <see cref="Id"/> is what nodes report as their PoP (<c>pop-007</c>);
/// <see cref="Site"/> is the site code that node ids are built from (<c>ams01</c>).
/// </summary>
public sealed record Pop(string Id, string Site, string Region, bool LowTraffic, double P99LatencyMs, int NodeCount);

/// <summary>
/// Who a node is and how it behaves before any package changes it. <see cref="ErrorRate"/> is the share
/// of requests it fails on its own; for a flaky node it is high from the start.
/// </summary>
public sealed record NodeProfile(
    string Id,
    string Pop,
    string Region,
    string Tier,
    IReadOnlyDictionary<string, string> Labels,
    double RequestsPerSecond,
    double ErrorRate,
    double P99LatencyMs,
    bool Flaky)
{
    public bool IsCanary => Tier == FleetShape.CanaryTier;

    /// <summary>One line with every field, labels sorted: equal lines mean equal profiles.</summary>
    public override string ToString() =>
        $"{Id} {Pop} {Region} {Tier} [{string.Join(",", Labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}={l.Value}"))}] " +
        $"rps={RequestsPerSecond:F3} err={ErrorRate:F6} p99={P99LatencyMs:F3}{(Flaky ? " flaky" : "")}";
}
