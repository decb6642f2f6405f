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
}

/// <summary>The ordered waves a rollout walks through.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.Plan")]
public sealed record Plan([property: Id(0)] IReadOnlyList<WaveSpec> Waves);
