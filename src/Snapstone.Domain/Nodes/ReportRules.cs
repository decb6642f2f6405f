using System.Text;

namespace Snapstone.Domain.Nodes;

/// <summary>
/// What a report must satisfy before it may touch a node's state or health window. A report that fails
/// any rule is refused whole, so a bad sample never poisons a window.
/// </summary>
public static class ReportRules
{
    public const int MaxUnitsPerReport = 256;
    public const double MaxIntervalSeconds = 3600;
    /// <summary>An applied package's error, in bytes of UTF-8: the node stores it for every unit it reports.</summary>
    public const int MaxErrorBytes = 1024;

    // A node's identity is stored in its PoP's membership row for every node of the PoP, so it is limited in
    // bytes: with node ids of at most 100 bytes, a member costs at most about 372 bytes there (docs/security.md).
    public const int MaxRegionBytes = 32;
    public const int MaxTierBytes = 32;
    public const int MaxLabels = 8;
    public const int MaxLabelValueBytes = 64;
    /// <summary>All of a node's label keys and values together, in bytes of UTF-8.</summary>
    public const int MaxLabelBytes = 128;

    /// <summary>
    /// The first problem found, naming the field and the limit; null when the report is sound. A report may claim at
    /// most <paramref name="maxRequestsPerSecond"/> requests a second of its interval (<see cref="Health.TrafficCeiling"/>):
    /// a node that claims more would buy itself the weight of a cohort.
    /// </summary>
    public static string? Check(NodeReport report, double maxRequestsPerSecond = Health.TrafficCeiling.DefaultMaxRequestsPerSecond)
    {
        if (Names.Check("node", report.Node) is { } nodeError) return nodeError;
        if (CheckIdentity(report.Pop, report.Region, report.Tier, report.Labels) is { } identityError) return identityError;
        if (double.IsNaN(report.IntervalSeconds) || report.IntervalSeconds <= 0 || report.IntervalSeconds > MaxIntervalSeconds)
            return $"intervalSeconds must be greater than 0 and at most {MaxIntervalSeconds} (got {report.IntervalSeconds})";
        if (report.Metrics is { } m)
        {
            if (m.Requests < 0) return $"metrics.requests must be 0 or more (got {m.Requests})";
            if (m.Errors < 0) return $"metrics.errors must be 0 or more (got {m.Errors})";
            if (m.Errors > m.Requests) return $"metrics.errors ({m.Errors}) must not exceed metrics.requests ({m.Requests})";
            if (double.IsNaN(m.P99LatencyMs) || double.IsInfinity(m.P99LatencyMs) || m.P99LatencyMs < 0)
                return $"metrics.p99LatencyMs must be a finite number of 0 or more (got {m.P99LatencyMs})";
            if (m.Crashes < 0) return $"metrics.crashes must be 0 or more (got {m.Crashes})";
            if (Health.TrafficCeiling.Check(m, report.IntervalSeconds, maxRequestsPerSecond) is { } ceilingError) return ceilingError;
        }
        if (report.Applied is { } applied)
        {
            if (applied.Count > MaxUnitsPerReport)
                return $"applied may list at most {MaxUnitsPerReport} units (got {applied.Count})";
            var reportedCrashes = Math.Max(0, report.Metrics?.Crashes ?? 0);
            foreach (var (unit, package) in applied)
            {
                if (Names.Check("applied unit", unit) is { } unitError) return unitError;
                if (package is null) return $"applied.{unit} must be an object";
                if (package.Version < 1) return $"applied.{unit}.version must be 1 or more (got {package.Version})";
                if (package.Crashes < 0 || package.Crashes > reportedCrashes)
                    return $"applied.{unit}.crashes must be between 0 and metrics.crashes ({reportedCrashes}) (got {package.Crashes})";
                if (package.Sha256 is { } sha && !IsSha256(sha))
                    return $"applied.{unit}.sha256 must be 64 lower-case hex characters";
                if (package.Error is { } error && Encoding.UTF8.GetByteCount(error) is > MaxErrorBytes and var errorBytes)
                    return $"applied.{unit}.error must be at most {MaxErrorBytes} bytes of UTF-8 (got {errorBytes})";
            }
        }
        return null;
    }

    /// <summary>
    /// The first problem with a node identity as a report or an operator's enrolment states it (region, tier and
    /// labels may be left out), naming the field and the limit; null when it is sound. Allocates nothing when it is.
    /// </summary>
    public static string? CheckIdentity(string? pop, string? region, string? tier, IReadOnlyDictionary<string, string>? labels)
    {
        if (Names.Check("pop", pop) is { } popError) return popError;
        if (region is not null && (Names.Check("region", region) ?? Longer("region", region, MaxRegionBytes)) is { } regionError) return regionError;
        if (tier is not null && (Names.Check("tier", tier) ?? Longer("tier", tier, MaxTierBytes)) is { } tierError) return tierError;
        if (labels is null)
        {
            return null;
        }
        if (labels.Count > MaxLabels)
            return $"labels may hold at most {MaxLabels} labels (got {labels.Count})";
        var total = 0;
        foreach (var (key, value) in labels)
        {
            if (Names.Check("labels key", key) is { } keyError) return keyError;
            var bytes = value is null ? 0 : Encoding.UTF8.GetByteCount(value);
            if (bytes is 0 or > MaxLabelValueBytes)
                return $"labels.{key} must be 1 to {MaxLabelValueBytes} bytes of UTF-8 (got {bytes})";
            total += key.Length + bytes;
        }
        return total > MaxLabelBytes
            ? $"labels must total at most {MaxLabelBytes} bytes of UTF-8, keys and values together (got {total})"
            : null;
    }

    /// <summary>A name is ASCII, so its length is its size in bytes.</summary>
    private static string? Longer(string field, string name, int max) =>
        name.Length > max ? $"{field} '{name}' must be at most {max} characters (got {name.Length})" : null;

    public static bool IsSha256(string value) =>
        value.Length == 64 && value.All(c => c is >= '0' and <= '9' or >= 'a' and <= 'f');
}
