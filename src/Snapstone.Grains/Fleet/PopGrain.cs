using Microsoft.Extensions.Logging;
using Orleans.Concurrency;
using Snapstone.Domain.Health;
using Snapstone.Domain.Nodes;
using Snapstone.Domain.Rollouts;
using Snapstone.Domain.Units;
using Snapstone.Grains.Storage;

namespace Snapstone.Grains.Fleet;

[GenerateSerializer, Alias("snapstone.PopState")]
public sealed class PopState
{
    [Id(0)] public string? Region { get; set; }
    [Id(1)] public Dictionary<string, NodeIdentity> Members { get; set; } = [];
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
/// registrations, waves and node activations reading the ledger interleave; every write goes through one
/// <see cref="StateWriter"/>, which group-commits them.
/// </summary>
[Reentrant]
public sealed class PopGrain : Grain, IPopFanOutGrain
{
    private readonly IPersistentState<PopState> state;
    private readonly StateWriter _writer;
    private Task? _announced;

    public PopGrain([PersistentState("pop", StorageNames.Grains)] IPersistentState<PopState> state, ILogger<PopGrain> logger)
    {
        this.state = state;
        _writer = new StateWriter(state.WriteStateAsync, logger, () => $"PoP {this.GetPrimaryKeyString()}", () => this.DeactivateOnIdle());
    }

    public async Task Register(string node, NodeIdentity identity)
    {
        if (!state.State.Members.TryGetValue(node, out var known) || !known.SameAs(identity))
        {
            state.State.Members[node] = identity;
            state.State.Region ??= identity.Region;
            await _writer.WriteAsync();
        }
        var announcing = _announced ??= Announce();
        try
        {
            await announcing;
        }
        catch
        {
            // Not announced: the next registration tries again rather than failing on this for ever.
            if (ReferenceEquals(_announced, announcing))
            {
                _announced = null;
            }
            throw;
        }
    }

    /// <summary>Once per activation, after the first member is stored: the fleet learns of the PoP and its drift scan starts.</summary>
    private async Task Announce()
    {
        await GrainFactory.GetGrain<IFleetGrain>(IFleetGrain.Key).RegisterPop(this.GetPrimaryKeyString(), state.State.Region!);
        await GrainFactory.GetGrain<IDriftGrain>(this.GetPrimaryKeyString()).Start();
    }

    public async Task Unregister(string node)
    {
        if (state.State.Members.Remove(node))
        {
            await _writer.WriteAsync();
        }
    }

    public Task<PopSummary> Summary() => Task.FromResult(new PopSummary(
        this.GetPrimaryKeyString(),
        state.State.Region ?? "",
        state.State.Members.Count,
        state.State.Members.Values.GroupBy(m => m.Tier).ToDictionary(g => g.Key, g => g.Count())));

    // ---- waves: the second level of the fan-out tree (rollout → PoPs → nodes) ----

    /// <summary>Control nodes sampled per PoP: plenty for a verdict, bounded however large the PoP.</summary>
    internal const int MaxControlSamples = 100;

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

    /// <summary>What the ledger says <paramref name="node"/> was told, per unit: the assignments an activating node takes back.</summary>
    public Task<IReadOnlyList<NodeOrder>> OrdersFor(string node)
    {
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
        var seen = await Task.WhenAll(cohort.Select(c => GrainFactory.ByKey<INodeFanOutGrain>(c.Node).Observe(order.Unit, order.Package)));
        var controls = order.Previous is { } previous
            ? await Task.WhenAll(control.Take(MaxControlSamples).Select(c => GrainFactory.ByKey<INodeFanOutGrain>(c.Node).Observe(order.Unit, previous)))
            : [];
        return new WaveEvidence
        {
            Cohort = cohort.Count,
            Applied = seen.Count(o => o.On),
            Rejected = seen.Count(o => o.Rejected),
            CohortSamples = [.. seen.Select(o => o.Sample)],
            ControlSamples = [.. controls.Where(o => o.On).Select(o => o.Sample)],
            Unconverged = Unconverged(cohort, seen),
        };
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

    public Task<(int Matching, int Total)> Consumers(UnitTargets targets) =>
        Task.FromResult((state.State.Members.Values.Count(m => targets.Matches(m.Labels)), state.State.Members.Count));

    public async Task<RollbackConfirmations> ObserveRollback(WaveOrder order)
    {
        var (touched, _) = Split(order);
        if (order.Previous is not { } previous)
        {
            // A first package rolled back: confirmed once the node no longer reports running it.
            var still = await Task.WhenAll(touched.Select(c => GrainFactory.ByKey<INodeFanOutGrain>(c.Node).Observe(order.Unit, order.Package)));
            return new RollbackConfirmations
            {
                Returned = touched.Count,
                Confirmed = still.Count(o => !o.On),
                Unconfirmed = [.. touched.Zip(still).Where(c => c.Second.On).Select(c => c.First.Node).Order(StringComparer.Ordinal).Take(WaveObservation.MaxNamed)],
            };
        }
        var seen = await Task.WhenAll(touched.Select(c => GrainFactory.ByKey<INodeFanOutGrain>(c.Node).Observe(order.Unit, previous)));
        return new RollbackConfirmations { Returned = touched.Count, Confirmed = seen.Count(o => o.On), Unconfirmed = Unconverged(touched, seen) };
    }

    /// <summary>The first few of <paramref name="nodes"/> (by id) whose observation says they do not run the package.</summary>
    private static IReadOnlyList<string> Unconverged(List<(string Node, int FirstWave)> nodes, NodeObservation[] seen) =>
        [.. nodes.Zip(seen).Where(c => !c.Second.On).Select(c => c.First.Node).Order(StringComparer.Ordinal).Take(WaveObservation.MaxNamed)];

    /// <summary>The PoP's consumers of the unit, split into the cohort through the order's wave and the rest.</summary>
    private (List<(string Node, int FirstWave)> Cohort, List<(string Node, int FirstWave)> Control) Split(WaveOrder order)
    {
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
        return (cohort, control);
    }

    public Task<IReadOnlyList<string>> Members() =>
        Task.FromResult<IReadOnlyList<string>>([.. state.State.Members.Keys.Order(StringComparer.Ordinal)]);
}

[GenerateSerializer, Alias("snapstone.FleetState")]
public sealed class FleetState
{
    /// <summary>PoP id → region.</summary>
    [Id(0)] public Dictionary<string, string> Pops { get; set; } = [];
}

public sealed class FleetGrain(
    [PersistentState("fleet", StorageNames.Grains)] IPersistentState<FleetState> state) : Grain, IFleetGrain
{
    public async Task RegisterPop(string pop, string region)
    {
        if (state.State.Pops.TryGetValue(pop, out var known) && known == region)
        {
            return;
        }
        state.State.Pops[pop] = region;
        await state.WriteStateAsync();
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
