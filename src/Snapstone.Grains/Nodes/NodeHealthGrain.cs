using Microsoft.Extensions.Logging;
using Snapstone.Domain.Health;
using Snapstone.Domain.Nodes;
using Snapstone.Domain.Plans;
using Snapstone.Grains.Storage;
using Snapstone.Grains.Units;

namespace Snapstone.Grains.Nodes;

/// <summary>The package a rollout (or rollback) told this node to run for one unit.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.Assignment")]
public sealed record Assignment(
    [property: Id(0)] DesiredPackage Package,
    [property: Id(1)] string? Rollout,
    [property: Id(2)] DateTimeOffset At,
    /// <summary>The gates this node's own health is checked against while the rollout is live; null after a rollback.</summary>
    [property: Id(3)] Gates? Gates = null,
    /// <summary>The package the rollout replaces, where the node goes back at once if it crashes on this one.</summary>
    [property: Id(4)] DesiredPackage? Previous = null);

[GenerateSerializer, Immutable, Alias("snapstone.AppliedRecord")]
public sealed record AppliedRecord([property: Id(0)] AppliedPackage Package, [property: Id(1)] DateTimeOffset Since);

[GenerateSerializer, Alias("snapstone.NodeState")]
public sealed class NodeState
{
    [Id(0)] public NodeIdentity? Identity { get; set; }
    [Id(1)] public DateTimeOffset FirstSeenAt { get; set; }
    /// <summary>What the node last reported running, per unit. Written behind: the node says it again in its next report.</summary>
    [Id(2)] public Dictionary<string, AppliedRecord> Applied { get; set; } = [];
    // Id 3 held the node's assignments; they live in memory now, recovered from the PoP's order ledger.
    [Id(4)] public NodeDriftState Drift { get; set; } = new();
}

/// <summary>
/// One edge node. Durable: its identity (written before its first report is answered), what it runs and its
/// drift marks (written behind). In memory: its assignments, which the PoP's order ledger holds durably and
/// gives back when the grain activates, its health window and baseline.
/// </summary>
public sealed partial class NodeHealthGrain : Grain, INodeFanOutGrain
{
    private static readonly TimeSpan DesiredPollInterval = TimeSpan.FromMilliseconds(200);

    private readonly IPersistentState<NodeState> state;
    private readonly TimeProvider time;
    private readonly ILocalSiloDetails silo;
    private readonly ILogger<NodeHealthGrain> logger;
    private readonly Microsoft.Extensions.Options.IOptions<Drift.DriftOptions> driftOptions;
    private readonly CatalogSnapshot snapshot;
    private readonly Microsoft.Extensions.Options.IOptions<CatalogOptions> catalogOptions;
    private readonly StateWriter _writer;
    /// <summary>Explicit desired packages; a unit without one follows its LKG.</summary>
    private readonly Dictionary<string, Assignment> _assignments = [];
    /// <summary>What the node runs changed since the last write (it is written with the next one, or at deactivation).</summary>
    private bool _appliedUnwritten;
    /// <summary>The drift marks as the last write stored them (<see cref="Checkpoint"/>).</summary>
    private Dictionary<string, Domain.Drift.DurableMark> _storedMarks = [];

    public NodeHealthGrain(
        [PersistentState("node", StorageNames.Grains)] IPersistentState<NodeState> state,
        TimeProvider time,
        ILocalSiloDetails silo,
        ILogger<NodeHealthGrain> logger,
        Microsoft.Extensions.Options.IOptions<Drift.DriftOptions> driftOptions,
        CatalogSnapshot snapshot,
        Microsoft.Extensions.Options.IOptions<CatalogOptions> catalogOptions)
    {
        this.snapshot = snapshot;
        this.catalogOptions = catalogOptions;
        this.state = state;
        this.time = time;
        this.silo = silo;
        this.logger = logger;
        this.driftOptions = driftOptions;
        _writer = new StateWriter(state.WriteStateAsync, logger, () => $"node {Id}", () => this.DeactivateOnIdle());
    }

    private DateTimeOffset? _lastReportAt;
    private NodeMetrics? _lastMetrics;
    private long _reports;
    private TaskCompletionSource _assignmentsChanged = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly HealthWindow _window = new();
    /// <summary>
    /// The package this node crashed on and was sent back from at once, per unit: it ran that package, though it no
    /// longer does when the rollout's own rollback reaches it (which counts the nodes that ran the bad package).
    /// </summary>
    private readonly Dictionary<string, DesiredPackage> _crashedOff = [];
    /// <summary>Signals already pushed, so each rollout hears of each kind of trouble from a node once per activation.</summary>
    private readonly HashSet<(string Rollout, SignalKind Kind)> _signalled = [];

    private string Id => this.GetPrimaryKeyString();

    /// <summary>Takes back what the PoP's ledger says this node was told; the PoP is reentrant, so a wave fanning out to this node cannot deadlock with it.</summary>
    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _storedMarks = DurableMarks(time.GetUtcNow());
        if (state.State.Identity is not { } identity)
        {
            return;
        }
        await TakeOrders(identity.Pop, time.GetUtcNow());
    }

    private async Task TakeOrders(string pop, DateTimeOffset now)
    {
        foreach (var order in await GrainFactory.GetGrain<IPopFanOutGrain>(pop).OrdersFor(Id))
        {
            if (order.Assignment is { } assignment)
            {
                Take(assignment, now);
            }
            else
            {
                Return(order.Unit, order.ReturnedTo, now);
            }
        }
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        await _writer.FlushAsync();
        if (_writer.Behind || _appliedUnwritten)
        {
            try
            {
                _appliedUnwritten = false;
                await _writer.WriteAsync();
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "Node {Node} deactivates with unwritten state; its next report restores it", Id);
            }
        }
    }

    public async Task<DesiredState> Report(NodeReport report)
    {
        var catalog = await Catalog(report.Applied is { Count: > 0 } reported ? reported.Keys : null);
        foreach (var unit in report.Applied?.Keys ?? [])
        {
            if (!catalog.Units.ContainsKey(unit))
            {
                throw SnapstoneException.Invalid($"applied: unknown unit '{unit}' (no such unit is defined)");
            }
        }

        var now = time.GetUtcNow();
        if (!report.Describes(state.State.Identity))
        {
            var identity = report.Identity;
            var joined = state.State.Identity?.Pop != identity.Pop;
            await Register(identity, now);
            // A node is known once its answer is out: identity is written through.
            _appliedUnwritten = false;
            await _writer.WriteAsync();
            if (joined)
            {
                // A node that joins a PoP mid-rollout is in whatever cohort its hash puts it: it takes the wave's order now.
                await TakeOrders(identity.Pop, now);
            }
        }
        foreach (var (unit, applied) in report.Applied ?? new Dictionary<string, AppliedPackage>())
        {
            if (!state.State.Applied.TryGetValue(unit, out var known) || known.Package != applied)
            {
                // Stored with the node's next write, not on its own: the node says it again in its next report.
                state.State.Applied[unit] = new AppliedRecord(applied, now);
                _appliedUnwritten = true;
                _window.Split(now);
            }
        }
        if (report.Applied is { } running && state.State.Applied.Keys.Where(u => !running.ContainsKey(u)).ToList() is { Count: > 0 } dropped)
        {
            // A unit the node no longer lists runs no package of ours: its agent is back on its built-in default
            // (a first package rolled back, say).
            foreach (var unit in dropped)
            {
                state.State.Applied.Remove(unit);
            }
            _appliedUnwritten = true;
            _window.Split(now);
        }
        if (TrackDrift(catalog, report, now))
        {
            WriteBehind();
        }
        Checkpoint(now);
        _lastReportAt = now;
        _lastMetrics = report.Metrics;
        _reports++;
        if (report.Metrics is { } metrics)
        {
            _window.Add(now, metrics);
        }
        SignalLiveRollouts(now);
        // After any send-back above; from the cache when nothing moved.
        return Desired(catalog);
    }

    /// <summary>In memory only: the PoP wrote the order to its ledger before fanning it out.</summary>
    public Task Assign(NodeAssignment assignment)
    {
        Take(assignment, time.GetUtcNow());
        return Task.CompletedTask;
    }

    private void Take(NodeAssignment assignment, DateTimeOffset now)
    {
        if (_assignments.TryGetValue(assignment.Unit, out var known) &&
            known.Rollout == assignment.Rollout && known.Package == assignment.Package)
        {
            return;
        }
        if (DeferWhileExcluded(assignment, now))
        {
            return;
        }
        _window.CaptureBaseline(now);
        _assignments[assignment.Unit] = new Assignment(assignment.Package, assignment.Rollout, now, assignment.Gates, assignment.Previous);
        MarkDrift(assignment.Unit, assignment.Package, now);
        Checkpoint(now);
        SignalAssignmentsChanged();
    }

    public Task<bool> ReturnTo(string rollout, string unit, DesiredPackage? previous, DesiredPackage from)
    {
        var ran = (state.State.Applied.GetValueOrDefault(unit)?.Package is { Status: ApplyStatus.Ok } applied && Runs(applied, from)) ||
                  _crashedOff.GetValueOrDefault(unit) == from;
        if (Return(unit, previous, time.GetUtcNow()))
        {
            logger.LogInformation("Node {Node} sent back to {Unit} v{Version} by rollout {Rollout}", Id, unit, previous?.Version, rollout);
        }
        return Task.FromResult(ran);
    }

    /// <summary>Replaces the unit's assignment with <paramref name="previous"/> (null: none, follow the LKG). True when it changed.</summary>
    private bool Return(string unit, DesiredPackage? previous, DateTimeOffset now)
    {
        DropDeferred(unit);
        var known = _assignments.GetValueOrDefault(unit);
        if (known is not null ? known.Rollout is null && known.Package == previous : previous is null)
        {
            return false;
        }
        if (previous is null)
        {
            _assignments.Remove(unit);
        }
        else
        {
            _assignments[unit] = new Assignment(previous, null, now);
        }
        MarkDrift(unit, previous, now);
        Checkpoint(now);
        SignalAssignmentsChanged();
        return true;
    }

    public Task<NodeObservation> Observe(string unit, DesiredPackage package) =>
        Task.FromResult(ObservationOf(unit, package, time.GetUtcNow()));

    /// <summary>
    /// The node's health as evidence about one package: traffic since it started reporting that package,
    /// or none when it does not run it; a refusal of exactly that package counts as rejected.
    /// </summary>
    private NodeObservation ObservationOf(string unit, DesiredPackage package, DateTimeOffset now)
    {
        var applied = state.State.Applied.GetValueOrDefault(unit);
        var on = applied is { Package.Status: ApplyStatus.Ok } && Runs(applied.Package, package) && !ExcludedFrom(unit);
        var rejected = applied is { Package.Status: ApplyStatus.Rejected } && applied.Package.Version == package.Version;
        var labels = state.State.Identity?.Labels ?? new Dictionary<string, string>();
        var sample = _window.Sample(Id, now, on ? applied!.Since : now, on, rejected, labels);
        return new NodeObservation(sample, on, rejected);
    }

    private static bool Runs(AppliedPackage applied, DesiredPackage package) =>
        applied.Version == package.Version && (applied.Sha256 is null || applied.Sha256 == package.Sha256);

    /// <summary>
    /// Pushes a crash, rejection or breach to each live rollout of this node at once, without waiting to be polled.
    /// A node that crashed on the package goes back to the previous one at once, in this report's answer, ahead of
    /// the rollout's decision for everyone else (<see cref="HealthPolicy.SendsNodeBack"/>).
    /// </summary>
    private void SignalLiveRollouts(DateTimeOffset now)
    {
        if (_assignments.Count == 0)
        {
            return;
        }
        foreach (var (unit, assignment) in _assignments.ToList())
        {
            if (assignment is not { Rollout: { } rollout, Gates: { } gates })
            {
                continue;
            }
            var observation = ObservationOf(unit, assignment.Package, now);
            if (HealthPolicy.Breach(observation.Sample, gates) is not { } signal)
            {
                continue;
            }
            if (_signalled.Add((rollout, signal.Kind)))
            {
                logger.LogWarning("Node {Node} signals rollout {Rollout}: {Reason}", Id, rollout, signal.Reason);
                GrainFactory.GetGrain<IRolloutRunnerGrain>(rollout).Signal(signal).Ignore();
            }
            if (HealthPolicy.SendsNodeBack(signal) && assignment.Previous is { } previous && Return(unit, previous, now))
            {
                _crashedOff[unit] = assignment.Package;
                logger.LogWarning("Node {Node} sent back to {Unit} v{Previous} at once: {Reason} (rollout {Rollout} decides for the rest)",
                    Id, unit, previous.Version, signal.Reason, rollout);
            }
        }
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

    /// <summary>Records a new or changed identity and keeps the PoP membership in step.</summary>
    private async Task Register(NodeIdentity identity, DateTimeOffset now)
    {
        var previous = state.State.Identity;
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
    }

    /// <summary>The silo's copy of the catalog; the cache grain is asked only when the copy is old or lacks a unit the report names.</summary>
    private ValueTask<Catalog> Catalog(IEnumerable<string>? mustKnow) =>
        snapshot.Fresh(time.GetUtcNow(), TimeSpan.FromSeconds(catalogOptions.Value.RefreshSeconds), mustKnow) is { } fresh
            ? ValueTask.FromResult(fresh)
            : new ValueTask<Catalog>(GrainFactory.GetGrain<ICatalogCacheGrain>(silo.SiloAddress.ToParsableString()).Get(mustKnow?.ToArray()));

    /// <summary>
    /// For every unit whose targets match the node: its explicit assignment, else the unit's LKG.
    /// A unit with neither is absent. The stamp is a hash of the result, so it changes exactly when the result does.
    /// </summary>
    private DesiredState Desired(Catalog catalog)
    {
        // The answer to nearly every report is the one before: it changes only with the catalog, the node's
        // identity (its labels pick units) or its assignments.
        if (_desired is { } cached && ReferenceEquals(cached.Catalog, catalog) && ReferenceEquals(cached.Identity, state.State.Identity) &&
            cached.Assignments == _assignmentsVersion)
        {
            return cached.State;
        }
        var desired = ComputeDesired(catalog);
        _desired = new DesiredCache(catalog, state.State.Identity, _assignmentsVersion, desired);
        return desired;
    }

    private sealed record DesiredCache(Catalog Catalog, NodeIdentity? Identity, long Assignments, DesiredState State);

    private DesiredCache? _desired;

    /// <summary>Moves on every change to <see cref="_assignments"/>, which invalidates <see cref="_desired"/>.</summary>
    private long _assignmentsVersion;

    private DesiredState ComputeDesired(Catalog catalog)
    {
        var labels = state.State.Identity!.Labels;
        var units = new SortedDictionary<string, DesiredPackage>(StringComparer.Ordinal);
        foreach (var (unit, entry) in catalog.Units)
        {
            if (!entry.Targets.Matches(labels))
            {
                continue;
            }
            var package = _assignments.TryGetValue(unit, out var assignment) ? assignment.Package : entry.Lkg;
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

    private void WriteBehind()
    {
        _appliedUnwritten = false;
        _writer.WriteBehind();
    }

    private void SignalAssignmentsChanged()
    {
        _assignmentsVersion++;
        var previous = _assignmentsChanged;
        _assignmentsChanged = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        previous.TrySetResult();
    }
}
