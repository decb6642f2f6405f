namespace Snapstone.Domain.Drift;

/// <summary>How patient drift detection is. Host configuration, the same for every node.</summary>
public sealed record DriftSettings
{
    public static readonly DriftSettings Default = new();

    /// <summary>How long applied may differ from desired before it is drift; null means <see cref="GraceReports"/> of the node's own report intervals.</summary>
    public TimeSpan? Grace { get; init; }
    /// <summary>The grace in report intervals when <see cref="Grace"/> is not set.</summary>
    public int GraceReports { get; init; } = 2;
    /// <summary>A node silent longer than this (and than <see cref="StaleReports"/> of its intervals) is stale.</summary>
    public TimeSpan StaleAfter { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>However long its interval, a node is stale only after missing this many reports.</summary>
    public int StaleReports { get; init; } = 3;
    /// <summary>Remediation attempts after which a drifted node is excluded; 0 never excludes.</summary>
    public int MaxAttempts { get; init; } = 10;
    /// <summary>Share of the fleet's nodes (drifted or out of band) above which a drift incident opens; 1 never opens one.</summary>
    public double IncidentShare { get; init; } = 0.05;
    /// <summary>Fewest drifted or out-of-band nodes that open a drift incident, so one node of a tiny fleet does not page.</summary>
    public int IncidentMinNodes { get; init; } = 3;

    /// <summary>
    /// The grace for a node reporting every <paramref name="intervalSeconds"/>. Worked example: no configured
    /// grace, interval 1 s → 2 s; interval 10 s → 20 s; configured 5 s → 5 s whatever the interval.
    /// </summary>
    public TimeSpan GraceFor(double intervalSeconds) =>
        Grace ?? TimeSpan.FromSeconds(Math.Max(0, GraceReports) * Interval(intervalSeconds));

    /// <summary>
    /// How long the node may stay silent. Worked example: stale after 30 s, interval 1 s → 30 s; interval
    /// 60 s → 180 s (three missed reports), so a slow reporter is not stale between two of its reports.
    /// </summary>
    public TimeSpan StaleAfterFor(double intervalSeconds)
    {
        var missed = TimeSpan.FromSeconds(Math.Max(0, StaleReports) * Interval(intervalSeconds));
        return missed > StaleAfter ? missed : StaleAfter;
    }

    private static double Interval(double seconds) => double.IsFinite(seconds) && seconds > 0 ? seconds : 1;
}
