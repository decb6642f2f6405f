namespace Snapstone.Domain.Plans;

/// <summary>
/// Which nodes a wave adds. Exactly one of the four is set. <see cref="Percent"/> is cumulative over the
/// unit's consumers and nests: the 10% wave contains the 1% wave.
/// </summary>
[GenerateSerializer, Immutable, Alias("snapstone.WaveSelect")]
public sealed record WaveSelect
{
    [Id(0)] public string? Tier { get; init; }
    [Id(1)] public IReadOnlyList<string>? Pops { get; init; }
    [Id(2)] public string? Region { get; init; }
    [Id(3)] public double? Percent { get; init; }
}

/// <summary>The health conditions a wave must meet before the next one opens.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.Gates")]
public sealed record Gates
{
    /// <summary>Absolute ceiling on the cohort's error rate (errors / requests).</summary>
    [Id(0)] public double MaxErrorRate { get; init; } = 0.01;
    /// <summary>Cohort error rate may be at most this multiple of the control group's.</summary>
    [Id(1)] public double MaxErrorRateRatio { get; init; } = 2.0;
    /// <summary>Cohort p99 latency may be at most this multiple of the control group's.</summary>
    [Id(2)] public double MaxP99LatencyRatio { get; init; } = 1.5;
    [Id(3)] public int MaxCrashes { get; init; }
    [Id(4)] public int MaxRejected { get; init; }
    /// <summary>Share of the wave's nodes that must have reported on the new package for a verdict.</summary>
    [Id(5)] public double MinReportingFraction { get; init; } = 0.9;
    /// <summary>
    /// Optional absolute ceiling on the cohort's p99 latency in milliseconds; none by default (the ratio against the
    /// control is the latency gate). Like the error ceiling, a breach the control shares at the same time waits.
    /// </summary>
    [Id(6)] public double? MaxP99LatencyMs { get; init; }
    /// <summary>The statistics behind every check; the defaults are what the judge has always used.</summary>
    [Id(7)] public GateThresholds Thresholds { get; init; } = GateThresholds.Default;
    /// <summary>Queries against the configured metrics store, judged like pushed metrics (see <see cref="MetricGate"/>).</summary>
    [Id(8)] public IReadOnlyList<MetricGate> Metrics { get; init; } = [];
}

/// <summary>Whether a wave's verdict (or one metric gate's) is acted on.</summary>
public enum GateMode
{
    /// <summary>The verdict decides: an unhealthy wave rolls back (or pauses, see <see cref="FailureAction"/>).</summary>
    Enforce,
    /// <summary>Judged and recorded, never acted on: a dry run while a team learns what its gates would do.</summary>
    ReportOnly,
}

/// <summary>What an unhealthy verdict on an enforced wave does.</summary>
public enum FailureAction
{
    /// <summary>Every touched node goes back to the previous package and the version is quarantined.</summary>
    Rollback,
    /// <summary>The rollout pauses with the verdict, leaving the wave's nodes where they are, for a person to decide.</summary>
    Pause,
}

/// <summary>One wave of a plan: a cohort, a bake time and its gates.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.WaveSpec")]
public sealed record WaveSpec
{
    [Id(0)] public required string Name { get; init; }
    [Id(1)] public required WaveSelect Select { get; init; }
    [Id(2)] public int BakeSeconds { get; init; } = 60;
    [Id(3)] public Gates Gates { get; init; } = new();
    [Id(4)] public bool RequiresApproval { get; init; }
    /// <summary><c>report-only</c>: the wave's verdict is recorded and shown, and the rollout goes on whatever it says.</summary>
    [Id(5)] public GateMode Mode { get; init; }
    /// <summary>What an unhealthy verdict does on an enforced wave: <c>rollback</c> (the default) or <c>pause</c>.</summary>
    [Id(6)] public FailureAction OnFailure { get; init; }
}

/// <summary>The ordered waves a rollout walks through.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.Plan")]
public sealed record Plan([property: Id(0)] IReadOnlyList<WaveSpec> Waves)
{
    /// <summary>
    /// How long the whole fleet is watched after the last wave passes, before the rollout completes and its package
    /// becomes the LKG. A regression in that time still rolls every node back. 0 (the default): none.
    /// </summary>
    [Id(1)] public int FinalBakeSeconds { get; init; }

    /// <summary>
    /// Asks that a wave not open on nodes where another unit's wave is still baking. Not supported: a plan that sets
    /// it true is refused (<see cref="PlanRules"/>), so that nobody relies on a guard that does not act. Overlapping
    /// changes are told apart by attribution instead (a node's regression is blamed on the change it applied last
    /// before the regression began, see <c>Attribution</c>), and serialising every unit's rollouts behind each other
    /// would slow every team to the pace of the slowest bake. Kept in the shape so that <c>false</c> stays valid.
    /// </summary>
    [Id(2)] public bool AvoidOverlappingBakes { get; init; }
}
