using Snapstone.Domain.Units;

namespace Snapstone.Domain.Nodes;

/// <summary>
/// What a report must satisfy before it may touch a node's state or health window. A report that fails
/// any rule is refused whole, so a bad sample never poisons a window.
/// </summary>
public static class ReportRules
{
    public const int MaxUnitsPerReport = 256;
    public const double MaxIntervalSeconds = 3600;
    public const int MaxErrorLength = 2000;

    /// <summary>The first problem found, naming the field and the limit; null when the report is sound.</summary>
    public static string? Check(NodeReport report)
    {
        if (Names.Check("node", report.Node) is { } nodeError) return nodeError;
        if (Names.Check("pop", report.Pop) is { } popError) return popError;
        if (report.Region is not null && Names.Check("region", report.Region) is { } regionError) return regionError;
        if (report.Tier is not null && Names.Check("tier", report.Tier) is { } tierError) return tierError;
        if (report.Labels is { } labels)
        {
            var errors = new List<string>();
            UnitRules.CheckLabels("labels", labels, errors);
            if (errors.Count > 0) return errors[0];
        }
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
        }
        if (report.Applied is { } applied)
        {
            if (applied.Count > MaxUnitsPerReport)
                return $"applied may list at most {MaxUnitsPerReport} units (got {applied.Count})";
            foreach (var (unit, package) in applied)
            {
                if (Names.Check("applied unit", unit) is { } unitError) return unitError;
                if (package is null) return $"applied.{unit} must be an object";
                if (package.Version < 1) return $"applied.{unit}.version must be 1 or more (got {package.Version})";
                if (package.Sha256 is { } sha && !IsSha256(sha))
                    return $"applied.{unit}.sha256 must be 64 lower-case hex characters";
                if (package.Error is { Length: > MaxErrorLength })
                    return $"applied.{unit}.error must be at most {MaxErrorLength} characters (got {package.Error.Length})";
            }
        }
        return null;
    }

    public static bool IsSha256(string value) =>
        value.Length == 64 && value.All(c => c is >= '0' and <= '9' or >= 'a' and <= 'f');
}
