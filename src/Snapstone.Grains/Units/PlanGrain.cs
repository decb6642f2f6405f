using Snapstone.Domain.Plans;

namespace Snapstone.Grains.Units;

[GenerateSerializer, Alias("snapstone.PlanState")]
public sealed class PlanState
{
    [Id(0)] public Plan? Plan { get; set; }
    [Id(1)] public string UpdatedBy { get; set; } = "";
    [Id(2)] public DateTimeOffset? UpdatedAt { get; set; }
}

public sealed class PlanGrain(
    [PersistentState("plan", StorageNames.Grains)] IPersistentState<PlanState> state,
    TimeProvider time) : Grain, IPlanGrain
{
    public async Task<PlanView> Define(Plan plan, string actor)
    {
        if (PlanRules.Check(plan) is { Count: > 0 } errors)
        {
            throw SnapstoneException.Invalid(errors);
        }
        state.State.Plan = plan;
        state.State.UpdatedBy = actor;
        state.State.UpdatedAt = time.GetUtcNow();
        await state.WriteStateAsync();
        return View();
    }

    public Task<PlanView?> Get() => Task.FromResult(state.State.Plan is null ? null : View());

    private PlanView View() => new(this.GetPrimaryKeyString(), state.State.Plan!, false, state.State.UpdatedBy, state.State.UpdatedAt);
}
