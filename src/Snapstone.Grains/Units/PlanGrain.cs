using Microsoft.Extensions.Logging;
using Snapstone.Domain.Audit;
using Snapstone.Domain.Plans;
using Snapstone.Grains.Audit;
using Snapstone.Grains.Metrics;

namespace Snapstone.Grains.Units;

[GenerateSerializer, Alias("snapstone.PlanState")]
public sealed class PlanState
{
    [Id(0)] public Plan? Plan { get; set; }
    [Id(1)] public string UpdatedBy { get; set; } = "";
    [Id(2)] public DateTimeOffset? UpdatedAt { get; set; }
    /// <summary>Audit intents of the plan's changes, stored with the change.</summary>
    [Id(3)] public List<AuditIntent> Outbox { get; set; } = [];
}

public sealed class PlanGrain : Grain, IPlanGrain, IRemindable
{
    private readonly IPersistentState<PlanState> state;
    private readonly TimeProvider time;
    private readonly AuditOutbox _outbox;
    private readonly PrometheusClient prometheus;

    public PlanGrain([PersistentState("plan", StorageNames.Grains)] IPersistentState<PlanState> state, IGrainFactory grains, TimeProvider time, ILogger<PlanGrain> logger,
        PrometheusClient prometheus)
    {
        this.state = state;
        this.prometheus = prometheus;
        this.time = time;
        _outbox = new AuditOutbox(this, grains, () => state.State.Outbox, time, logger);
    }

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _outbox.ResumeIfPending();
        return Task.CompletedTask;
    }

    public async Task<PlanView> Define(Plan plan, string actor)
    {
        if (BuiltInPlans.Find(this.GetPrimaryKeyString()) is not null)
        {
            throw SnapstoneException.Conflict($"plan '{this.GetPrimaryKeyString()}' is built in and cannot be redefined; define a plan under another name");
        }
        if (PlanRules.Check(plan) is { Count: > 0 } errors)
        {
            throw SnapstoneException.Invalid(errors);
        }
        // Every metric query run once against the store: one it refuses is a 400 naming it, before anything is stored.
        await prometheus.CheckAsync(plan);
        await _outbox.ArmAsync();
        state.State.Plan = plan;
        state.State.UpdatedBy = actor;
        state.State.UpdatedAt = time.GetUtcNow();
        _outbox.Add(actor, "plan.define", $"plan/{this.GetPrimaryKeyString()}", "");
        await state.WriteStateAsync();
        await _outbox.FlushAsync();
        return View();
    }

    public Task<PlanView?> Get() => Task.FromResult(state.State.Plan is null ? null : View());

    public Task ReceiveReminder(string reminderName, TickStatus status) => _outbox.ReceiveReminderAsync();

    private PlanView View() => new(this.GetPrimaryKeyString(), state.State.Plan!, false, state.State.UpdatedBy, state.State.UpdatedAt);
}
