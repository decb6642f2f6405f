using Snapstone.Domain.Plans;

namespace Snapstone.Domain.Rollouts;

/// <summary>
/// What a rollout is asked to do; fixed at creation. Its progress lives in <see cref="RolloutStatus"/>.
/// The plan is a copy taken at creation, so redefining a plan never changes a rollout in flight.
/// </summary>
[GenerateSerializer, Immutable, Alias("snapstone.RolloutSpec")]
public sealed record RolloutSpec
{
    [Id(0)] public required string Id { get; init; }
    [Id(1)] public required string Unit { get; init; }
    [Id(2)] public required long Version { get; init; }
    [Id(3)] public required string Sha256 { get; init; }
    /// <summary>The package nodes return to on rollback; null for a unit's first package (nodes then drop the unit).</summary>
    [Id(4)] public long? PreviousVersion { get; init; }
    [Id(5)] public string? PreviousSha256 { get; init; }
    [Id(6)] public required Plan Plan { get; init; }
    [Id(7)] public required string PlanName { get; init; }
    [Id(8)] public string Reason { get; init; } = "";
    /// <summary>Who started it; they may not approve it.</summary>
    [Id(9)] public required string CreatedBy { get; init; }
    [Id(10)] public DateTimeOffset CreatedAt { get; init; }
    /// <summary>Decisions taken at creation worth showing, e.g. "plan raised to high-risk: the unit is high-risk".</summary>
    [Id(11)] public IReadOnlyList<string> Notes { get; init; } = [];

    /// <summary>Who wrote the package; like the creator, they may not approve its rollout.</summary>
    [Id(12)] public string? PackageAuthor { get; init; }
    /// <summary>An emergency deploy through break-glass: freezes do not hold it (it is still watched and rolled back on regression).</summary>
    [Id(13)] public bool BreakGlass { get; init; }

    /// <summary>The plan the request named (null: the unit's); <see cref="PlanName"/> is the one used, which a high-risk change may raise.</summary>
    [Id(14)] public string? RequestedPlan { get; init; }

    /// <summary>Who may not approve it: its creator and the package's author, each named once.</summary>
    public IReadOnlyList<string> Excluded =>
        PackageAuthor is { Length: > 0 } author && !string.Equals(author, CreatedBy, StringComparison.OrdinalIgnoreCase)
            ? [CreatedBy, author]
            : [CreatedBy];

    /// <summary>The salt for <see cref="WaveSelector"/>: the unit's name, so its percentage cohorts are the same in every rollout.</summary>
    public string Salt => Unit;
}
