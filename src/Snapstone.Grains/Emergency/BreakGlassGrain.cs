using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Snapstone.Domain.BreakGlass;
using Snapstone.Domain.Incidents;
using Snapstone.Domain.Rollouts;
using Snapstone.Grains.Rollouts;
using Snapstone.Grains.Storage;

namespace Snapstone.Grains.Emergency;

[GenerateSerializer, Alias("snapstone.BreakGlassState")]
public sealed class BreakGlassState
{
    [Id(0)] public BreakGlassView? View { get; set; }
    /// <summary>Rollback: what the unit decided (null until it did).</summary>
    [Id(1)] public BreakGlassReturn? Order { get; set; }
    /// <summary>Rollback: the version asked for, if any.</summary>
    [Id(2)] public long? ToVersion { get; set; }
    /// <summary>Freeze: how long it lasts.</summary>
    [Id(3)] public int? TtlSeconds { get; set; }
    /// <summary>Each step done, by name: the grain picks up after the last one after a restart.</summary>
    [Id(4)] public HashSet<string> Done { get; set; } = [];
}

/// <summary>
/// One break-glass action, start to finish. The grain owns the sequence: each step is done, recorded in
/// <see cref="BreakGlassState.Done"/> and stored; a reminder (registered as it starts) and the start-up sweep
/// (<see cref="BreakGlassRecovery"/>) pick it up after the last step done should the silo die part-way. Each step is
/// safe to repeat. What goes back (a rollback, a freeze) acts before it is stored and is stored with retries as soon as
/// storage answers; what goes forward (an emergency deploy) is stored before it acts. The incident is written in the
/// background and never waited on.
/// </summary>
/// <remarks>
/// Steps: a rollback decides (the unit quarantines and moves its LKG), sends every consumer back through the PoPs,
/// stops the rollout in flight, opens its incident, then counts confirmations until every consumer runs the target
/// (or <see cref="RolloutOptions.RollbackDeadlineSeconds"/> pass, naming the ones that did not). A deploy starts its
/// rollout on the emergency plan and opens its incident; the rollout watches itself from there. A freeze is recorded,
/// wakes the rollouts it covers and opens its incident; a lift is recorded and wakes them.
/// </remarks>
public sealed class BreakGlassGrain : Grain, IBreakGlassRunnerGrain, IRemindable
{
    private const string ReminderName = "break-glass";
    private static readonly TimeSpan ConfirmEvery = TimeSpan.FromMilliseconds(250);
    /// <summary>How long the caller waits for the action's record to be stored before hearing back anyway.</summary>
    private static readonly TimeSpan AnswerWait = TimeSpan.FromSeconds(5);

    private readonly IPersistentState<BreakGlassState> state;
    private readonly TimeProvider time;
    private readonly IOptions<RolloutOptions> options;
    private readonly ILogger<BreakGlassGrain> logger;
    private readonly StateWriter _writer;
    private readonly IncidentFeed _incidents;
    private IGrainTimer? _watch;
    private Task? _running;

    public BreakGlassGrain(
        [PersistentState("breakglass", StorageNames.Grains)] IPersistentState<BreakGlassState> state,
        IGrainFactory grains,
        TimeProvider time,
        IOptions<RolloutOptions> options,
        ILogger<BreakGlassGrain> logger)
    {
        this.state = state;
        this.time = time;
        this.options = options;
        this.logger = logger;
        _writer = new StateWriter(state.WriteStateAsync, logger, () => $"break-glass {Id}", () => this.DeactivateOnIdle());
        _incidents = new IncidentFeed(grains, logger, () => $"break-glass {Id}");
    }

    private string Id => this.GetPrimaryKeyString();

    private BreakGlassView View
    {
        get => state.State.View!;
        set => state.State.View = value;
    }

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (state.State.View is { CompletedAt: null })
        {
            this.RegisterGrainTimer(_ => Continue(), new GrainTimerCreationOptions(TimeSpan.Zero, Timeout.InfiniteTimeSpan) { Interleave = false });
        }
        return Task.CompletedTask;
    }

    public Task<BreakGlassView?> Get() => Task.FromResult(state.State.View);

    public Task Wake() => state.State.View is { CompletedAt: null } ? Continue() : Task.CompletedTask;

    public Task ReceiveReminder(string reminderName, TickStatus status) => Wake();

    public async Task<BreakGlassView> Freeze(string? unit, string reason, int? ttlSeconds, string actor)
    {
        if (state.State.View is { } existing)
        {
            return existing;
        }
        Check(unit, unitRequired: false, BreakGlassRules.CheckReason(reason) ?? BreakGlassRules.CheckTtl(ttlSeconds));
        Begin(BreakGlassKind.Freeze, unit, reason, actor);
        state.State.TtlSeconds = ttlSeconds;
        return await ActFirst();
    }

    public async Task<BreakGlassView> Lift(string? unit, string actor)
    {
        if (state.State.View is { } existing)
        {
            return existing;
        }
        Check(unit, unitRequired: false, null);
        if ((await Control.Freezes()).All(f => f.Unit != unit))
        {
            throw SnapstoneException.NotFound(unit is null ? "there is no global freeze" : $"unit '{unit}' has no freeze of its own");
        }
        Begin(BreakGlassKind.Lift, unit, "", actor);
        return await ActFirst();
    }

    public async Task<BreakGlassView> Rollback(string unit, string reason, long? toVersion, string actor)
    {
        if (state.State.View is { } existing)
        {
            return existing;
        }
        Check(unit, unitRequired: true, BreakGlassRules.CheckReason(reason) ?? (toVersion is < 1 ? $"toVersion must be 1 or more (got {toVersion})" : null));
        Begin(BreakGlassKind.Rollback, unit, reason, actor);
        state.State.ToVersion = toVersion;
        // Recorded as it starts (not waited on), so a crash right after the unit decides still finds the action.
        var keep = Keep();
        _ = Recorded(keep);
        BreakGlassReturn order;
        try
        {
            order = await GrainFactory.GetGrain<IUnitRolloutsGrain>(unit).PrepareRollback(Id, toVersion, reason, actor);
        }
        catch (SnapstoneException)
        {
            // Refused (nothing to take back, a bad toVersion): no action stands.
            _ = Forget(keep);
            throw;
        }
        Decided(order);
        return await ActFirst(keep);
    }

    public async Task<BreakGlassView> Deploy(string unit, long version, string reason, string actor)
    {
        if (state.State.View is { } existing)
        {
            return existing;
        }
        Check(unit, unitRequired: true, BreakGlassRules.CheckReason(reason) ?? (version < 1 ? $"version must be 1 or more (got {version})" : null));
        Begin(BreakGlassKind.Deploy, unit, reason, actor);
        View = View with { Version = version };
        // Forward: the action is stored before the rollout it starts.
        await _writer.WriteAsync();
        var keep = Keep();
        _ = Recorded(keep);
        RolloutView rollout;
        try
        {
            rollout = await GrainFactory.GetGrain<IUnitRolloutsGrain>(unit).LaunchEmergency(Id, version, reason, actor);
        }
        catch (SnapstoneException)
        {
            _ = Forget(keep);
            throw;
        }
        Started(rollout);
        await keep;
        await Continue();
        await _writer.WriteDurablyAsync();
        return View;
    }

    private static void Check(string? unit, bool unitRequired, string? problem)
    {
        if (unitRequired || unit is not null)
        {
            SnapstoneException.ThrowIfBadName("unit", unit);
        }
        if (problem is not null)
        {
            throw SnapstoneException.Invalid(problem);
        }
    }

    /// <summary>An action refused before it acted leaves nothing behind: no record, no reminder, no entry in the index.</summary>
    private async Task Forget(Task keep)
    {
        await keep;
        state.State = new BreakGlassState();
        await _writer.WriteDurablyAsync();
        try
        {
            await Control.Done(Id);
            if (await this.GetReminder(ReminderName) is { } reminder)
            {
                await this.UnregisterReminder(reminder);
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            logger.LogInformation("Break-glass {Id}: refused action's recovery registration not removed: {Error}", Id, e.Message);
        }
        this.DeactivateOnIdle();
    }

    private IControlWriterGrain Control => GrainFactory.GetGrain<IControlWriterGrain>(IControlGrain.Key);

    private void Begin(BreakGlassKind kind, string? unit, string reason, string actor) =>
        View = new BreakGlassView { Id = Id, Kind = kind, Unit = unit, By = actor, Reason = reason, StartedAt = time.GetUtcNow() };

    /// <summary>Acts at once; stores the record as soon as storage answers (waiting a little, so the answer is normally stored).</summary>
    private async Task<BreakGlassView> ActFirst(Task? keeping = null)
    {
        var keep = keeping ?? Keep();
        if (keeping is null)
        {
            _ = Recorded(keep);
        }
        var run = Continue();
        async Task Everything()
        {
            await keep;
            await run;
            await _writer.WriteDurablyAsync();
        }
        await Task.WhenAny(Everything(), Task.Delay(AnswerWait));
        return View;
    }

    /// <summary>Logs the moment the action is stored and registered for recovery: from then on a crash cannot lose it.</summary>
    private async Task Recorded(Task keep)
    {
        await keep;
        await _writer.WriteDurablyAsync();
        if (state.State.View is { } view)
        {
            logger.LogWarning("Break-glass {Kind} {Id} recorded by {By} for {Unit}: {Reason}", view.Kind, Id, view.By, view.Unit ?? "all units", view.Reason);
        }
    }

    /// <summary>The reminder and the control grain's index keep the action alive across a restart; registered without blocking anything.</summary>
    private async Task Keep()
    {
        try
        {
            await this.RegisterOrUpdateReminder(ReminderName, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
            await Control.Track(Id);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            logger.LogWarning("Break-glass {Id}: not yet registered for recovery ({Error}); it acts regardless", Id, e.Message);
        }
    }

    /// <summary>Runs the remaining steps, one run at a time.</summary>
    private Task Continue()
    {
        if (_running is { IsCompleted: false } running)
        {
            return running;
        }
        return _running = Steps();
    }

    private async Task Steps()
    {
        try
        {
            switch (View.Kind)
            {
                case BreakGlassKind.Rollback:
                    await RollbackSteps();
                    break;
                case BreakGlassKind.Deploy:
                    await DeploySteps();
                    break;
                case BreakGlassKind.Freeze:
                    await FreezeSteps();
                    break;
                case BreakGlassKind.Lift:
                    await LiftSteps();
                    break;
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            logger.LogWarning(e, "Break-glass {Id}: a step failed; the reminder tries again", Id);
        }
    }

    // ---- rollback ----

    private void Decided(BreakGlassReturn order)
    {
        state.State.Order = order;
        View = View with
        {
            Target = order.Return.To,
            TakenBack = order.Return.From,
            Quarantined = order.Quarantined,
            StoppedRollout = order.StopRollout,
        };
        Did("decided", $"v{order.Return.From?.Version} taken back and quarantined; every consumer to {Text(order.Return.To)}" +
            (order.StopRollout is { } r ? $"; rollout {r} in flight is stopped" : ""));
    }

    private async Task RollbackSteps()
    {
        if (state.State.Order is null)
        {
            Decided(await GrainFactory.GetGrain<IUnitRolloutsGrain>(View.Unit!).PrepareRollback(Id, state.State.ToVersion, View.Reason, View.By));
        }
        var order = state.State.Order!;
        if (!Has("sent"))
        {
            var sent = await FanOut((pop, o) => pop.ReturnAll(o), order.Return);
            View = View with { Targeted = sent.Sum(s => s.Returned) };
            Did("sent", $"{View.Targeted} consumer(s) told to run {Text(order.Return.To)} at once");
            logger.LogWarning("Break-glass rollback {Id}: {Targeted} node(s) of {Unit} told to run {Target} by {By}: {Reason}",
                Id, View.Targeted, View.Unit, Text(order.Return.To), View.By, View.Reason);
        }
        if (order.StopRollout is { } rollout && !Has("stopped"))
        {
            try
            {
                await GrainFactory.GetGrain<IRolloutRunnerGrain>(rollout).StopForBreakGlass(Id, View.By, View.Reason, Text(order.Return.To));
            }
            catch (SnapstoneException e)
            {
                logger.LogInformation("Break-glass {Id}: rollout {Rollout} not stopped: {Reason}", Id, rollout, e.Message);
            }
            Did("stopped", $"rollout {rollout} stopped");
        }
        if (!Has("incident"))
        {
            OpenIncident($"Instant rollback of '{View.Unit}' to {Text(order.Return.To)}",
                (IncidentStatus.Detected, $"break-glass rollback by {View.By}: {View.Reason}"),
                (IncidentStatus.Halted, $"v{order.Return.From?.Version} quarantined" + (order.StopRollout is { } r ? $"; rollout {r} stopped" : "")),
                (IncidentStatus.RollingBack, $"{View.Targeted} node(s) told to run {Text(order.Return.To)} at once"));
        }
        await Confirm();
        Follow(ConfirmEvery, Confirm);
    }

    /// <summary>Counts the consumers running the target; done when all do, or at the deadline naming those that do not.</summary>
    private async Task Confirm()
    {
        if (View.CompletedAt is not null || state.State.Order is not { } order)
        {
            return;
        }
        var seen = await FanOut((pop, o) => pop.ObserveReturn(o), order.Return);
        var targeted = seen.Sum(c => c.Returned);
        var confirmed = seen.Sum(c => c.Confirmed);
        var unconfirmed = seen.SelectMany(c => c.Unconfirmed).Order(StringComparer.Ordinal).Take(WaveObservation.MaxNamed).ToList();
        var deadline = View.StartedAt + TimeSpan.FromSeconds(options.Value.RollbackDeadlineSeconds);
        var all = confirmed >= targeted;
        if (targeted == View.Targeted && confirmed == View.Confirmed && !all && time.GetUtcNow() < deadline)
        {
            return;
        }
        View = View with { Targeted = targeted, Confirmed = confirmed, Unconfirmed = unconfirmed };
        if (all || time.GetUtcNow() >= deadline)
        {
            var outcome = all ? null : $"{targeted - confirmed} of {targeted} consumer(s) did not confirm {Text(order.Return.To)} in time: {string.Join(", ", unconfirmed)}";
            Did("confirmed", all ? $"all {targeted} consumer(s) confirmed {Text(order.Return.To)}" : outcome!);
            if (View.Incident is { } incident)
            {
                _ = _incidents.Update(incident, IncidentStatus.RolledBack, all ? $"all {targeted} node(s) confirmed {Text(order.Return.To)}" : outcome!);
                _ = _incidents.Update(incident, IncidentStatus.Monitoring, "watching the fleet on the last known good package");
            }
            await Finish(outcome);
        }
        else
        {
            _writer.WriteBehind();
        }
    }

    private async Task<T[]> FanOut<T>(Func<IPopFanOutGrain, UnitReturn, Task<T>> call, UnitReturn order)
    {
        var pops = await GrainFactory.GetGrain<IFleetGrain>(IFleetGrain.Key).Pops();
        return await Task.WhenAll(pops.Select(pop => call(GrainFactory.GetGrain<IPopFanOutGrain>(pop), order)));
    }

    // ---- deploy ----

    private async Task DeploySteps()
    {
        if (View.Rollout is null)
        {
            Started(await GrainFactory.GetGrain<IUnitRolloutsGrain>(View.Unit!).LaunchEmergency(Id, View.Version!.Value, View.Reason, View.By));
            await _writer.WriteAsync();
        }
        if (!Has("incident"))
        {
            OpenIncident($"Emergency deploy of '{View.Unit}' v{View.Version}",
                (IncidentStatus.Detected, $"break-glass emergency deploy by {View.By}: {View.Reason}"),
                (IncidentStatus.Monitoring, $"rollout {View.Rollout}: canary, then everyone"));
        }
        // The deploy is under way: its rollout watches itself from here and rolls back on regression (with its own incident).
        await Finish(null);
    }

    private void Started(RolloutView rollout)
    {
        View = View with { Rollout = rollout.Spec.Id };
        Did("started", $"rollout {rollout.Spec.Id} of v{View.Version} on the emergency plan: canary, then everyone");
    }

    // ---- freeze and lift ----

    private async Task FreezeSteps()
    {
        if (View.Freeze is null)
        {
            var now = time.GetUtcNow();
            var freeze = await Control.Put(new Domain.BreakGlass.Freeze
            {
                Unit = View.Unit, Reason = View.Reason, By = View.By, At = now,
                Until = state.State.TtlSeconds is { } ttl ? now.AddSeconds(ttl) : null,
            }, Id);
            View = View with { Freeze = freeze };
            Did("recorded", freeze.Describe());
        }
        if (!Has("woken"))
        {
            await Control.Nudge(View.Freeze);
            Did("woken", "the rollouts it covers were told at once");
        }
        if (!Has("incident"))
        {
            OpenIncident($"Freeze of {(View.Unit is null ? "all units" : $"unit '{View.Unit}'")}",
                (IncidentStatus.Detected, $"break-glass freeze by {View.By}: {View.Reason}"),
                (IncidentStatus.Halted, View.Freeze.Describe()));
        }
        await Finish(null);
    }

    private async Task LiftSteps()
    {
        if (View.Freeze is null)
        {
            var lifted = await Control.Remove(View.Unit, View.By, Id);
            if (lifted is null)
            {
                Did("recorded", "no such freeze (already lifted)");
                await Finish("there was no such freeze to lift");
                return;
            }
            View = View with { Freeze = lifted, Reason = lifted.Reason };
            Did("recorded", $"lifted: {lifted.Describe()}");
        }
        if (!Has("woken"))
        {
            await Control.Nudge(View.Freeze);
            Did("woken", "the rollouts it covered were told at once");
        }
        await Finish(null);
    }

    // ---- shared ----

    private bool Has(string step) => state.State.Done.Contains(step);

    /// <summary>Records a step as done (one line in the action's steps) and stores it as soon as storage answers.</summary>
    private void Did(string step, string message)
    {
        if (state.State.Done.Add(step))
        {
            View = View with { Steps = [.. View.Steps, new BreakGlassStep(time.GetUtcNow(), step, message)] };
        }
        _ = _writer.WriteDurablyAsync();
    }

    /// <summary>
    /// Opens the action's incident in the background. The step counts as done once the incident is written, so a crash
    /// before that opens it (under the same id) when the action picks up again; nothing waits for it meanwhile.
    /// </summary>
    private void OpenIncident(string title, params (IncidentStatus Status, string Message)[] updates)
    {
        var id = View.Incident ?? "inc-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        var now = time.GetUtcNow();
        var incident = IncidentRules.Open(id, title, IncidentSeverity.Sev3, View.Unit is null ? [] : [View.Unit], Id, updates[0].Status, updates[0].Message, View.By, now);
        foreach (var (status, message) in updates.Skip(1))
        {
            incident = incident.With(status, message, View.By, now);
        }
        View = View with { Incident = id };
        _ = _writer.WriteDurablyAsync();
        _opening = Opened(_incidents.Open(incident), id);
    }

    /// <summary>The incident being opened, if one is: the action ends only after it.</summary>
    private Task? _opening;

    private async Task Opened(Task<bool> written, string id)
    {
        if (await written)
        {
            Did("incident", $"incident {id} opened");
        }
    }

    private void Follow(TimeSpan every, Func<Task> step)
    {
        if (View.CompletedAt is null)
        {
            _watch ??= this.RegisterGrainTimer(_ => step(), new GrainTimerCreationOptions(every, every) { Interleave = false, KeepAlive = true });
        }
    }

    /// <summary>
    /// Ends the action once its incident is written (its writes run in the background and never block the steps that
    /// act; the action is complete only when its record is). An incident that could not be written leaves the action
    /// open: the reminder picks it up and opens the incident again.
    /// </summary>
    private async Task Finish(string? outcome)
    {
        await (_opening ?? Task.CompletedTask);
        await _incidents.Drained;
        if (View.Incident is not null && !Has("incident"))
        {
            logger.LogWarning("Break-glass {Id}: its incident {Incident} is not written yet; the action stays open for its reminder", Id, View.Incident);
            return;
        }
        View = View with { CompletedAt = time.GetUtcNow(), Outcome = outcome };
        _watch?.Dispose();
        _watch = null;
        await _writer.WriteDurablyAsync();
        logger.LogWarning("Break-glass {Kind} {Id} complete{Outcome}", View.Kind, Id, outcome is null ? "" : $": {outcome}");
        try
        {
            await Control.Done(Id);
            if (await this.GetReminder(ReminderName) is { } reminder)
            {
                await this.UnregisterReminder(reminder);
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            logger.LogInformation("Break-glass {Id}: recovery registration not removed yet: {Error}", Id, e.Message);
        }
    }

    private static string Text(DesiredPackage? package) => package is { } p ? $"v{p.Version}" : "no package";
}

/// <summary>After a silo starts, finishes every break-glass action a crash left part-way, without waiting for its reminder.</summary>
public sealed class BreakGlassRecovery(IGrainFactory grains, ILogger<BreakGlassRecovery> logger)
    : StartupSweep(logger, "unfinished break-glass actions wake on their reminders")
{
    protected override async Task SweepAsync()
    {
        var open = await grains.GetGrain<IControlWriterGrain>(IControlGrain.Key).OpenActions();
        await Task.WhenAll(open.Select(id => grains.GetGrain<IBreakGlassRunnerGrain>(id).Wake()));
        if (open.Count > 0)
        {
            logger.LogInformation("Woke {Count} unfinished break-glass action(s): {Actions}", open.Count, string.Join(", ", open));
        }
    }
}
