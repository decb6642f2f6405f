using Microsoft.Extensions.Logging;
using Snapstone.Domain.Drift;
using Snapstone.Domain.Nodes;
using Snapstone.Grains.Drift;

namespace Snapstone.Grains.Nodes;

/// <summary>
/// Drift, the node's side: on every report the node is told its desired state again, so each report is a
/// remediation attempt; <see cref="DriftRules.Track"/> keeps since when each unit diverged and counts the
/// attempts past the grace. A node that exhausts them is excluded for that unit: it takes no new wave
/// assignment (the assignment waits, see <see cref="NodeDriftState.Deferred"/>) and never counts as running
/// the package, so a wave waiting on it stalls and names it instead of passing.
/// </summary>
public sealed partial class NodeHealthGrain
{
    /// <summary>Read once per activation: every report consults it several times.</summary>
    private DriftSettings DriftSettings => _driftSettings ??= driftOptions.Value.Settings();
    private DriftSettings? _driftSettings;

    public async Task<NodeDriftFacts?> DriftFacts()
    {
        if (state.State.Identity is not { } identity)
        {
            return null;
        }
        var now = time.GetUtcNow();
        var desired = Desired(await Catalog(null)).Units;
        // In memory only: a scan never writes. A desired state that changed since the last report starts its mark now.
        MarkDrift(desired, now, remediation: false);
        var drift = state.State.Drift;
        var units = desired.Keys.Union(state.State.Applied.Keys).Order(StringComparer.Ordinal).Select(unit =>
        {
            var package = desired.GetValueOrDefault(unit);
            var applied = state.State.Applied.GetValueOrDefault(unit);
            var mark = drift.Marks.GetValueOrDefault(unit);
            return new UnitDriftFacts
            {
                Unit = unit,
                DesiredVersion = package?.Version,
                DesiredSha256 = package?.Sha256,
                Applied = applied?.Package,
                AppliedSince = applied?.Since,
                DivergedSince = mark?.Since,
                Attempts = mark?.Attempts ?? 0,
            };
        });
        return new NodeDriftFacts
        {
            Node = Id,
            Pop = identity.Pop,
            LastReportAt = drift.LastReportAt ?? state.State.FirstSeenAt,
            IntervalSeconds = drift.IntervalSeconds,
            Units = [.. units],
        };
    }

    /// <summary>A report: the node is about to be told its desired state again. True when it took a deferred assignment.</summary>
    private bool TrackDrift(Catalog catalog, NodeReport report, DateTimeOffset now)
    {
        state.State.Drift.LastReportAt = now;
        state.State.Drift.IntervalSeconds = report.IntervalSeconds;
        MarkDrift(Desired(catalog).Units, now, remediation: true);
        if (state.State.Drift.Deferred.Count > 0 && TakeDeferred(now))
        {
            MarkDrift(Desired(catalog).Units, now, remediation: false);
            return true;
        }
        return false;
    }

    /// <summary>Re-marks every desired unit and forgets units no longer desired.</summary>
    private void MarkDrift(IReadOnlyDictionary<string, DesiredPackage> desired, DateTimeOffset now, bool remediation)
    {
        foreach (var (unit, package) in desired)
        {
            MarkDrift(unit, package, now, remediation);
        }
        if (state.State.Drift.Marks.Count > 0)
        {
            foreach (var unit in state.State.Drift.Marks.Keys.Where(u => !desired.ContainsKey(u)).ToList())
            {
                MarkDrift(unit, null, now);
            }
        }
    }

    /// <summary>Re-marks one unit against <paramref name="package"/> (null: nothing desired).</summary>
    private void MarkDrift(string unit, DesiredPackage? package, DateTimeOffset now, bool remediation = false)
    {
        var settings = DriftSettings;
        var marks = state.State.Drift.Marks;
        var before = marks.GetValueOrDefault(unit);
        var applied = state.State.Applied.GetValueOrDefault(unit)?.Package;
        var after = DriftRules.Track(before, package?.Version, package?.Sha256, applied, now, Grace, remediation);
        if (after is null)
        {
            marks.Remove(unit);
        }
        else
        {
            marks[unit] = after;
        }
        var wasExcluded = DriftRules.Excluded(before, settings);
        var isExcluded = DriftRules.Excluded(after, settings);
        if (!wasExcluded && isExcluded)
        {
            logger.LogWarning("Node {Node} excluded for {Unit}: drifted from v{Version} since {Since:O} after {Attempts} attempts",
                Id, unit, after!.DesiredVersion, after.Since, after.Attempts);
            DriftMetrics.Excluded(unit);
        }
        else if (wasExcluded && !isExcluded)
        {
            logger.LogInformation("Node {Node} readmitted for {Unit}: {How}", Id, unit, after is null ? "converged" : $"told to run v{after.DesiredVersion} instead");
            DriftMetrics.Readmitted(unit);
        }
    }

    private TimeSpan Grace => DriftSettings.GraceFor(state.State.Drift.IntervalSeconds);

    /// <summary>What of the marks must survive a restart now (<see cref="DriftRules.Durable"/>).</summary>
    private Dictionary<string, DurableMark> DurableMarks(DateTimeOffset now)
    {
        var durable = new Dictionary<string, DurableMark>(StringComparer.Ordinal);
        foreach (var (unit, mark) in state.State.Drift.Marks)
        {
            if (DriftRules.Durable(mark, now, Grace, DriftSettings) is { } stored)
            {
                durable[unit] = stored;
            }
        }
        return durable;
    }

    /// <summary>
    /// Writes behind when what must survive a restart changed since the last write: a node that converges within
    /// the grace never writes, so a wave of 10,000 nodes that all apply on time costs storage nothing.
    /// </summary>
    private void Checkpoint(DateTimeOffset now)
    {
        if (state.State.Drift.Marks.Count == 0 && _storedMarks.Count == 0)
        {
            return; // converged, and stored as converged: the common case
        }
        var durable = DurableMarks(now);
        if (durable.Count != _storedMarks.Count || durable.Any(d => !_storedMarks.TryGetValue(d.Key, out var stored) || stored != d.Value))
        {
            _storedMarks = durable;
            WriteBehind();
        }
    }

    /// <summary>Excluded for <paramref name="unit"/>: the node's reports say nothing about any package of it.</summary>
    private bool ExcludedFrom(string unit) => DriftRules.Excluded(state.State.Drift.Marks.GetValueOrDefault(unit), DriftSettings);

    /// <summary>
    /// A wave assignment for a unit the node is excluded for waits instead of being taken: the node is in an
    /// unknown state, and a new package would be judged on it. True when the assignment was deferred.
    /// </summary>
    private bool DeferWhileExcluded(NodeAssignment assignment, DateTimeOffset now)
    {
        if (!ExcludedFrom(assignment.Unit))
        {
            return false;
        }
        var deferred = state.State.Drift.Deferred;
        if (deferred.GetValueOrDefault(assignment.Unit) is { } known && known.Rollout == assignment.Rollout && known.Package == assignment.Package)
        {
            return true;
        }
        deferred[assignment.Unit] = new Assignment(assignment.Package, assignment.Rollout, now, assignment.Gates);
        WriteBehind();
        logger.LogWarning("Node {Node} is excluded for {Unit}: rollout {Rollout}'s v{Version} waits until the node converges",
            Id, assignment.Unit, assignment.Rollout, assignment.Package.Version);
        return true;
    }

    /// <summary>A rollback reaches the node: an assignment it deferred must never be taken later.</summary>
    private void DropDeferred(string unit)
    {
        if (state.State.Drift.Deferred.Remove(unit))
        {
            WriteBehind();
        }
    }

    /// <summary>Takes the deferred assignments of units the node is no longer excluded for. True when it took any.</summary>
    private bool TakeDeferred(DateTimeOffset now)
    {
        var deferred = state.State.Drift.Deferred;
        var ready = deferred.Where(d => !ExcludedFrom(d.Key)).ToList();
        foreach (var (unit, assignment) in ready)
        {
            deferred.Remove(unit);
            _assignments[unit] = assignment with { At = now };
            logger.LogInformation("Node {Node} takes rollout {Rollout}'s deferred v{Version} of {Unit}", Id, assignment.Rollout, assignment.Package.Version, unit);
        }
        if (ready.Count > 0)
        {
            _window.CaptureBaseline(now);
            SignalAssignmentsChanged();
        }
        return ready.Count > 0;
    }
}
