using Microsoft.Extensions.Logging;
using Orleans.Concurrency;
using Snapstone.Domain;
using Snapstone.Grains.Storage;

namespace Snapstone.Grains.Nodes;

[GenerateSerializer, Alias("snapstone.AgentState")]
public sealed class AgentState
{
    /// <summary>PoP → how many of the token's nodes it holds; at most one entry per PoP of the fleet (Snapstone:Nodes:MaxPops).</summary>
    [Id(0)] public Dictionary<string, int> ByPop { get; set; } = [];
}

/// <summary>
/// One agent token's count of enrolled nodes. An admission counts at once and is written behind (group-committed,
/// so a token enrolling a whole fleet costs a handful of writes); a PoP's absolute count after members leave
/// corrects what a lost write or a refused admission left behind.
/// </summary>
[Reentrant]
public sealed class AgentGrain : Grain, IAgentGrain
{
    private readonly IPersistentState<AgentState> state;
    private readonly StateWriter _writer;

    public AgentGrain([PersistentState("agent", StorageNames.Grains)] IPersistentState<AgentState> state, ILogger<AgentGrain> logger)
    {
        this.state = state;
        _writer = new StateWriter(state.WriteStateAsync, logger, () => $"agent token {this.GetPrimaryKeyString()}", () => this.DeactivateOnIdle());
    }

    public Task Admit(string pop, string node, int limit)
    {
        var total = state.State.ByPop.Values.Sum();
        if (total >= limit)
        {
            NodeTelemetry.Refused("token-limit");
            throw new SnapstoneException(ProblemKind.Forbidden,
                $"token '{this.GetPrimaryKeyString()}' has enrolled {total} nodes, the most it may (MaxNodes on the token, else Snapstone:Nodes:MaxPerToken = {limit}); " +
                $"node '{node}' is not enrolled");
        }
        state.State.ByPop[pop] = state.State.ByPop.GetValueOrDefault(pop) + 1;
        _writer.WriteBehind();
        return Task.CompletedTask;
    }

    public Task Counted(string pop, int count)
    {
        if (state.State.ByPop.GetValueOrDefault(pop) == count)
        {
            return Task.CompletedTask;
        }
        if (count > 0)
        {
            state.State.ByPop[pop] = count;
        }
        else
        {
            state.State.ByPop.Remove(pop);
        }
        _writer.WriteBehind();
        return Task.CompletedTask;
    }

    public Task<int> Enrolled() => Task.FromResult(state.State.ByPop.Values.Sum());

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken) => _writer.FlushAsync();
}
