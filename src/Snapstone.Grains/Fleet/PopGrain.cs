using Snapstone.Domain.Nodes;

namespace Snapstone.Grains.Fleet;

[GenerateSerializer, Alias("snapstone.PopState")]
public sealed class PopState
{
    [Id(0)] public string? Region { get; set; }
    [Id(1)] public Dictionary<string, NodeIdentity> Members { get; set; } = [];
}

public sealed class PopGrain(
    [PersistentState("pop", StorageNames.Grains)] IPersistentState<PopState> state) : Grain, IPopGrain
{
    public async Task Register(string node, NodeIdentity identity)
    {
        if (state.State.Members.TryGetValue(node, out var known) && known.SameAs(identity))
        {
            return;
        }
        var first = state.State.Members.Count == 0;
        state.State.Members[node] = identity;
        state.State.Region ??= identity.Region;
        await state.WriteStateAsync();
        if (first)
        {
            await GrainFactory.GetGrain<IFleetGrain>(IFleetGrain.Key).RegisterPop(this.GetPrimaryKeyString(), state.State.Region);
        }
    }

    public async Task Unregister(string node)
    {
        if (state.State.Members.Remove(node))
        {
            await state.WriteStateAsync();
        }
    }

    public Task<PopSummary> Summary() => Task.FromResult(new PopSummary(
        this.GetPrimaryKeyString(),
        state.State.Region ?? "",
        state.State.Members.Count,
        state.State.Members.Values.GroupBy(m => m.Tier).ToDictionary(g => g.Key, g => g.Count())));
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
