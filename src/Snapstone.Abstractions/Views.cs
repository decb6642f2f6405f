using Snapstone.Domain.Nodes;
using Snapstone.Domain.Packages;
using Snapstone.Domain.Plans;
using Snapstone.Domain.Risk;
using Snapstone.Domain.Units;

namespace Snapstone;

/// <summary>A unit as readers see it: its definition plus where its packages stand.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.UnitView")]
public sealed record UnitView
{
    [Id(0)] public required string Name { get; init; }
    [Id(1)] public required UnitDefinition Definition { get; init; }
    [Id(2)] public long? LkgVersion { get; init; }
    [Id(3)] public long? LatestVersion { get; init; }
    [Id(4)] public IReadOnlyList<long> Quarantined { get; init; } = [];
    [Id(5)] public string? ActiveRollout { get; init; }
    [Id(6)] public DateTimeOffset CreatedAt { get; init; }
    [Id(7)] public DateTimeOffset UpdatedAt { get; init; }
    [Id(8)] public string UpdatedBy { get; init; } = "";
    /// <summary>A redefinition that weakens the unit, waiting for another token's approval; null when there is none.</summary>
    [Id(9)] public PendingDefinition? PendingChange { get; init; }
}

/// <summary>New content for a unit, as a pipeline submits it.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.PackageDraft")]
public sealed record PackageDraft
{
    [Id(0)] public required byte[] Content { get; init; }
    [Id(1)] public string Message { get; init; } = "";
    [Id(2)] public string? Source { get; init; }

    /// <summary>In bytes of UTF-8 (<see cref="TextLimits"/>).</summary>
    public const int MaxMessageBytes = 4000;
    public const int MaxSourceLength = 2000;
}

/// <summary>
/// One package: immutable metadata written once at creation. <see cref="Version"/> is 0 for a dry run.
/// </summary>
[GenerateSerializer, Immutable, Alias("snapstone.PackageRecord")]
public sealed record PackageRecord
{
    [Id(0)] public required string Unit { get; init; }
    [Id(1)] public long Version { get; init; }
    [Id(2)] public required string Sha256 { get; init; }
    [Id(3)] public long SizeBytes { get; init; }
    [Id(4)] public DateTimeOffset CreatedAt { get; init; }
    [Id(5)] public string Author { get; init; } = "";
    [Id(6)] public string Message { get; init; } = "";
    [Id(7)] public string? Source { get; init; }
    [Id(8)] public required ValidationReport Validation { get; init; }
    [Id(9)] public required RiskAssessment Risk { get; init; }
    [Id(10)] public required ContentShape Shape { get; init; }
}

public enum PackageState
{
    /// <summary>Passed validation; may be rolled out.</summary>
    Valid,
    /// <summary>Failed validation; can never be rolled out.</summary>
    Rejected,
    /// <summary>Rolled back; can be rolled out again only through break-glass.</summary>
    Quarantined,
}

/// <summary>A package record with what is known about it now (state can change; the record cannot).</summary>
[GenerateSerializer, Immutable, Alias("snapstone.PackageView")]
public sealed record PackageView([property: Id(0)] PackageRecord Record, [property: Id(1)] PackageState State, [property: Id(2)] bool IsLkg);

/// <summary>A node as readers see it.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.NodeView")]
public sealed record NodeView
{
    [Id(0)] public required string Node { get; init; }
    [Id(1)] public required NodeIdentity Identity { get; init; }
    [Id(2)] public required IReadOnlyDictionary<string, DesiredPackage> Desired { get; init; }
    [Id(3)] public required IReadOnlyDictionary<string, AppliedPackage> Applied { get; init; }
    [Id(4)] public DateTimeOffset FirstSeenAt { get; init; }
    [Id(5)] public DateTimeOffset? LastReportAt { get; init; }
    [Id(6)] public NodeMetrics? LastMetrics { get; init; }
    [Id(7)] public long ReportsReceived { get; init; }
}

/// <summary>Node counts of one PoP.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.PopSummary")]
public sealed record PopSummary(
    [property: Id(0)] string Pop,
    [property: Id(1)] string Region,
    [property: Id(2)] int Nodes,
    [property: Id(3)] IReadOnlyDictionary<string, int> ByTier);

/// <summary>The fleet in numbers: nodes per PoP, region and tier, and its drift when the reader asked for it.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.FleetSummary")]
public sealed record FleetSummary(
    [property: Id(0)] int Nodes,
    [property: Id(1)] IReadOnlyList<PopSummary> Pops,
    [property: Id(2)] IReadOnlyDictionary<string, int> ByRegion,
    [property: Id(3)] IReadOnlyDictionary<string, int> ByTier)
{
    [Id(4)] public FleetDrift? Drift { get; init; }
}

/// <summary>A named plan as stored, with whether it is built in.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.PlanView")]
public sealed record PlanView([property: Id(0)] string Name, [property: Id(1)] Plan Plan, [property: Id(2)] bool BuiltIn, [property: Id(3)] string UpdatedBy, [property: Id(4)] DateTimeOffset? UpdatedAt);

/// <summary>A unit as a pipeline: how risky it is, why, and how its rollouts went.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.PipelineView")]
public sealed record PipelineView
{
    [Id(0)] public required UnitView Unit { get; init; }
    /// <summary>The unit's own risk: declared tier, kind, failure mode, blast radius, recent rollbacks.</summary>
    [Id(1)] public required RiskAssessment Risk { get; init; }
    /// <summary>The risk of its newest package, when it has one.</summary>
    [Id(2)] public RiskAssessment? LatestPackageRisk { get; init; }
    [Id(3)] public IReadOnlyList<RolloutSummary> LastRollouts { get; init; } = [];
    [Id(4)] public bool BreakGlassUsed { get; init; }
    [Id(5)] public double? FleetShare { get; init; }

    /// <summary>The score the ranking uses: the higher of the unit's and its newest package's.</summary>
    public int RankScore => Math.Max(Risk.Score, LatestPackageRisk?.Score ?? 0);
}

/// <summary>One slot of a batch report: the node's desired state, or why its report was refused (and the kind of refusal, for metrics).</summary>
[GenerateSerializer, Immutable, Alias("snapstone.ReportResult")]
public sealed record ReportResult(
    [property: Id(0)] string? Node,
    [property: Id(1)] DesiredState? Desired,
    [property: Id(2)] string? Error,
    [property: Id(3)] Snapstone.Domain.ProblemKind? Refusal = null);
