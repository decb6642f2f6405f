using Snapstone.Domain.Nodes;

namespace Snapstone.Domain.Drift;

/// <summary>How one (node, unit) stands against what Snapstone wants it to run.</summary>
public enum DriftKind
{
    /// <summary>Runs exactly its desired package, or has none and runs nothing Snapstone disowns.</summary>
    Converged,
    /// <summary>Differs from its desired package, but for no longer than the grace period: still applying.</summary>
    Diverging,
    /// <summary>Has differed from its desired package for longer than the grace period.</summary>
    Drifted,
    /// <summary>The node has been silent too long for anything it said to be trusted.</summary>
    Stale,
    /// <summary>Reports a package (version and hash) Snapstone never issued for the unit: changed by hand or by another tool.</summary>
    OutOfBand,
}

/// <summary>
/// Since when a node's applied package has differed from one desired package, and how many times it has been
/// told that package again since the grace period ended. Persisted with the node; cleared when it converges.
/// </summary>
[GenerateSerializer, Immutable, Alias("snapstone.DriftMark")]
public sealed record DriftMark(
    [property: Id(0)] long DesiredVersion,
    [property: Id(1)] string DesiredSha256,
    [property: Id(2)] DateTimeOffset Since,
    [property: Id(3)] int Attempts = 0);

/// <summary>What of a <see cref="DriftMark"/> must be stored (see <see cref="DriftRules.Durable"/>).</summary>
public sealed record DurableMark(long DesiredVersion, string DesiredSha256, DateTimeOffset Since, bool Excluded);

/// <summary>What a node grain knows about one unit, as a drift scan needs it.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.UnitDriftFacts")]
public sealed record UnitDriftFacts
{
    [Id(0)] public required string Unit { get; init; }
    /// <summary>The package the node should run; null when it should run none (nothing to converge to).</summary>
    [Id(1)] public long? DesiredVersion { get; init; }
    [Id(2)] public string? DesiredSha256 { get; init; }
    /// <summary>What the node last reported for the unit; null when it never reported it.</summary>
    [Id(3)] public AppliedPackage? Applied { get; init; }
    /// <summary>When the node first reported <see cref="Applied"/>.</summary>
    [Id(4)] public DateTimeOffset? AppliedSince { get; init; }
    /// <summary>Since when applied has differed from desired (<see cref="DriftMark.Since"/>); null when it does not.</summary>
    [Id(5)] public DateTimeOffset? DivergedSince { get; init; }
    /// <summary>Reports since the grace period ended on which the node was told its desired package again.</summary>
    [Id(6)] public int Attempts { get; init; }
}

/// <summary>One node's drift facts: every unit it should run or says it runs, and when it last spoke.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.NodeDriftFacts")]
public sealed record NodeDriftFacts
{
    [Id(0)] public required string Node { get; init; }
    [Id(1)] public required string Pop { get; init; }
    /// <summary>The last report the node grain knows of (its first sighting when it knows none).</summary>
    [Id(2)] public required DateTimeOffset LastReportAt { get; init; }
    /// <summary>The node's own report interval, as it last declared it.</summary>
    [Id(3)] public double IntervalSeconds { get; init; } = 1;
    [Id(4)] public IReadOnlyList<UnitDriftFacts> Units { get; init; } = new List<UnitDriftFacts>();
}

/// <summary>One line of the drift list: a (node, unit) that is drifted, stale or out of band.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.DriftEntry")]
public sealed record DriftEntry
{
    [Id(0)] public required string Node { get; init; }
    [Id(1)] public required string Pop { get; init; }
    [Id(2)] public required string Unit { get; init; }
    [Id(3)] public required DriftKind Kind { get; init; }
    [Id(4)] public long? DesiredVersion { get; init; }
    [Id(5)] public long? AppliedVersion { get; init; }
    [Id(6)] public string? AppliedSha256 { get; init; }
    /// <summary>Drifted: since when applied has differed from desired. Stale: the last report. Out of band: since the foreign package was seen.</summary>
    [Id(7)] public DateTimeOffset Since { get; init; }
    [Id(8)] public int Attempts { get; init; }
    /// <summary>Drifted past <see cref="DriftSettings.MaxAttempts"/>: skipped by new wave cohorts and never counted as converged.</summary>
    [Id(9)] public bool Excluded { get; init; }
}
