using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Storage;
using Snapstone.Domain.Drift;
using Snapstone.Domain.Nodes;
using Snapstone.Grains.Drift;
using Snapstone.Grains.Storage;
using Snapstone.Grains.Units;

namespace Snapstone.Grains.Nodes;

/// <summary>
/// One edge node, thin: it loads the node's state, asks the <see cref="Node"/> what each report, assignment and
/// rollback means, writes what must survive a restart, and performs the side effects: PoP membership, signals to
/// rollouts, logs and counters. Durable: identity (written before the first report is answered, or behind while the
/// silo enrols many nodes at once), what the node runs and its drift marks (written behind); the writes behind wait for
/// one of the silo's <see cref="NodeRowWrites"/> slots. In memory: assignments, which the PoP's order ledger holds durably and gives back when the grain
/// activates, and the health window.
/// </summary>
/// <remarks>
/// The row is loaded by the first call, not by Orleans before it: a report first asks its PoP whether it knows the node
/// (one in-memory call) and reads the row only for a node it knows, so a fresh fleet enrols without a storage read per
/// node. A node its PoP does not know is taken as fresh, and its row checked by its first write, which is an insert:
/// one that fails finds a stored row (a node its PoP forgot, or one whose report names another PoP), which is read then
/// and stands (<see cref="Adopt"/>). Views, long-polls, operator enrolments and reminders wait for the row to be read
/// or that insert to succeed; a drift scan's question does not (<see cref="DriftFacts"/>), and what a PoP fans out
/// (assignments, rollbacks, observations) is held in memory and taken again from the PoP's ledger by an activation
/// that adopts a stored row.
/// <para>
/// When the insert is written behind (every <see cref="NodeRowWrites"/> slot taken), a report that claims a new
/// identity for a node whose own PoP does not hold it (forgotten, or another PoP named) is answered once from that
/// identity before the stored row is found; the insert, or the first call that needs the row, finds it, takes the node
/// out of the PoP that report named, and refuses its later reports. With a slot free, the insert is written before the
/// answer and such a report is refused at once, as it always was.
/// </para>
/// </remarks>
[Fleet.WithPopPlacement]
public sealed class NodeHealthGrain : Grain, INodeFanOutGrain, IRemindable
{
    private static readonly TimeSpan DesiredPollInterval = TimeSpan.FromMilliseconds(200);

    /// <summary>The name of the node's row in the grains table (what <c>[PersistentState("node")]</c> stored it under).</summary>
    private const string StateName = "node";

    private readonly IGrainStorage storage;
    /// <summary>The node's row as this activation holds it (replaced whole by <see cref="Adopt"/>).</summary>
    private GrainState<NodeState> _row = new(new NodeState());
    /// <summary>The first call's load of the row (<see cref="Loaded"/>).</summary>
    private Task? _load;
    /// <summary>
    /// Not read: the node's PoP did not know it when a report activated the grain. The next write is an insert (no
    /// etag), which fails when a row is stored; <see cref="Resolve"/> reads it then.
    /// </summary>
    private bool _unread;
    private Task? _resolve;
    private readonly TimeProvider time;
    private readonly ILocalSiloDetails silo;
    private readonly ILogger<NodeHealthGrain> logger;
    private readonly IOptions<DriftOptions> driftOptions;
    private readonly CatalogSnapshot snapshot;
    private readonly IOptions<CatalogOptions> catalogOptions;
    private readonly IOptions<NodeOptions> nodeOptions;
    private readonly StateWriter _writer;
    private readonly Audit.AuditOutbox _outbox;
    private Node _node = null!;
    /// <summary>What the node runs changed since the last write (it is written with the next one, or at deactivation).</summary>
    private bool _appliedUnwritten;
    private TaskCompletionSource _assignmentsChanged = new(TaskCreationOptions.RunContinuationsAsynchronously);
    /// <summary>The last identity refusal logged, so a repeating agent is logged once (and counted every time).</summary>
    private string? _lastRefusal;
    /// <summary>When this activation last told the node's PoP it is alive (<see cref="PopRoster.TouchEvery"/>).</summary>
    private DateTimeOffset? _popToldAt;
    /// <summary>
    /// The row changed (an enrolment by a report, drift marks, a deferred assignment) and waits for one of the silo's
    /// <see cref="NodeRowWrites"/> slots to be written behind; any write of the node before then carries it.
    /// </summary>
    private bool _rowUnwritten;
    /// <summary>The write behind waiting for its slot or under way, if any.</summary>
    private Task? _writingBehind;
    /// <summary>Cancels a wait for an enrolment write's slot when the activation ends (its deactivation writes instead).</summary>
    private CancellationTokenSource? _deactivating;
    /// <summary>
    /// Unit → the package whose observation the node pushes to its PoP with each report (<see cref="Watch"/>), so a
    /// wave's tick reads it from the PoP's memory rather than calling the node; null while none is watched (most nodes).
    /// Memory only: a new activation pushes nothing until a tick asks it again, and its PoP forgets what it had pushed
    /// as the activation takes its orders back (<see cref="IPopFanOutGrain.OrdersFor"/>).
    /// </summary>
    private Dictionary<string, DesiredPackage>? _watched;
    private const int MaxWatched = 16;

    /// <summary>How long a report waits on its push to the PoP: a PoP that cannot take it in that time gets the next one.</summary>
    private static readonly TimeSpan PushWait = TimeSpan.FromMilliseconds(500);

    public NodeHealthGrain(
        [FromKeyedServices(StorageNames.Grains)] IGrainStorage storage,
        TimeProvider time,
        ILocalSiloDetails silo,
        ILogger<NodeHealthGrain> logger,
        IOptions<DriftOptions> driftOptions,
        CatalogSnapshot snapshot,
        IOptions<CatalogOptions> catalogOptions,
        IOptions<NodeOptions> nodeOptions,
        IGrainFactory grains)
    {
        this.nodeOptions = nodeOptions;
        this.snapshot = snapshot;
        this.catalogOptions = catalogOptions;
        this.storage = storage;
        this.time = time;
        this.silo = silo;
        this.logger = logger;
        this.driftOptions = driftOptions;
        _writer = new StateWriter(WriteRow, logger, () => $"node {Id}", () => this.DeactivateOnIdle());
        _outbox = new Audit.AuditOutbox(this, grains, () => _row.State!.Outbox ??= [], time, logger);
    }

    private string Id => this.GetPrimaryKeyString();

    private NodeState State => _row.State!;

    /// <summary>
    /// The row loaded, once per activation: read, unless <paramref name="pop"/> (the PoP a report names) does not know
    /// the node, which is then taken as fresh and not read (<see cref="_unread"/>). Enough for a report and for what a
    /// PoP fans out (held in memory, and taken again from the PoP's ledger if a stored row turns up).
    /// </summary>
    private Task Loaded(string? pop) => _load ??= Load(pop);

    /// <summary>The row loaded and, if it was not read, checked against storage: what every answer about the node's stored state waits on.</summary>
    private async Task Resolved()
    {
        await Loaded(null);
        while (_unread)
        {
            if (_writer.Busy)
            {
                // The enrolment's insert is under way: it either stores the row or finds the stored one.
                await _writer.FlushAsync();
                continue;
            }
            await (_resolve ??= Resolve());
        }
    }

    /// <summary>Reads the row (unless the PoP does not know the node) and takes back what the PoP's ledger says this node was told; the PoP is reentrant, so a wave fanning out to this node cannot deadlock with it.</summary>
    private async Task Load(string? pop)
    {
        try
        {
            if (pop is not null && !await GrainFactory.GetGrain<IPopFanOutGrain>(pop).Knows(Id))
            {
                _unread = true;
                NodeTelemetry.RowLoaded("unread");
            }
            else
            {
                await storage.ReadStateAsync(StateName, this.GetGrainId(), _row);
                _row.State ??= new NodeState();
                NodeTelemetry.RowLoaded("read");
            }
        }
        catch
        {
            // The next call tries again (as a failed read would have failed the activation).
            _load = null;
            throw;
        }
        _node = new Node(Id, State, driftOptions.Value.Settings(), time.GetUtcNow());
        if (State.Outbox is { Count: > 0 })
        {
            _outbox.ResumeIfPending();
        }
        if (State.Identity is { } identity)
        {
            await TakeOrders(identity.Pop, joined: false);
        }
    }

    /// <summary>
    /// Reads the row of a node taken as fresh. Nothing stored: the activation's state is the node's. A stored row stands
    /// (<see cref="Adopt"/>).
    /// </summary>
    private async Task Resolve()
    {
        try
        {
            var stored = new GrainState<NodeState>(new NodeState());
            await storage.ReadStateAsync(StateName, this.GetGrainId(), stored);
            NodeTelemetry.RowLoaded("checked");
            _unread = false;
            if (stored.RecordExists && stored.State is { } found)
            {
                await Adopt(stored, found);
            }
        }
        finally
        {
            _resolve = null;
        }
    }

    /// <summary>
    /// A stored row turned up for a node taken as fresh: its PoP had forgotten it, or the report that activated the
    /// grain named another PoP. The stored row stands (identity is fixed at enrolment): the activation starts over from
    /// it, keeping only what the node reported running since. Enrolled meanwhile with the stored identity, the node
    /// rejoined its PoP, and takes its orders as a late joiner; enrolled with another, it leaves the PoP that report
    /// named, and its reports are refused as any report changing the identity is.
    /// </summary>
    private async Task Adopt(GrainState<NodeState> stored, NodeState found)
    {
        var claimed = State.Identity;
        foreach (var (unit, applied) in State.Applied)
        {
            found.Applied[unit] = applied;
        }
        stored.State = found;
        _row = stored;
        _node = new Node(Id, found, driftOptions.Value.Settings(), time.GetUtcNow());
        _rowUnwritten = false;
        _appliedUnwritten = State.Applied.Count > 0;
        if (found.Outbox is { Count: > 0 })
        {
            _outbox.ResumeIfPending();
        }
        if (found.Identity is not { } identity)
        {
            return;
        }
        if (claimed is null || claimed.SameAs(identity))
        {
            logger.LogInformation("Node {Node} has a stored row its PoP {Pop} had forgotten; it rejoins with it", Id, identity.Pop);
            await TakeOrders(identity.Pop, joined: claimed is not null);
            return;
        }
        NodeTelemetry.IdentityRefused(Enrolment.ChangedFields(identity, new NodeReport { Node = Id, Pop = claimed.Pop, Region = claimed.Region, Tier = claimed.Tier, Labels = claimed.Labels }));
        logger.LogWarning("Node {Node} is enrolled in PoP {Pop} ({Region}, tier {Tier}, labels {Labels}); a report had enrolled it in PoP {Claimed} ({ClaimedRegion}, tier {ClaimedTier}, labels {ClaimedLabels}) before its row was read: that enrolment is undone",
            Id, identity.Pop, identity.Region, identity.Tier, Enrolment.Render(identity.Labels),
            claimed.Pop, claimed.Region, claimed.Tier, Enrolment.Render(claimed.Labels));
        await GrainFactory.GetGrain<IPopGrain>(claimed.Pop).Unregister(Id);
        // Its own PoP is told again by its next report with the enrolled identity.
        _popToldAt = null;
        await TakeOrders(identity.Pop, joined: false);
    }

    /// <summary>
    /// The writer's write. A row not read is inserted; when that finds a stored row, the row is read and adopted
    /// (<see cref="Resolve"/>), and what comes of it written over it.
    /// </summary>
    private async Task WriteRow()
    {
        // This write carries every change so far; one that fails leaves the writer behind, and deactivation writes it.
        _rowUnwritten = false;
        if (_unread && _resolve is { } resolving)
        {
            await resolving;
        }
        if (_unread)
        {
            try
            {
                await storage.WriteStateAsync(StateName, this.GetGrainId(), _row);
                _unread = false;
                return;
            }
            catch (InconsistentStateException)
            {
                await (_resolve ??= Resolve());
            }
        }
        await storage.WriteStateAsync(StateName, this.GetGrainId(), _row);
    }

    /// <summary>Takes what the PoP's ledger says this node was told; <paramref name="joined"/>: as it joins the PoP, after those waves went out.</summary>
    private async Task TakeOrders(string pop, bool joined)
    {
        foreach (var order in await GrainFactory.GetGrain<IPopFanOutGrain>(pop).OrdersFor(Id))
        {
            var now = time.GetUtcNow();
            if (order.Assignment is { } assignment)
            {
                _node.Take(assignment.Unit, AssignmentOf(assignment, now), now, joined);
            }
            else
            {
                _node.Return(order.Unit, order.ReturnedTo, now);
            }
            Act(_node.Drain());
        }
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        if (_load is not { IsCompletedSuccessfully: true })
        {
            return;
        }
        if (_deactivating is { } deactivating)
        {
            await deactivating.CancelAsync();
        }
        await _writer.FlushAsync();
        if (_writer.Behind || _appliedUnwritten || _rowUnwritten)
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

    public async Task<DesiredState> Report(NodeReport report, AgentToken? agent)
    {
        var catalog = await Catalog(report.Applied is { Count: > 0 } reported ? reported.Keys : null);
        if (Node.UnknownUnit(report, catalog) is { } unknown)
        {
            throw SnapstoneException.Invalid(unknown);
        }
        await Loaded(report.Pop);
        if (State.Identity is null)
        {
            await Enrol(report.Identity, agent, writeThrough: false);
            NodeTelemetry.Enrolled("report");
            logger.LogInformation("Node {Node} enrolled in PoP {Pop} ({Region}, tier {Tier}) by its first report",
                Id, report.Pop, report.Identity.Region, report.Identity.Tier);
        }
        // Asked after an enrolment too: its insert may have found the node's stored row, whose identity stands.
        if (_node.IdentityRefusal(report) is { } refusal)
        {
            NodeTelemetry.IdentityRefused(Enrolment.ChangedFields(State.Identity!, report));
            if (refusal != _lastRefusal)
            {
                // Once per activation and claim: a misconfigured agent repeats it every report.
                _lastRefusal = refusal;
                logger.LogWarning("Node {Node} report refused: {Refusal}", Id, refusal);
            }
            throw SnapstoneException.Conflict(refusal);
        }
        if (_popToldAt is not { } told || time.GetUtcNow() - told >= PopRoster.TouchEvery(nodeOptions.Value.ForgetAfter))
        {
            await Touch(State.Identity!, agent);
        }
        var desired = _node.Report(report, catalog, time.GetUtcNow());
        Act(_node.Drain());
        if (_watched is not null)
        {
            await Push(State.Identity!.Pop);
        }
        return desired;
    }

    /// <summary>
    /// This report's observation of every watched package, to the PoP; the units it no longer watches are dropped.
    /// Awaited, so that a rollout's tick after the report's answer sees what it said; a PoP that fails or is slow costs
    /// the push, never the report (the PoP calls the node itself once what it holds is old).
    /// </summary>
    private async Task Push(string pop)
    {
        var now = time.GetUtcNow();
        var pushed = new List<PushedObservation>(_watched!.Count);
        foreach (var (unit, package) in _watched)
        {
            var (sample, on, rejected) = _node.Evidence(unit, package, now);
            pushed.Add(new PushedObservation(unit, package, new NodeObservation(sample, on, rejected), now));
        }
        try
        {
            var unwatched = await GrainFactory.GetGrain<IPopFanOutGrain>(pop).Observed(Id, pushed).WaitAsync(PushWait);
            foreach (var unit in unwatched)
            {
                _watched?.Remove(unit);
            }
            if (_watched is { Count: 0 })
            {
                _watched = null;
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            logger.LogDebug("Node {Node}: observation not pushed to PoP {Pop} ({Error})", Id, pop, e.Message);
        }
    }

    /// <summary>In memory only: the PoP wrote the order to its ledger before fanning it out (and gives it back to an activation that adopts a stored row).</summary>
    public async Task Assign(NodeAssignment assignment)
    {
        await Loaded(null);
        var now = time.GetUtcNow();
        _node.Take(assignment.Unit, AssignmentOf(assignment, now), now);
        Act(_node.Drain());
    }

    private static Assignment AssignmentOf(NodeAssignment assignment, DateTimeOffset now) =>
        new(assignment.Package, assignment.Rollout, now, assignment.Gates, assignment.Previous);

    public async Task<bool> ReturnTo(string rollout, string unit, DesiredPackage? previous, DesiredPackage from)
    {
        await Loaded(null);
        var ran = _node.ReturnTo(rollout, unit, previous, from, time.GetUtcNow());
        Act(_node.Drain());
        return ran;
    }

    /// <summary>From memory: the node's health since this activation, whatever its row holds.</summary>
    public async Task<NodeObservation> Observe(string unit, DesiredPackage package)
    {
        await Loaded(null);
        var (sample, on, rejected) = _node.Evidence(unit, package, time.GetUtcNow());
        return new NodeObservation(sample, on, rejected);
    }

    public async Task<NodeObservation> Watch(string unit, DesiredPackage package)
    {
        var observation = await Observe(unit, package);
        _watched ??= new Dictionary<string, DesiredPackage>(StringComparer.Ordinal);
        if (_watched.Count < MaxWatched || _watched.ContainsKey(unit))
        {
            _watched[unit] = package;
        }
        return observation;
    }

    public async Task<NodeView?> GetView()
    {
        await Resolved();
        if (State.Identity is null)
        {
            return null;
        }
        var desired = _node.Desired(await Catalog(null));
        return new NodeView
        {
            Node = Id,
            Identity = State.Identity,
            Desired = desired.Units,
            Applied = State.Applied.ToDictionary(a => a.Key, a => a.Value.Package),
            FirstSeenAt = State.FirstSeenAt,
            LastReportAt = _node.LastReportAt,
            LastMetrics = _node.LastMetrics,
            ReportsReceived = _node.Reports,
        };
    }

    public async Task<DesiredState?> WaitForDesired(long stamp, TimeSpan wait)
    {
        await Resolved();
        if (State.Identity is null)
        {
            return null;
        }
        var deadline = time.GetUtcNow() + wait;
        while (true)
        {
            var desired = _node.Desired(await Catalog(null));
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

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName == Audit.AuditOutbox.ReminderName)
        {
            await Resolved();
            await _outbox.ReceiveReminderAsync();
        }
    }

    /// <summary>
    /// Not waiting for a row not read: a PoP's drift scan asks every member at once, and right after a fleet enrols that
    /// would be a storage read per node again, each holding up the node's reports. A node taken as fresh has no drift
    /// older than its activation; the stored marks of one its PoP forgot are taken when its row is found, and the next
    /// scan sees them.
    /// </summary>
    public async Task<NodeDriftFacts?> DriftFacts()
    {
        await Loaded(null);
        var facts = _node.DriftFacts(await Catalog(null), time.GetUtcNow());
        Act(_node.Drain());
        return facts;
    }

    public async Task<NodeView> Enrol(NodeIdentity identity, string actor)
    {
        await Resolved();
        var previous = State.Identity;
        // The enrolment and its audit entry are stored together (the identity's write carries the intent).
        await _outbox.ArmAsync();
        var intent = _outbox.Add(actor, "node.enrol", $"node/{Id}",
            $"pop {identity.Pop}, region {identity.Region}, tier {identity.Tier}, labels {Enrolment.Render(identity.Labels)}");
        try
        {
            await Enrol(identity, agent: null, writeThrough: true);
        }
        catch
        {
            _outbox.Remove(intent);
            throw;
        }
        await _outbox.FlushAsync();
        NodeTelemetry.Enrolled("operator");
        logger.LogWarning("Node {Node} enrolled by {Actor} in PoP {Pop} ({Region}, tier {Tier}, labels {Labels}); it was {Previous}",
            Id, actor, identity.Pop, identity.Region, identity.Tier, Enrolment.Render(identity.Labels),
            previous is null ? "not enrolled" : $"in PoP {previous.Pop} ({previous.Region}, tier {previous.Tier}, labels {Enrolment.Render(previous.Labels)})");
        return (await GetView())!;
    }

    /// <summary>
    /// Enrols the node with <paramref name="identity"/> and keeps the PoP membership in step. The node takes its PoP's
    /// orders (a node that joins a PoP mid-rollout is in whatever cohort its hash puts it, though its crashes and
    /// rejections are not that cohort's evidence). A node is known once its answer is out: the PoP's member row, which
    /// the PoP group-commits for every node joining at once, is stored before this returns. The node's own row (its
    /// identity and first sighting) is written through when <paramref name="writeThrough"/> (an operator's enrolment,
    /// whose audit entry it carries), when the node joined a wave late (that mark must survive a restart), or when one
    /// of the silo's <see cref="NodeRowWrites"/> slots is free; only when every slot is taken (a fleet enrolling at
    /// once) is it written behind, a few nodes of the silo at a time, so that a fresh fleet costs its PoPs' writes
    /// rather than one write per node on the way to each answer.
    /// </summary>
    /// <remarks>
    /// Until the row is written, a restarted node's grain knows nothing of it: its next report (its PoP knows it, so the
    /// grain reads and finds no row) enrols it again from the report's identity, which the PoP holds already (one
    /// membership check, no write). For a node that was not read the enrolment's write is an insert (see the class).
    /// </remarks>
    private async Task Enrol(NodeIdentity identity, AgentToken? agent, bool writeThrough)
    {
        var previous = State.Identity;
        await GrainFactory.GetGrain<IPopGrain>(identity.Pop).Register(Id, identity, agent);
        _popToldAt = time.GetUtcNow();
        if (previous is not null && previous.Pop != identity.Pop)
        {
            await GrainFactory.GetGrain<IPopGrain>(previous.Pop).Unregister(Id);
        }
        _node.Enrol(identity, time.GetUtcNow());
        Act(_node.Drain());
        await TakeOrders(identity.Pop, joined: true);
        _appliedUnwritten = false;
        if (writeThrough || State.JoinedLate is not null)
        {
            await _writer.WriteAsync();
        }
        else if (NodeRowWrites.TryTake() is { } slot)
        {
            // The silo is not busy writing rows: written through, so the answer still means the node's own row is stored.
            using (slot)
            {
                await _writer.WriteAsync();
            }
        }
        else
        {
            WriteRowBehind();
        }
    }

    /// <summary>The row written when one of the silo's <see cref="NodeRowWrites"/> slots is free; any write of the node before then carries it.</summary>
    private void WriteRowBehind()
    {
        _rowUnwritten = true;
        if (_writingBehind is not { IsCompleted: false })
        {
            _writingBehind = WriteRowWhenFree();
        }
    }

    /// <summary>
    /// Takes a slot and writes, again for a change made while that write was under way (the write cleared the mark
    /// before it started); after a failure it stops, and the node's next write or its deactivation carries the change.
    /// </summary>
    private async Task WriteRowWhenFree()
    {
        while (_rowUnwritten)
        {
            IDisposable slot;
            try
            {
                slot = await NodeRowWrites.Take((_deactivating ??= new CancellationTokenSource()).Token);
            }
            catch (OperationCanceledException)
            {
                return; // deactivating: OnDeactivateAsync writes it
            }
            using var held = slot;
            if (!_rowUnwritten)
            {
                return; // another write carried it
            }
            try
            {
                await _writer.WriteAsync();
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // Written at deactivation (the writer is behind), or rebuilt from the node's next report after a restart.
                _rowUnwritten = true;
                logger.LogWarning("Node {Node}'s row could not be written yet; its next write carries it: {Error}", Id, e.GetBaseException().Message);
                return;
            }
        }
    }

    /// <summary>
    /// Tells the node's PoP it is alive, at most once a touch interval, so that it is not forgotten. A node the PoP had
    /// forgotten (silent too long) joins it again with the identity it enrolled with, counted against the token of
    /// this report, and takes the PoP's orders as a late joiner.
    /// </summary>
    private async Task Touch(NodeIdentity identity, AgentToken? agent)
    {
        bool joined;
        try
        {
            joined = await GrainFactory.GetGrain<IPopGrain>(identity.Pop).Register(Id, identity, agent);
        }
        catch (Exception e) when (e is not SnapstoneException)
        {
            // A member's report does not wait on its PoP: the next report tells it again. A refusal (a limit, for a
            // node coming back) refuses the report.
            logger.LogWarning(e, "Node {Node} could not tell PoP {Pop} it is alive; its next report tries again", Id, identity.Pop);
            return;
        }
        if (joined)
        {
            logger.LogInformation("Node {Node} is back in PoP {Pop}, which had forgotten it", Id, identity.Pop);
            await TakeOrders(identity.Pop, joined: true);
            _appliedUnwritten = false;
            await _writer.WriteAsync();
        }
        _popToldAt = time.GetUtcNow();
    }

    /// <summary>
    /// The silo's copy of the catalog; the cache grain is asked only when the copy lacks a unit the report names, or
    /// when its refreshes have not come back for <see cref="CatalogOptions.StaleSeconds"/> (until then the cache's
    /// timer is refreshing it and every change was pushed to it before it was acknowledged, so a report does not wait).
    /// </summary>
    private ValueTask<Catalog> Catalog(IEnumerable<string>? mustKnow) =>
        snapshot.Fresh(time.GetUtcNow(), catalogOptions.Value.ReportsWaitAfter, mustKnow) is { } fresh
            ? ValueTask.FromResult(fresh)
            : new ValueTask<Catalog>(GrainFactory.GetGrain<ICatalogCacheGrain>(silo.SiloAddress.ToParsableString()).Get(mustKnow?.ToArray()));

    /// <summary>The side effects of what the node decided: writes, a woken long-poll, signals, logs and counters.</summary>
    private void Act(NodeChanges changes)
    {
        if (changes.AppliedChanged)
        {
            // Stored with the node's next write, not on its own: the node says it again in its next report.
            _appliedUnwritten = true;
        }
        if (changes.WriteBehind)
        {
            _appliedUnwritten = false;
            WriteRowBehind();
        }
        if (changes.AssignmentsChanged)
        {
            var previous = _assignmentsChanged;
            _assignmentsChanged = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            previous.TrySetResult();
        }
        if (changes.Events is null)
        {
            return;
        }
        foreach (var e in changes.Events)
        {
            Tell(e);
        }
    }

    private void Tell(NodeEvent e)
    {
        switch (e)
        {
            case NodeEvent.Signalled(var rollout, var signal):
                logger.LogWarning("Node {Node} signals rollout {Rollout}: {Reason}", Id, rollout, signal.Reason);
                GrainFactory.GetGrain<IRolloutRunnerGrain>(rollout).Signal(signal).Ignore();
                break;
            case NodeEvent.Withheld(var rollout, var signal):
                logger.LogWarning("Node {Node} joined after rollout {Rollout}'s wave was assigned; not the cohort's evidence: {Reason}", Id, rollout, signal.Reason);
                break;
            case NodeEvent.SentBack(var unit, var rollout, var to, var signal):
                logger.LogWarning("Node {Node} sent back to {Unit} v{Previous} at once: {Reason} (rollout {Rollout} decides for the rest)",
                    Id, unit, to.Version, signal.Reason, rollout);
                break;
            case NodeEvent.Returned(var unit, var rollout, var to):
                logger.LogInformation("Node {Node} sent back to {Unit} v{Version} by rollout {Rollout}", Id, unit, to?.Version, rollout);
                break;
            case NodeEvent.Deferred(var unit, var assignment):
                logger.LogWarning("Node {Node} is excluded for {Unit}: rollout {Rollout}'s v{Version} waits until the node converges",
                    Id, unit, assignment.Rollout, assignment.Package.Version);
                break;
            case NodeEvent.TookDeferred(var unit, var assignment):
                logger.LogInformation("Node {Node} takes rollout {Rollout}'s deferred v{Version} of {Unit}", Id, assignment.Rollout, assignment.Package.Version, unit);
                break;
            case NodeEvent.Excluded(var unit, var mark):
                logger.LogWarning("Node {Node} excluded for {Unit}: drifted from v{Version} since {Since:O} after {Attempts} attempts",
                    Id, unit, mark.DesiredVersion, mark.Since, mark.Attempts);
                DriftMetrics.Excluded(unit);
                break;
            case NodeEvent.Readmitted(var unit, var mark):
                logger.LogInformation("Node {Node} readmitted for {Unit}: {How}", Id, unit, mark is null ? "converged" : $"told to run v{mark.DesiredVersion} instead");
                DriftMetrics.Readmitted(unit);
                break;
        }
    }
}
