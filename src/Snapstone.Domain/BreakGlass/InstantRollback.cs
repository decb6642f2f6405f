using Snapstone.Domain.Rollouts;

namespace Snapstone.Domain.BreakGlass;

/// <summary>One version of a unit's package, by number and content hash.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.PackageRef")]
public sealed record PackageRef([property: Id(0)] long Version, [property: Id(1)] string Sha256);

/// <summary>What a unit knows that decides an instant rollback.</summary>
public sealed record RollbackFacts
{
    /// <summary>The unit's last known good package; null when none completed (or the last was reverted to nothing).</summary>
    public PackageRef? Lkg { get; init; }
    /// <summary>The package the LKG replaced when it completed (null: it was the unit's first, or is unknown).</summary>
    public PackageRef? LkgPrevious { get; init; }
    /// <summary>The rollout in flight (not finished), if any: its id, its package and the package it replaces.</summary>
    public (string Id, PackageRef Package, PackageRef? Previous)? InFlight { get; init; }
    /// <summary>Versions that can never be rolled out again without break-glass.</summary>
    public IReadOnlyCollection<long> Quarantined { get; init; } = [];
}

/// <summary>
/// The decided instant rollback: every consumer to <see cref="Target"/> (null: no package of the unit, agents keep
/// their built-in default), <see cref="TakenBack"/> quarantined, the in-flight rollout (if any) stopped, and the
/// target becomes the LKG.
/// </summary>
public sealed record RollbackPlan(PackageRef? Target, PackageRef TakenBack, string? StopRollout)
{
    /// <summary>The target's version, or "no package".</summary>
    public string TargetText => Target is { } t ? $"v{t.Version}" : "no package";
}

/// <summary>
/// What break-glass rollback does to a unit, as a pure rule. With a rollout in flight, its version is taken back and
/// every consumer returns to the LKG (or <c>toVersion</c>). With none in flight, the newest completed version (the
/// LKG) is taken back and every consumer returns to the version it replaced (or <c>toVersion</c>): the common emergency
/// of a change that completed an hour ago and turns out bad.
/// </summary>
/// <example>
/// LKG v8 (it replaced v7), nothing in flight → v8 quarantined, everyone to v7, v7 the LKG.
/// LKG v8, rollout of v9 in flight → v9 quarantined, rollout stopped, everyone to v8.
/// LKG v1 (the unit's first), nothing in flight → v1 quarantined, everyone to no package, no LKG.
/// </example>
public static class InstantRollback
{
    /// <summary>
    /// The plan, or why there is none. <paramref name="toVersion"/>, when given, names the target; <paramref name="find"/>
    /// looks a version up (null: no such package) with whether it passed validation.
    /// </summary>
    public static (RollbackPlan? Plan, Refusal? Refusal) Plan(RollbackFacts facts, long? toVersion, Func<long, (PackageRef Package, bool Passed)?> find)
    {
        PackageRef takenBack;
        PackageRef? target;
        string? stop = null;
        if (facts.InFlight is { } inFlight)
        {
            takenBack = inFlight.Package;
            target = facts.Lkg;
            stop = inFlight.Id;
        }
        else if (facts.Lkg is { } lkg)
        {
            takenBack = lkg;
            target = facts.LkgPrevious;
        }
        else
        {
            return (null, new Refusal(ProblemKind.Conflict, "the unit has no rollout in flight and no completed version to take back"));
        }
        if (toVersion is { } wanted)
        {
            if (find(wanted) is not { } found)
            {
                return (null, new Refusal(ProblemKind.NotFound, $"toVersion: the unit has no package version {wanted}"));
            }
            if (!found.Passed)
            {
                return (null, new Refusal(ProblemKind.Conflict, $"toVersion: v{wanted} was rejected by validation and can never be rolled out"));
            }
            if (wanted == takenBack.Version)
            {
                return (null, new Refusal(ProblemKind.Conflict, $"toVersion: v{wanted} is the version being taken back"));
            }
            if (facts.Quarantined.Contains(wanted))
            {
                return (null, new Refusal(ProblemKind.Conflict, $"toVersion: v{wanted} is quarantined; return to a version that is not"));
            }
            target = found.Package;
        }
        else if (target is { } before && facts.Quarantined.Contains(before.Version))
        {
            return (null, new Refusal(ProblemKind.Conflict, $"v{before.Version}, the version before v{takenBack.Version}, is quarantined; name toVersion to return to another"));
        }
        return (new RollbackPlan(target, takenBack, stop), null);
    }
}
