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

/// <summary>A wave order the PoP carried out, or (<see cref="RolledBack"/>) a rollback through the order's wave.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.PopOrder")]
public sealed record PopOrder([property: Id(0)] WaveOrder Order, [property: Id(1)] bool RolledBack);

/// <summary>
/// One PoP's members and the second level of every fan-out (rollout → PoPs → nodes). Reentrant so that
/// registrations, waves and node activations reading the ledger interleave; every write goes through one
/// <see cref="StateWriter"/>, which group-commits them.
/// </summary>
[Reentrant]
public sealed class PopGrain : Grain, IPopGrain
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

    public async Task<WaveCount> AssignWave(WaveOrder order)
    {
        var (cohort, _) = Split(order);
        var fresh = cohort.Where(c => c.FirstWave == order.Wave).ToList();
        await Record(new PopOrder(order, RolledBack: false));
        await Task.WhenAll(fresh.Select(c => GrainFactory.ByKey<INodeHealthGrain>(c.Node).Assign(AssignmentOf(order, c.FirstWave))));
        return new WaveCount(cohort.Count, 0, 0, [], [], fresh.Count);
    }

    /// <summary>Stores the order before any node hears of it: a node that activates later reads it back.</summary>
    private Task Record(PopOrder order)
    {
        state.State.Orders[order.Order.Unit] = order;
        return _writer.WriteAsync();
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
        foreach (var (_, (order, rolledBack)) in state.State.Orders)
        {
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

    public async Task<WaveCount> ObserveWave(WaveOrder order)
    {
        var (cohort, control) = Split(order);
        var seen = await Task.WhenAll(cohort.Select(c => GrainFactory.ByKey<INodeHealthGrain>(c.Node).Observe(order.Unit, order.Package)));
        var controls = order.Previous is { } previous
            ? await Task.WhenAll(control.Take(MaxControlSamples).Select(c => GrainFactory.ByKey<INodeHealthGrain>(c.Node).Observe(order.Unit, previous)))
            : [];
        return new WaveCount(
            cohort.Count,
            seen.Count(o => o.On),
            seen.Count(o => o.Rejected),
            [.. seen.Select(o => o.Sample)],
            [.. controls.Where(o => o.On).Select(o => o.Sample)],
            Unconverged: Unconverged(cohort, seen));
    }

    public async Task<WaveCount> RollBack(WaveOrder order)
    {
        var (touched, _) = Split(order);
        await Record(new PopOrder(order, RolledBack: true));
        var ran = await Task.WhenAll(touched.Select(c => GrainFactory.ByKey<INodeHealthGrain>(c.Node).ReturnTo(order.Rollout, order.Unit, order.Previous, order.Package)));
        return new WaveCount(touched.Count, ran.Count(r => r), 0, [], [], touched.Count);
    }

    public Task<(int Matching, int Total)> Consumers(UnitTargets targets) =>
        Task.FromResult((state.State.Members.Values.Count(m => targets.Matches(m.Labels)), state.State.Members.Count));

    public async Task<WaveCount> ObserveRollback(WaveOrder order)
    {
        var (touched, _) = Split(order);
        if (order.Previous is not { } previous)
        {
            return new WaveCount(touched.Count, touched.Count, 0, [], []);
        }
        var seen = await Task.WhenAll(touched.Select(c => GrainFactory.ByKey<INodeHealthGrain>(c.Node).Observe(order.Unit, previous)));
        return new WaveCount(touched.Count, seen.Count(o => o.On), 0, [], [],
            Unconverged: Unconverged(touched, seen));
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
