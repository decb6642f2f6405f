using Snapstone.Domain.Nodes;

namespace Snapstone.Domain.Drift;

/// <summary>
/// Applied versus desired, per node and unit. Pure: the node grain tracks since when each unit diverged
/// (<see cref="Track"/>), a PoP's drift scan classifies what the nodes know (<see cref="Classify"/>).
/// </summary>
/// <remarks>
/// In order, for one (node, unit):
/// <list type="number">
/// <item>The node has been silent longer than <see cref="DriftSettings.StaleAfterFor"/> → Stale: nothing it
/// said can be trusted, whatever it said.</item>
/// <item>It reports running a package Snapstone never issued for the unit (an unknown version, a hash that is
/// not the version's, or a package that failed validation) → OutOfBand, at once: no rollout explains it.</item>
/// <item>It runs its desired package, or it should run none → Converged.</item>
/// <item>Otherwise it has diverged: within the grace → Diverging (still applying); past it → Drifted.</item>
/// </list>
/// A refusal (<see cref="ApplyStatus.Rejected"/>) is divergence too: the node keeps a package it should not.
/// </remarks>
public static class DriftRules
{
    /// <summary>Whether <paramref name="applied"/> is the desired package: same version, and the same hash when the node reports one.</summary>
    public static bool Converged(AppliedPackage? applied, long? desiredVersion, string? desiredSha256) =>
        desiredVersion is { } version && applied is { Status: ApplyStatus.Ok } a && a.Version == version &&
        (a.Sha256 is null || a.Sha256 == desiredSha256);

    /// <summary>
    /// The node's mark for one unit after it was (re)told its desired package at <paramref name="now"/>. Null when
    /// it converged or should run nothing. A new desired package starts a new mark; a report past the grace
    /// (<paramref name="remediation"/>) counts one more attempt.
    /// </summary>
    /// <example>
    /// Grace 2 s, desired v8. At 10:00:00 the node reports v7 → mark since 10:00:00, 0 attempts. Reports at
    /// 10:00:01 and 10:00:02 → unchanged (within grace). 10:00:03 → 1 attempt. Desired becomes v9 → a new mark
    /// since then, 0 attempts. The node reports v9 → null.
    /// </example>
    public static DriftMark? Track(DriftMark? mark, long? desiredVersion, string? desiredSha256, AppliedPackage? applied,
        DateTimeOffset now, TimeSpan grace, bool remediation)
    {
        if (desiredVersion is not { } version || desiredSha256 is null || Converged(applied, version, desiredSha256))
        {
            return null;
        }
        if (mark is null || mark.DesiredVersion != version || mark.DesiredSha256 != desiredSha256)
        {
            return new DriftMark(version, desiredSha256, now);
        }
        return remediation && now - mark.Since > grace ? mark with { Attempts = mark.Attempts + 1 } : mark;
    }

    /// <summary>Drifted past the allowed attempts: new wave cohorts skip the node and rollouts never count it converged.</summary>
    public static bool Excluded(DriftMark? mark, DriftSettings settings) =>
        mark is not null && Excluded(mark.Attempts, settings);

    /// <summary>Whether <paramref name="attempts"/> remediation attempts exhaust the node's chances.</summary>
    public static bool Excluded(int attempts, DriftSettings settings) =>
        settings.MaxAttempts > 0 && attempts >= settings.MaxAttempts;

    /// <summary>
    /// The part of a mark that must survive a restart: a divergence past the grace (with since when, so that a
    /// restart does not restart the clock on a drifted node) and whether it excluded the node. A mark within the
    /// grace is a node still applying, which a restart may forget; attempts are written with the next write.
    /// Null when nothing about the unit needs storing. The node grain writes when this changes for any unit.
    /// </summary>
    /// <example>
    /// Grace 2 s, a mark since 10:00:00. At 10:00:01 → null (still applying). At 10:00:03 → (v8, since 10:00:00,
    /// not excluded): written once. More attempts → the same value: not written again, until the attempts exclude it.
    /// </example>
    public static DurableMark? Durable(DriftMark? mark, DateTimeOffset now, TimeSpan grace, DriftSettings settings) =>
        mark is null || (now - mark.Since <= grace && !Excluded(mark, settings))
            ? null
            : new DurableMark(mark.DesiredVersion, mark.DesiredSha256, mark.Since, Excluded(mark, settings));

    /// <summary>Whether the scan must ask if Snapstone issued what the node runs: it runs something, and not its desired package.</summary>
    public static bool NeedsIssueCheck(UnitDriftFacts unit) =>
        unit.Applied is { Status: ApplyStatus.Ok } && !Converged(unit.Applied, unit.DesiredVersion, unit.DesiredSha256);

    /// <summary>
    /// Classifies one unit of one node (see the remarks on <see cref="DriftRules"/>). <paramref name="issued"/>
    /// answers whether Snapstone issued a package for a unit; without it nothing is out of band.
    /// </summary>
    public static DriftKind Classify(NodeDriftFacts node, UnitDriftFacts unit, DateTimeOffset now, DriftSettings settings,
        Func<string, AppliedPackage, bool>? issued)
    {
        if (now - node.LastReportAt > settings.StaleAfterFor(node.IntervalSeconds))
        {
            return DriftKind.Stale;
        }
        if (NeedsIssueCheck(unit) && issued is not null && !issued(unit.Unit, unit.Applied!))
        {
            return DriftKind.OutOfBand;
        }
        if (unit.DesiredVersion is null || Converged(unit.Applied, unit.DesiredVersion, unit.DesiredSha256))
        {
            return DriftKind.Converged;
        }
        var since = unit.DivergedSince ?? now;
        return now - since > settings.GraceFor(node.IntervalSeconds) ? DriftKind.Drifted : DriftKind.Diverging;
    }

    /// <summary>The node's lines for the drift list: its drifted, stale and out-of-band units, by unit name.</summary>
    public static IReadOnlyList<DriftEntry> Entries(NodeDriftFacts node, DateTimeOffset now, DriftSettings settings,
        Func<string, AppliedPackage, bool>? issued)
    {
        var entries = new List<DriftEntry>();
        foreach (var unit in node.Units.OrderBy(u => u.Unit, StringComparer.Ordinal))
        {
            var kind = Classify(node, unit, now, settings, issued);
            if (kind is DriftKind.Converged or DriftKind.Diverging)
            {
                continue;
            }
            entries.Add(new DriftEntry
            {
                Node = node.Node,
                Pop = node.Pop,
                Unit = unit.Unit,
                Kind = kind,
                DesiredVersion = unit.DesiredVersion,
                AppliedVersion = unit.Applied?.Version,
                AppliedSha256 = unit.Applied?.Sha256,
                Since = kind switch
                {
                    DriftKind.Stale => node.LastReportAt,
                    DriftKind.OutOfBand => unit.DivergedSince ?? unit.AppliedSince ?? node.LastReportAt,
                    _ => unit.DivergedSince ?? now,
                },
                Attempts = unit.Attempts,
                Excluded = Excluded(unit.Attempts, settings),
            });
        }
        return entries;
    }
}
