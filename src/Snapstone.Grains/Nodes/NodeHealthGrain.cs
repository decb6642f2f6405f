using Microsoft.Extensions.Logging;
using Snapstone.Domain.Nodes;

namespace Snapstone.Grains.Nodes;

/// <summary>The package a rollout (or rollback) told this node to run for one unit.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.Assignment")]
public sealed record Assignment(
    [property: Id(0)] DesiredPackage Package,
    [property: Id(1)] string? Rollout,
    [property: Id(2)] DateTimeOffset At);

[GenerateSerializer, Immutable, Alias("snapstone.AppliedRecord")]
public sealed record AppliedRecord([property: Id(0)] AppliedPackage Package, [property: Id(1)] DateTimeOffset Since);

[GenerateSerializer, Alias("snapstone.NodeState")]
public sealed class NodeState
{
    [Id(0)] public NodeIdentity? Identity { get; set; }
    [Id(1)] public DateTimeOffset FirstSeenAt { get; set; }
    [Id(2)] public Dictionary<string, AppliedRecord> Applied { get; set; } = [];
    /// <summary>Explicit desired packages; a unit without one follows its LKG.</summary>
    [Id(3)] public Dictionary<string, Assignment> Assignments { get; set; } = [];
}

public sealed class NodeHealthGrain(
    [PersistentState("node", StorageNames.Grains)] IPersistentState<NodeState> state,
    TimeProvider time,
    ILocalSiloDetails silo,
    ILogger<NodeHealthGrain> logger) : Grain, INodeHealthGrain
{
    private static readonly TimeSpan DesiredPollInterval = TimeSpan.FromMilliseconds(200);

    private DateTimeOffset? _lastReportAt;
    private NodeMetrics? _lastMetrics;
    private long _reports;
    private TaskCompletionSource _assignmentsChanged = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private string Id => this.GetPrimaryKeyString();

    public async Task<DesiredState> Report(NodeReport report)
    {
        var catalog = await Catalog(report.Applied is { Count: > 0 } reported ? [.. reported.Keys] : null);
        if (report.Applied?.Keys.FirstOrDefault(u => !catalog.Units.ContainsKey(u)) is { } unknown)
        {
            throw SnapstoneException.Invalid($"applied: unknown unit '{unknown}' (no such unit is defined)");
        }

        var now = time.GetUtcNow();
        var identity = report.Identity;
        var dirty = await Register(identity, now);
        foreach (var (unit, applied) in report.Applied ?? new Dictionary<string, AppliedPackage>())
        {
            if (!state.State.Applied.TryGetValue(unit, out var known) || known.Package != applied)
            {
                state.State.Applied[unit] = new AppliedRecord(applied, now);
                dirty = true;
            }
        }
        if (dirty)
        {
            await state.WriteStateAsync();
        }
        _lastReportAt = now;
        _lastMetrics = report.Metrics;
        _reports++;
        return Desired(catalog);
    }

    public async Task<NodeView?> GetView()
    {
        if (state.State.Identity is null)
        {
            return null;
        }
        var desired = Desired(await Catalog(null));
        return new NodeView
        {
            Node = Id,
            Identity = state.State.Identity,
            Desired = desired.Units,
            Applied = state.State.Applied.ToDictionary(a => a.Key, a => a.Value.Package),
            FirstSeenAt = state.State.FirstSeenAt,
            LastReportAt = _lastReportAt,
            LastMetrics = _lastMetrics,
            ReportsReceived = _reports,
        };
    }

    public async Task<DesiredState?> WaitForDesired(long stamp, TimeSpan wait)
    {
        if (state.State.Identity is null)
        {
            return null;
        }
        var deadline = time.GetUtcNow() + wait;
        while (true)
        {
            var desired = Desired(await Catalog(null));
            var left = deadline - time.GetUtcNow();
            if (desired.Stamp != stamp || left <= TimeSpan.Zero)
            {
                return desired;
            }
            // Assignments wake the waiter at once; LKG changes arrive through the catalog, polled.
            var delay = left < DesiredPollInterval ? left : DesiredPollInterval;
            await Task.WhenAny(_assignmentsChanged.Task, Task.Delay(delay, time));
        }
    }

    /// <summary>Records a new or changed identity and keeps the PoP membership in step. True when state changed.</summary>
    private async Task<bool> Register(NodeIdentity identity, DateTimeOffset now)
    {
        var previous = state.State.Identity;
        if (previous is not null && previous.SameAs(identity))
        {
            return false;
        }
        await GrainFactory.GetGrain<IPopGrain>(identity.Pop).Register(Id, identity);
        if (previous is not null && previous.Pop != identity.Pop)
        {
            await GrainFactory.GetGrain<IPopGrain>(previous.Pop).Unregister(Id);
        }
        if (previous is null)
        {
            state.State.FirstSeenAt = now;
            logger.LogInformation("Node {Node} registered in PoP {Pop} ({Region}, tier {Tier})", Id, identity.Pop, identity.Region, identity.Tier);
        }
        state.State.Identity = identity;
        return true;
    }

    private Task<Catalog> Catalog(IReadOnlyCollection<string>? mustKnow) =>
        GrainFactory.GetGrain<ICatalogCacheGrain>(silo.SiloAddress.ToParsableString()).Get(mustKnow);

    /// <summary>
    /// For every unit whose targets match the node: its explicit assignment, else the unit's LKG.
    /// A unit with neither is absent. The stamp is a hash of the result, so it changes exactly when the result does.
    /// </summary>
    private DesiredState Desired(Catalog catalog)
    {
        var labels = state.State.Identity!.Labels;
        var units = new SortedDictionary<string, DesiredPackage>(StringComparer.Ordinal);
        foreach (var (unit, entry) in catalog.Units)
        {
            if (!entry.Targets.Matches(labels))
            {
                continue;
            }
            var package = state.State.Assignments.TryGetValue(unit, out var assignment) ? assignment.Package : entry.Lkg;
            if (package is not null)
            {
                units[unit] = package;
            }
        }
        var hash = new HashCode();
        foreach (var (unit, package) in units)
        {
            hash.Add(unit, StringComparer.Ordinal);
            hash.Add(package.Version);
            hash.Add(package.Sha256, StringComparer.Ordinal);
        }
        return new DesiredState(units, units.Count == 0 ? 0 : (uint)hash.ToHashCode() | 1L << 32);
    }

    internal void SignalAssignmentsChanged()
    {
        var previous = _assignmentsChanged;
        _assignmentsChanged = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        previous.TrySetResult();
    }
}
