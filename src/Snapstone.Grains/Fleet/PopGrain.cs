using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Snapstone.Domain.Health;
using Snapstone.Domain.Nodes;
using Snapstone.Domain.Rollouts;
using Snapstone.Domain.Units;
using Snapstone.Grains.Nodes;
using Snapstone.Grains.Storage;

namespace Snapstone.Grains.Fleet;

[GenerateSerializer, Alias("snapstone.PopState")]
public sealed class PopState
{
    [Id(0)] public string? Region { get; set; }
    /// <summary>
    /// The PoP's members, node id → identity, as its waves read them. Not stored in this row: the members have a row
    /// of their own (<see cref="PopMembers"/>, kept in step by <see cref="PopRoster"/>), so neither a wave order nor
    /// a registration rewrites the other, and each row's size has a bound of its own.
    /// </summary>
    public Dictionary<string, NodeIdentity> Members => _members ??= [];

    [NonSerialized]
    private Dictionary<string, NodeIdentity>? _members;
    /// <summary>Where the members were stored before they got their own row; a PoP that finds them here moves them.</summary>
    [Id(1)] public Dictionary<string, NodeIdentity>? StoredMembers { get; set; }
    /// <summary>
    /// Unit → the last wave order or rollback the PoP carried out for it: the durable record of what its
    /// members were told. Node grains keep their assignments in memory and read them back from here when
    /// they activate, so a wave costs one write per PoP instead of one per node.
    /// </summary>
    [Id(2)] public Dictionary<string, PopOrder> Orders { get; set; } = [];
}

/// <summary>
/// A wave order the PoP carried out, or (<see cref="RolledBack"/>) a rollback through the order's wave, or
/// (<see cref="Return"/>, with no wave order) a break-glass return of every consumer.
/// </summary>
[GenerateSerializer, Immutable, Alias("snapstone.PopOrder")]
public sealed record PopOrder([property: Id(0)] WaveOrder? Order, [property: Id(1)] bool RolledBack)
{
    [Id(2)] public UnitReturn? Return { get; init; }

    public string Unit => Order?.Unit ?? Return!.Unit;
}

/// <summary>
/// One PoP's members and the second level of every fan-out (rollout → PoPs → nodes). Reentrant so that
/// registrations, waves and node activations reading the ledger interleave. Two rows: the wave orders
/// (<see cref="PopState"/>) and the members (<see cref="PopMembers"/>), each written through its own
/// <see cref="StateWriter"/>, which group-commits them.
/// </summary>
/// <remarks>
/// Membership is bounded: at most <see cref="NodeOptions.MaxPerPop"/> members, each limited in bytes; a node that
/// joins counts against its token's limit (<see cref="IAgentGrain"/>) and a new PoP against the fleet's; a member
/// silent for <see cref="NodeOptions.ForgetSilentSeconds"/> is forgotten, checked at most once a touch interval.
/// </remarks>
[Reentrant, PopKeyPlacement]
public sealed class PopGrain : Grain, IPopFanOutGrain, IIncomingGrainCallFilter
{
    private readonly IPersistentState<PopState> state;
    private readonly IPersistentState<PopMembers> members;
    private readonly TimeProvider time;
    private readonly IOptions<NodeOptions> options;
    private readonly ILogger<PopGrain> logger;
    private readonly StateWriter _writer;
    private readonly StateWriter _membersWriter;
    private readonly SemaphoreSlim _listing = new(1, 1);
    private PopRoster _roster = null!;
    /// <summary>In the fleet's PoP index, as far as this activation knows.</summary>
    private bool _listed;
    private Task? _announced;
    private DateTimeOffset _sweptAt;
    /// <summary>Moves whenever a member joins, leaves or changes identity: a cached split (<see cref="_splits"/>) is of one version.</summary>
    private long _membership;
    /// <summary>
    /// (rollout, wave) → the PoP's consumers split into cohort and control, as of <see cref="_membership"/>. A rollout
    /// ticks every second (its rollback every 200 ms): without it each tick would hash every member of every PoP, the
    /// untouched fleet included. At most <see cref="MaxCachedSplits"/>.
    /// </summary>
    private readonly Dictionary<(string Rollout, int Wave), CachedSplit> _splits = [];
    /// <summary>
    /// Rollout → the touched nodes of this PoP that have confirmed its rollback (reported the package they were sent back
    /// to, or no longer the one taken back). A confirmation stands, so each tick asks only the nodes not yet confirmed:
    /// a rollback's counting costs what is left of it, not the whole touched set every 200 ms. Memory only: a new
    /// activation asks every touched node once again. At most <see cref="MaxCachedSplits"/> rollouts.
    /// </summary>
    private readonly Dictionary<string, HashSet<string>> _confirmed = new(StringComparer.Ordinal);

    private const int MaxCachedSplits = 32;

    /// <summary>
    /// (unit, package) → the latest observation of it each member pushed with its reports (or gave when called), while
    /// some rollout's wave ticks look at it: the cohort's of the new package, the sampled control's of the previous one.
    /// A tick takes a member's from here when it is at most <see cref="MaxObservationAge"/> old, and calls only the
    /// others, which then push too. Nodes report every few seconds and rollouts tick every second, so a tick over a wave
    /// of the whole fleet costs the reports that came in since the last, not a call per node. Memory only; at most
    /// <see cref="MaxCachedSplits"/> packages.
    /// </summary>
    private readonly Dictionary<(string Unit, DesiredPackage Package), Watched> _watched = [];

    /// <summary>A package the PoP watches for a rollout's ticks, and its members' latest observations of it.</summary>
    private sealed class Watched
    {
        public DateTimeOffset LookedAt;
        public readonly Dictionary<string, (NodeObservation Observation, DateTimeOffset At)> Nodes = new(StringComparer.Ordinal);
    }

    /// <summary>
    /// How old a member's observation may be for a tick to take it. A node's observation changes only with its reports,
    /// so an older one is that of a node that has gone quiet: it is called, which says whether it is still there.
    /// </summary>
    internal static readonly TimeSpan MaxObservationAge = TimeSpan.FromSeconds(10);

    /// <summary>How long after a rollout's last tick the PoP still takes its members' pushes; then it tells them to stop.</summary>
    internal static readonly TimeSpan WatchFor = TimeSpan.FromSeconds(30);

    private sealed record CachedSplit(long Membership, List<(string Node, int FirstWave)> Cohort, List<(string Node, int FirstWave)> Control);

    public PopGrain(
        [PersistentState("pop", StorageNames.Grains)] IPersistentState<PopState> state,
        [PersistentState("pop-members", StorageNames.Grains)] IPersistentState<PopMembers> members,
        TimeProvider time,
        IOptions<NodeOptions> options,
        ILogger<PopGrain> logger)
    {
        this.state = state;
        this.members = members;
        this.time = time;
        this.options = options;
        this.logger = logger;
        _writer = new StateWriter(state.WriteStateAsync, logger, () => $"PoP {Pop}", () => this.DeactivateOnIdle());
        _membersWriter = new StateWriter(members.WriteStateAsync, logger, () => $"PoP {Pop}'s members", () => this.DeactivateOnIdle());
    }

    private string Pop => this.GetPrimaryKeyString();

    private TimeSpan ForgetAfter => options.Value.ForgetAfter;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (state.State.StoredMembers is { Count: > 0 } stored)
        {
            // Members stored before they had a row of their own: moved, each seen now.
            foreach (var (node, identity) in stored)
            {
                members.State.Members.TryAdd(node, new PopMember { Region = identity.Region, Tier = identity.Tier, Labels = identity.Labels, LastSeen = now });
            }
            await members.WriteStateAsync();
            state.State.StoredMembers = null;
            await state.WriteStateAsync();
        }
        _roster = new PopRoster(Pop, members.State, state.State.Members);
        _sweptAt = now;
        // Tokens' counts are corrected from what is stored, whatever an earlier activation failed to tell them.
        await Task.WhenAll(_roster.CountsByAgent().Select(c => GrainFactory.GetGrain<IAgentGrain>(c.Key).Counted(Pop, c.Value)));
        var every = PopRoster.TouchEvery(ForgetAfter);
        this.RegisterGrainTimer(_ => Sweep(force: true), new GrainTimerCreationOptions { DueTime = every, Period = every, Interleave = true });
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken) => await _membersWriter.FlushAsync();

    public async Task<bool> Register(string node, NodeIdentity identity, AgentToken? agent)
    {
        var now = time.GetUtcNow();
        await Sweep(force: false);
        var limit = options.Value.PopLimit;
        switch (_roster.Admit(node, identity, limit))
        {
            case Admission.Member:
                // A touch: the last sighting is written behind, the node reports again before it matters.
                _roster.Seen(node, now);
                _membersWriter.WriteBehind();
                await Announced(identity.Region);
                return false;
            case Admission.Changed:
                _roster.Put(node, identity, agent?.Name, now);
                _membership++;
                await _membersWriter.WriteAsync();
                await Announced(identity.Region);
                return false;
            case Admission.Full:
                throw Full(node, limit);
        }
        if (agent is { MaxNodes: { } most })
        {
            await GrainFactory.GetGrain<IAgentGrain>(agent.Name).Admit(Pop, node, most);
        }
        try
        {
            await Announced(identity.Region);
            // Interleaved calls may have filled the PoP while this one waited.
            if (_roster.Admit(node, identity, limit) == Admission.Full)
            {
                throw Full(node, limit);
            }
        }
        catch when (agent is not null)
        {
            await GrainFactory.GetGrain<IAgentGrain>(agent.Name).Counted(Pop, _roster.CountOf(agent.Name));
            throw;
        }
        _roster.Put(node, identity, agent?.Name, now);
        _membership++;
        await _membersWriter.WriteAsync();
        return true;
    }

    private SnapstoneException Full(string node, int limit)
    {
        NodeTelemetry.Refused("pop-limit");
        return SnapstoneException.Conflict(PopRoster.FullRefusal(Pop, node, _roster.Count, limit));
    }

    /// <summary>
    /// Makes sure the fleet lists the PoP (the fleet refuses a PoP past its limit) and, once per activation, that its
    /// drift scan runs. A failure is retried by the next registration rather than remembered.
    /// </summary>
    private async Task Announced(string region)
    {
        if (!_listed)
        {
            await _listing.WaitAsync();
            try
            {
                if (!_listed)
                {
                    if (state.State.Region is null)
                    {
                        state.State.Region = region;
                        await _writer.WriteAsync();
                    }
                    await GrainFactory.GetGrain<IFleetGrain>(IFleetGrain.Key).RegisterPop(Pop, state.State.Region);
                    _listed = true;
                }
            }
            finally
            {
                _listing.Release();
            }
        }
        var announcing = _announced ??= GrainFactory.GetGrain<IDriftGrain>(Pop).Start();
        try
        {
            await announcing;
        }
        catch
        {
            if (ReferenceEquals(_announced, announcing))
            {
                _announced = null;
            }
            throw;
        }
    }

    /// <summary>
    /// A PoP with no members and no wave orders leaves the fleet's index, so that PoPs invented and abandoned do not
    /// hold its places for ever. One with orders stays: a rollback must still reach its ledger for nodes that come back.
    /// </summary>
    private async Task WithdrawIfEmpty()
    {
        if (_roster.Count > 0 || state.State.Orders.Count > 0)
        {
            return;
        }
        await _listing.WaitAsync();
        try
        {
            if (_roster.Count > 0 || state.State.Orders.Count > 0)
            {
                return;
            }
            var fleet = GrainFactory.GetGrain<IFleetGrain>(IFleetGrain.Key);
            await fleet.UnregisterPop(Pop);
            _listed = false;
            if (_roster.Count > 0 || state.State.Orders.Count > 0)
            {
                // A wave or a node arrived meanwhile: listed again before anyone can miss it.
                await fleet.RegisterPop(Pop, state.State.Region ?? NodeReport.DefaultRegion);
                _listed = true;
            }
        }
        finally
        {
            _listing.Release();
        }
    }

    public async Task Unregister(string node)
    {
        if (_roster.Remove(node, out var agent))
        {
            _membership++;
            await _membersWriter.WriteAsync();
            if (agent is not null)
            {
                await GrainFactory.GetGrain<IAgentGrain>(agent).Counted(Pop, _roster.CountOf(agent));
            }
            await WithdrawIfEmpty();
        }
    }

    /// <summary>
    /// Forgets members silent for too long (<see cref="PopRoster.Forget"/>), at most once a touch interval unless
    /// <paramref name="force"/>d by the timer; tells the tokens whose counts changed.
    /// </summary>
    private async Task Sweep(bool force)
    {
        var now = time.GetUtcNow();
        if (!force && now - _sweptAt < PopRoster.TouchEvery(ForgetAfter))
        {
            return;
        }
        _sweptAt = now;
        DropStaleWatches(now);
        var agents = _roster.Forget(now, ForgetAfter, out var forgotten);
        if (forgotten == 0)
        {
            return;
        }
        _membership++;
        logger.LogInformation("PoP {Pop} forgot {Forgotten} node(s) silent for more than {ForgetAfter}", Pop, forgotten, ForgetAfter);
        NodeTelemetry.Forgotten(Pop, forgotten);
        // Tokens first: a forgotten node frees its token's place even if this write has to wait for the next one.
        await Task.WhenAll(agents.OfType<string>().Select(a => GrainFactory.GetGrain<IAgentGrain>(a).Counted(Pop, _roster.CountOf(a))));
        await _membersWriter.WriteAsync();
        await WithdrawIfEmpty();
    }

    public async Task<PopSummary> Summary()
    {
        await Sweep(force: false);
        return new PopSummary(
            Pop,
            state.State.Region ?? "",
            state.State.Members.Count,
            state.State.Members.Values.GroupBy(m => m.Tier).ToDictionary(g => g.Key, g => g.Count()));
    }

    // ---- waves: the second level of the fan-out tree (rollout → PoPs → nodes) ----

    /// <summary>Control nodes sampled per PoP at most, and for an order that does not say: bounded however large the PoP.</summary>
    internal const int MaxControlSamples = Domain.Health.ControlBudget.MaxPerPop;

    /// <summary>Every call this PoP makes names it, so that a node grain it activates is placed on this silo (<see cref="WithPopPlacement"/>).</summary>
    public Task Invoke(IIncomingGrainCallContext context)
    {
        RequestContext.Set(PopContext.Key, this.GetPrimaryKeyString());
        return context.Invoke();
    }

    public async Task<WaveAssignment> AssignWave(WaveOrder order)
    {
        var (cohort, _) = Split(order);
        if (Superseded(order))
        {
            return new WaveAssignment(cohort.Count, 0);
        }
        var fresh = cohort.Where(c => c.FirstWave == order.Wave).ToList();
        var entry = new PopOrder(order, RolledBack: false);
        // Forward: stored before any node hears of it, so a node that activates later reads it back.
        state.State.Orders[order.Unit] = entry;
        await _writer.WriteAsync();
        if (!ReferenceEquals(state.State.Orders.GetValueOrDefault(order.Unit), entry))
        {
            // A rollback (or a break-glass return) for the unit arrived while this was stored: it wins.
            return new WaveAssignment(cohort.Count, 0);
        }
        await Task.WhenAll(fresh.Select(c => GrainFactory.ByKey<INodeFanOutGrain>(c.Node).Assign(AssignmentOf(order, c.FirstWave))));
        return new WaveAssignment(cohort.Count, fresh.Count);
    }

    /// <summary>
    /// A break-glass return of the unit newer than the order's rollout stands: that rollout's later wave orders and
    /// rollbacks would undo what break-glass did, so they are ignored.
    /// </summary>
    private bool Superseded(WaveOrder order) =>
        state.State.Orders.GetValueOrDefault(order.Unit) is { Return: { } back } && order.Created <= back.At;

    /// <summary>
    /// Back is the safe direction and never waits on storage: the ledger entry is made in memory, the nodes are told at
    /// once, then the entry is stored, retrying until storage answers. The caller hears back once it is stored.
    /// </summary>
    private async Task<bool[]> SendBack(PopOrder entry, IEnumerable<(string Node, Func<INodeFanOutGrain, Task<bool>> Tell)> nodes)
    {
        state.State.Orders[entry.Unit] = entry;
        var told = Task.WhenAll(nodes.Select(n => n.Tell(GrainFactory.ByKey<INodeFanOutGrain>(n.Node))));
        var stored = _writer.WriteDurablyAsync();
        var ran = await told;
        await stored;
        return ran;
    }

    private static NodeAssignment AssignmentOf(WaveOrder order, int firstWave) =>
        new(order.Rollout, order.Unit, order.Package, order.Plan.Waves[Math.Clamp(firstWave, 0, order.Plan.Waves.Count - 1)].Gates, order.Previous);

    public Task<bool> Knows(string node) => Task.FromResult(state.State.Members.ContainsKey(node));

    /// <summary>What the ledger says <paramref name="node"/> was told, per unit: the assignments an activating node takes back.</summary>
    public Task<IReadOnlyList<NodeOrder>> OrdersFor(string node)
    {
        // A node activation taking its orders back pushes nothing yet: what an earlier activation pushed is dropped, so
        // the next tick calls this one (and it pushes from then on).
        foreach (var watched in _watched.Values)
        {
            watched.Nodes.Remove(node);
        }
        if (!state.State.Members.TryGetValue(node, out var identity))
        {
            return Task.FromResult<IReadOnlyList<NodeOrder>>([]);
        }
        var orders = new List<NodeOrder>();
        foreach (var (_, entry) in state.State.Orders)
        {
            if (entry.Return is { } back)
            {
                if (back.Targets.Matches(identity.Labels))
                {
                    orders.Add(new NodeOrder(back.Action, back.Unit, null, back.To));
                }
                continue;
            }
            var (order, rolledBack) = (entry.Order!, entry.RolledBack);
            if (!order.Targets.Matches(identity.Labels))
            {
                continue;
            }
            var first = WaveSelector.FirstWave(order.Plan, node, identity, order.Salt);
            if (first > order.Wave)
            {
                continue;
            }
            orders.Add(rolledBack
                ? new NodeOrder(order.Rollout, order.Unit, null, order.Previous)
                : new NodeOrder(order.Rollout, order.Unit, AssignmentOf(order, first), null));
        }
        return Task.FromResult<IReadOnlyList<NodeOrder>>(orders);
    }

    public async Task<WaveEvidence> ObserveWave(WaveOrder order)
    {
        var (cohort, control) = Split(order);
        var (seen, called) = await ObserveWatched(order.Unit, order.Package, cohort);
        var sampled = order.ControlSamples is > 0 and var asked ? Math.Min(asked, MaxControlSamples) : MaxControlSamples;
        var (controls, controlsCalled) = order.Previous is { } previous
            ? await ObserveWatched(order.Unit, previous, control.Take(sampled).ToList())
            : ([], 0);
        PopTelemetry.Observed("wave", cohort.Count, called + controlsCalled);
        return new WaveEvidence
        {
            Cohort = cohort.Count,
            Applied = seen.Count(o => o.On),
            Rejected = seen.Count(o => o.Rejected),
            CohortSamples = [.. seen.Select(o => o.Sample)],
            ControlSamples = [.. controls.Where(o => o.On).Select(o => o.Sample)],
            Unconverged = Unconverged(cohort, seen),
            Called = called + controlsCalled,
        };
    }

    /// <summary>
    /// The nodes' observations of <paramref name="package"/> (the cohort's of the order's package, the sampled control's
    /// of the previous one): each node's pushed one when it is recent enough (<see cref="_watched"/>), the others called,
    /// which makes them push from their next report on. Returns how many were called.
    /// </summary>
    private async Task<(NodeObservation[] Seen, int Called)> ObserveWatched(string unit, DesiredPackage package, List<(string Node, int FirstWave)> nodes)
    {
        var now = time.GetUtcNow();
        var watched = WatchedFor(unit, package, now);
        var seen = new NodeObservation[nodes.Count];
        var calls = new List<(int Index, Task<NodeObservation> Call)>();
        for (var i = 0; i < nodes.Count; i++)
        {
            if (watched.Nodes.TryGetValue(nodes[i].Node, out var pushed) && now - pushed.At <= MaxObservationAge)
            {
                seen[i] = pushed.Observation;
            }
            else
            {
                calls.Add((i, GrainFactory.ByKey<INodeFanOutGrain>(nodes[i].Node).Watch(unit, package)));
            }
        }
        if (calls.Count > 0)
        {
            await Task.WhenAll(calls.Select(c => c.Call));
            foreach (var (index, call) in calls)
            {
                seen[index] = call.Result;
                Keep(watched, nodes[index].Node, call.Result, now);
            }
        }
        return (seen, calls.Count);
    }

    /// <summary>The package's watch, looked at now; watches no tick has looked at for <see cref="WatchFor"/> are dropped.</summary>
    private Watched WatchedFor(string unit, DesiredPackage package, DateTimeOffset now)
    {
        DropStaleWatches(now);
        if (!_watched.TryGetValue((unit, package), out var watched))
        {
            if (_watched.Count >= MaxCachedSplits)
            {
                _watched.Clear();
            }
            _watched[(unit, package)] = watched = new Watched();
        }
        watched.LookedAt = now;
        return watched;
    }

    /// <summary>
    /// Drops the watches no tick has looked at for <see cref="WatchFor"/>, and their observations: a wave of the whole
    /// fleet leaves one per member, which must not outlive the rollout. Asked by every look, every push to a stale
    /// watch and the PoP's sweep.
    /// </summary>
    private void DropStaleWatches(DateTimeOffset now)
    {
        if (_watched.Count == 0)
        {
            return;
        }
        foreach (var stale in _watched.Where(w => now - w.Value.LookedAt > WatchFor).Select(w => w.Key).ToList())
        {
            _watched.Remove(stale);
        }
    }

    private static void Keep(Watched watched, string node, NodeObservation observation, DateTimeOffset at)
    {
        if (!watched.Nodes.TryGetValue(node, out var held) || held.At <= at)
        {
            watched.Nodes[node] = (observation, at);
        }
    }

    public Task<IReadOnlyList<string>> Observed(string node, IReadOnlyList<PushedObservation> observations)
    {
        var now = time.GetUtcNow();
        var member = state.State.Members.ContainsKey(node);
        List<string>? unwatched = null;
        foreach (var pushed in observations)
        {
            if (member && _watched.TryGetValue((pushed.Unit, pushed.Package), out var watched) &&
                now - watched.LookedAt <= WatchFor)
            {
                Keep(watched, node, pushed.Observation, pushed.At);
            }
            else
            {
                (unwatched ??= []).Add(pushed.Unit);
            }
        }
        if (unwatched is not null)
        {
            DropStaleWatches(now);
        }
        return Task.FromResult<IReadOnlyList<string>>(unwatched ?? []);
    }

    public async Task<RollbackSent> RollBack(WaveOrder order)
    {
        var (touched, _) = Split(order);
        if (Superseded(order))
        {
            return new RollbackSent(touched.Count, 0);
        }
        var ran = await SendBack(new PopOrder(order, RolledBack: true),
            touched.Select(c => (c.Node, (Func<INodeFanOutGrain, Task<bool>>)(node => node.ReturnTo(order.Rollout, order.Unit, order.Previous, order.Package)))));
        return new RollbackSent(touched.Count, ran.Count(r => r));
    }

    public async Task<RollbackSent> ReturnAll(UnitReturn order)
    {
        var consumers = ConsumerIds(order.Targets);
        var ran = await SendBack(new PopOrder(null, RolledBack: true) { Return = order },
            consumers.Select(n => (n, (Func<INodeFanOutGrain, Task<bool>>)(node => node.ReturnTo(order.Action, order.Unit, order.To, order.From ?? NoPackage)))));
        return new RollbackSent(consumers.Count, ran.Count(r => r));
    }

    public async Task<RollbackConfirmations> ObserveReturn(UnitReturn order)
    {
        var consumers = ConsumerIds(order.Targets);
        if (order.To is not { } to)
        {
            // Back to no package: confirmed once the node no longer reports running the version taken back.
            var still = order.From is { } from
                ? await Task.WhenAll(consumers.Select(node => GrainFactory.ByKey<INodeFanOutGrain>(node).Observe(order.Unit, from)))
                : [];
            return new RollbackConfirmations
            {
                Returned = consumers.Count,
                Confirmed = consumers.Count - still.Count(o => o.On),
                Unconfirmed = [.. consumers.Zip(still).Where(c => c.Second.On).Select(c => c.First).Order(StringComparer.Ordinal).Take(WaveObservation.MaxNamed)],
            };
        }
        var seen = await Task.WhenAll(consumers.Select(node => GrainFactory.ByKey<INodeFanOutGrain>(node).Observe(order.Unit, to)));
        return new RollbackConfirmations
        {
            Returned = consumers.Count,
            Confirmed = seen.Count(o => o.On),
            Unconfirmed = [.. consumers.Zip(seen).Where(c => !c.Second.On).Select(c => c.First).Order(StringComparer.Ordinal).Take(WaveObservation.MaxNamed)],
        };
    }

    /// <summary>Stands for "no package" where a node call needs the package taken back and there is none to name.</summary>
    private static readonly DesiredPackage NoPackage = new(0, "");

    private List<string> ConsumerIds(UnitTargets targets) =>
        [.. state.State.Members.Where(m => targets.Matches(m.Value.Labels)).Select(m => m.Key)];

    public async Task<(int Matching, int Total)> Consumers(UnitTargets targets)
    {
        await Sweep(force: false);
        return (state.State.Members.Values.Count(m => targets.Matches(m.Labels)), state.State.Members.Count);
    }

    public async Task<RollbackConfirmations> ObserveRollback(WaveOrder order)
    {
        var (touched, _) = Split(order);
        var confirmed = ConfirmedOf(order.Rollout);
        var pending = touched.Where(c => !confirmed.Contains(c.Node)).ToList();
        // A first package rolled back: confirmed once the node no longer reports running it; else once it reports the previous one.
        var (package, confirms) = order.Previous is { } previous
            ? (previous, (Func<NodeObservation, bool>)(o => o.On))
            : (order.Package, o => !o.On);
        var seen = await Task.WhenAll(pending.Select(c => GrainFactory.ByKey<INodeFanOutGrain>(c.Node).Observe(order.Unit, package)));
        var unconfirmed = new List<string>();
        foreach (var (node, observation) in pending.Zip(seen))
        {
            if (confirms(observation))
            {
                confirmed.Add(node.Node);
            }
            else
            {
                unconfirmed.Add(node.Node);
            }
        }
        PopTelemetry.Observed("rollback", touched.Count, pending.Count);
        return new RollbackConfirmations
        {
            Returned = touched.Count,
            Confirmed = touched.Count - unconfirmed.Count,
            Unconfirmed = [.. unconfirmed.Order(StringComparer.Ordinal).Take(WaveObservation.MaxNamed)],
        };
    }

    /// <summary>The standing confirmations of <paramref name="rollout"/>'s rollback in this PoP (<see cref="_confirmed"/>).</summary>
    private HashSet<string> ConfirmedOf(string rollout)
    {
        if (!_confirmed.TryGetValue(rollout, out var confirmed))
        {
            if (_confirmed.Count >= MaxCachedSplits)
            {
                _confirmed.Clear();
            }
            _confirmed[rollout] = confirmed = new HashSet<string>(StringComparer.Ordinal);
        }
        return confirmed;
    }

    /// <summary>The first few of <paramref name="nodes"/> (by id) whose observation says they do not run the package.</summary>
    private static IReadOnlyList<string> Unconverged(List<(string Node, int FirstWave)> nodes, NodeObservation[] seen) =>
        [.. nodes.Zip(seen).Where(c => !c.Second.On).Select(c => c.First.Node).Order(StringComparer.Ordinal).Take(WaveObservation.MaxNamed)];

    /// <summary>
    /// The PoP's consumers of the unit, split into the cohort through the order's wave and the rest; computed once per
    /// rollout, wave and membership (<see cref="_splits"/>). Callers only read the lists.
    /// </summary>
    private (List<(string Node, int FirstWave)> Cohort, List<(string Node, int FirstWave)> Control) Split(WaveOrder order)
    {
        var key = (order.Rollout, order.Wave);
        if (_splits.TryGetValue(key, out var cached) && cached.Membership == _membership)
        {
            return (cached.Cohort, cached.Control);
        }
        var cohort = new List<(string, int)>();
        var control = new List<(string, int)>();
        foreach (var (node, identity) in state.State.Members)
        {
            if (!order.Targets.Matches(identity.Labels))
            {
                continue;
            }
            var first = WaveSelector.FirstWave(order.Plan, node, identity, order.Salt);
            (first <= order.Wave ? cohort : control).Add((node, first));
        }
        if (_splits.Count >= MaxCachedSplits && !_splits.ContainsKey(key))
        {
            _splits.Clear();
        }
        _splits[key] = new CachedSplit(_membership, cohort, control);
        return (cohort, control);
    }

    public async Task<IReadOnlyList<string>> Members()
    {
        await Sweep(force: false);
        return [.. state.State.Members.Keys.Order(StringComparer.Ordinal)];
    }
}

[GenerateSerializer, Alias("snapstone.FleetState")]
public sealed class FleetState
{
    /// <summary>PoP id → region.</summary>
    [Id(0)] public Dictionary<string, string> Pops { get; set; } = [];
}

public sealed class FleetGrain(
    [PersistentState("fleet", StorageNames.Grains)] IPersistentState<FleetState> state,
    IOptions<NodeOptions> options) : Grain, IFleetGrain
{
    /// <summary>Lists a PoP; a new one past <see cref="NodeOptions.MaxPops"/> is refused (409), which refuses the node that would have made it.</summary>
    public async Task RegisterPop(string pop, string region)
    {
        if (state.State.Pops.TryGetValue(pop, out var known))
        {
            if (known == region)
            {
                return;
            }
        }
        else if (state.State.Pops.Count >= options.Value.PopsLimit)
        {
            NodeTelemetry.Refused("fleet-pop-limit");
            throw SnapstoneException.Conflict(
                $"the fleet holds {state.State.Pops.Count} PoPs, the most it may (Snapstone:Nodes:MaxPops = {options.Value.PopsLimit}); PoP '{pop}' is not added");
        }
        state.State.Pops[pop] = region;
        await state.WriteStateAsync();
    }

    public async Task UnregisterPop(string pop)
    {
        if (state.State.Pops.Remove(pop))
        {
            await state.WriteStateAsync();
        }
    }

    public Task<IReadOnlyList<string>> Pops() => Task.FromResult<IReadOnlyList<string>>([.. state.State.Pops.Keys.Order(StringComparer.Ordinal)]);

    public async Task<double?> ConsumerShare(UnitTargets targets)
    {
        var counts = await Task.WhenAll(state.State.Pops.Keys.Select(pop => GrainFactory.GetGrain<IPopGrain>(pop).Consumers(targets)));
        var total = counts.Sum(c => c.Total);
        return total == 0 ? null : (double)counts.Sum(c => c.Matching) / total;
    }

    /// <summary>Fans out to every PoP grain at once; no grain holds the whole node list.</summary>
    public async Task<FleetSummary> Summary()
    {
        var pops = await Task.WhenAll(state.State.Pops.Keys.Order(StringComparer.Ordinal)
            .Select(pop => GrainFactory.GetGrain<IPopGrain>(pop).Summary()));
        var byRegion = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var byTier = new SortedDictionary<string, int>(StringComparer.Ordinal);
        foreach (var pop in pops)
        {
            byRegion[pop.Region] = byRegion.GetValueOrDefault(pop.Region) + pop.Nodes;
            foreach (var (tier, count) in pop.ByTier)
            {
                byTier[tier] = byTier.GetValueOrDefault(tier) + count;
            }
        }
        return new FleetSummary(pops.Sum(p => p.Nodes), pops, byRegion, byTier);
    }
}
