using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Snapstone.Domain;
using Snapstone.Domain.Health;
using Snapstone.Domain.Incidents;
using Snapstone.Domain.Rollouts;
using Snapstone.Domain.Units;

namespace Snapstone.Grains.Rollouts;

[GenerateSerializer, Alias("snapstone.RolloutRecord")]
public sealed class RolloutRecord
{
    [Id(0)] public RolloutSpec? Spec { get; set; }
    [Id(1)] public RolloutStatus? Status { get; set; }
    [Id(2)] public UnitTargets? Targets { get; set; }
    /// <summary>The incident this rollout opened (an automated rollback or halt), if any.</summary>
    [Id(3)] public string? Incident { get; set; }
}

/// <summary>Host settings for every rollout (section <c>Snapstone:Rollouts</c>).</summary>
public sealed class RolloutOptions
{
    /// <summary>How often an active rollout ticks. Hard node signals tick it at once regardless.</summary>
    public int TickMilliseconds { get; set; } = 1000;
    /// <summary>How often a rollout counts its rollback's confirmations (more slowly for large rollbacks, see <see cref="RolloutSettings.TickInterval"/>).</summary>
    public int RollbackPollMilliseconds { get; set; } = 200;
    /// <summary>A wave still applying this long after it started pauses, naming the nodes that have not converged.</summary>
    public int ApplyDeadlineSeconds { get; set; } = 600;
    /// <summary>How long an inconclusive wave may wait before it pauses; empty: twice its bake, at least a minute.</summary>
    public int? InconclusiveGraceSeconds { get; set; }
    /// <summary>A rollback whose touched nodes have not all confirmed this long after they were told finishes, naming them.</summary>
    public int RollbackDeadlineSeconds { get; set; } = 300;

    public RolloutSettings Settings() => new()
    {
        ApplyDeadline = TimeSpan.FromSeconds(ApplyDeadlineSeconds),
        InconclusiveGrace = InconclusiveGraceSeconds is { } grace ? TimeSpan.FromSeconds(grace) : null,
        PollInterval = TimeSpan.FromMilliseconds(TickMilliseconds),
        RollbackPollInterval = TimeSpan.FromMilliseconds(RollbackPollMilliseconds),
        RollbackDeadline = TimeSpan.FromSeconds(RollbackDeadlineSeconds),
    };
}

/// <summary>
/// Walks one rollout. Thin by design: each tick asks <see cref="RolloutPolicy.Decide"/> for one decision,
/// persists the status it returns, then performs the decision's side effect (fan-out through PoP grains) and
/// records its acknowledgement. A timer ticks it while active; a reminder and a start-up sweep wake it after
/// a restart, and the persisted status alone says where it was.
/// </summary>
public sealed class RolloutGrain(
    [PersistentState("rollout", StorageNames.Grains)] IPersistentState<RolloutRecord> state,
    TimeProvider time,
    IOptions<RolloutOptions> options,
    ILogger<RolloutGrain> logger) : Grain, IRolloutGrain, IRemindable
{
    private const string ReminderName = "keep-alive";
    private const int MaxTicksPerRun = 16;
    private IGrainTimer? _timer;
    private IGrainTimer? _watch;
    /// <summary>
    /// The status readers see: a new status becomes visible only once the unit has heard of it, so a pipeline
    /// that sees "completed" finds the unit's LKG already moved.
    /// </summary>
    private RolloutStatus? _published;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private RolloutSpec Spec => state.State.Spec!;
    private RolloutStatus Status => state.State.Status!;
    private RolloutSettings Settings => options.Value.Settings();

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _published = state.State.Status;
        if (state.State.Status is { IsTerminal: false })
        {
            EnsureTicking();
        }
        return Task.CompletedTask;
    }

    public async Task<RolloutView> Start(RolloutSpec spec, UnitTargets targets)
    {
        if (state.State.Spec is { } existing)
        {
            return existing.Unit == spec.Unit && existing.Version == spec.Version
                ? View()
                : throw SnapstoneException.Conflict($"rollout id {spec.Id} is already used by a rollout of {existing.Unit} v{existing.Version}");
        }
        spec = spec with { CreatedAt = time.GetUtcNow() };
        state.State.Spec = spec;
        state.State.Targets = targets;
        state.State.Status = RolloutStatus.Start(spec, time.GetUtcNow());
        await state.WriteStateAsync();
        // The unit reserved this rollout before starting it: a pending rollout is visible at once.
        _published = state.State.Status;
        // The reminder is a backstop (the start-up sweep wakes unfinished rollouts too): register it alongside the first wave.
        var reminder = this.RegisterOrUpdateReminder(ReminderName, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
        await Announce(null);
        EnsureTicking();
        await RunTicks();
        await reminder;
        return View();
    }

    public Task<RolloutView?> Get() => Task.FromResult(Published());

    public Task<RolloutView> Approve(string actor, string? reason) =>
        Command(() => RolloutCommands.Approve(Spec, Status, actor, reason, time.GetUtcNow()));

    public Task<RolloutView> Pause(string actor, string? reason) =>
        Command(() => RolloutCommands.Pause(Status, actor, reason, time.GetUtcNow()));

    public Task<RolloutView> Resume(string actor, string? reason) =>
        Command(() => RolloutCommands.Resume(Status, actor, reason, time.GetUtcNow()));

    public Task<RolloutView> Abort(string actor, string? reason) =>
        Command(() => RolloutCommands.Abort(Status, actor, reason, time.GetUtcNow()));

    public async Task Signal(NodeSignal signal)
    {
        if (state.State.Status is null)
        {
            return;
        }
        await Save(Status.WithSignal(signal, time.GetUtcNow()));
        await RunTicks();
    }

    public async Task<RolloutView?> WaitForTimeline(int seen, TimeSpan wait)
    {
        var deadline = time.GetUtcNow() + wait;
        while (_published is { } status && status.Timeline.Count <= seen && !status.IsTerminal && time.GetUtcNow() < deadline)
        {
            var left = deadline - time.GetUtcNow();
            await Task.WhenAny(_changed.Task, Task.Delay(left > TimeSpan.Zero ? left : TimeSpan.Zero, time));
        }
        return Published();
    }

    public async Task Wake()
    {
        if (state.State.Status is { IsTerminal: false })
        {
            EnsureTicking();
            await RunTicks();
        }
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (state.State.Status is not { IsTerminal: false })
        {
            await StopTicking();
            return;
        }
        EnsureTicking();
        await RunTicks();
    }

    private async Task<RolloutView> Command(Func<CommandResult> command)
    {
        if (state.State.Status is null)
        {
            throw SnapstoneException.NotFound($"rollout '{this.GetPrimaryKeyString()}' does not exist");
        }
        var result = command();
        if (result.Refusal is { } refusal)
        {
            throw new SnapstoneException(refusal.Kind, refusal.Message);
        }
        await Save(result.Status);
        await RunTicks();
        return View();
    }

    private async Task RunTicks()
    {
        for (var i = 0; i < MaxTicksPerRun && await Tick(); i++)
        {
        }
    }

    /// <summary>One decision. True when the next step can follow at once (a wave passed, or a rollback went out).</summary>
    private async Task<bool> Tick()
    {
        if (state.State.Status is not { IsTerminal: false })
        {
            return false;
        }
        var now = time.GetUtcNow();
        var decision = RolloutPolicy.Decide(Spec, Status, null, now, Settings);
        if (decision is RolloutDecision.Observe observe)
        {
            decision = RolloutPolicy.Decide(Spec, Status, await Observe(observe.Wave), now, Settings);
        }
        if (decision.Changed)
        {
            await Save(decision.Status);
        }
        switch (decision)
        {
            case RolloutDecision.Assign assign:
                var assigned = await FanOut(assign.Wave, (pop, order) => pop.AssignWave(order));
                await Save(Status.WaveAssigned(assign.Wave, assigned.Sum(c => c.Cohort), time.GetUtcNow()));
                // Nodes learn at their next report: looking before the next tick would find nothing applied.
                return false;
            case RolloutDecision.Rollback rollback:
                // The nodes hear of it while the unit quarantines the version, not after: every moment counts.
                // Both finish before the rollback counts as assigned, so a crash in between repeats both.
                var fanOut = FanOut(rollback.ThroughWave, (pop, order) => pop.RollBack(order));
                var quarantine = Status.Rollback is { Aborted: true } ? Task.CompletedTask
                    : Unit.Quarantine(Spec.Version, $"rolled back by {Spec.Id}: {rollback.Reason}");
                await Task.WhenAll(fanOut, quarantine);
                var returned = await fanOut;
                var sent = returned.Sum(c => c.Returned);
                await Save(Status.RollbackAssigned(sent, returned.Sum(c => c.Ran), time.GetUtcNow()));
                if (Status.Rollback is not { Aborted: true })
                {
                    await OpenIncident($"Rollout {Spec.Id} of {Spec.Unit} v{Spec.Version} rolled back", sent,
                        (IncidentStatus.Detected, rollback.Reason),
                        (IncidentStatus.Halted, $"rollout halted at wave '{Spec.Plan.Waves[Math.Clamp(rollback.ThroughWave, 0, Spec.Plan.Waves.Count - 1)].Name}'"),
                        (IncidentStatus.RollingBack, $"{sent} node(s) told to return to v{Spec.PreviousVersion}"));
                }
                return true;
            case RolloutDecision.Advance:
                return true;
            case RolloutDecision.Complete or RolloutDecision.FinishRollback:
                await StopTicking();
                if (decision is RolloutDecision.FinishRollback { Outcome: RolloutState.RolledBack })
                {
                    await UpdateIncident(IncidentStatus.RolledBack, $"all {Status.Rollback?.Confirmed} node(s) confirmed v{Spec.PreviousVersion}; v{Spec.Version} is quarantined");
                    await UpdateIncident(IncidentStatus.Monitoring, "watching the fleet on the last known good package");
                }
                return false;
            case RolloutDecision.Pause pause:
                await OpenIncident($"Rollout {Spec.Id} of {Spec.Unit} v{Spec.Version} halted", Status.Waves.Sum(w => w.Applied),
                    (IncidentStatus.Detected, pause.Reason),
                    (IncidentStatus.Halted, "the rollout is paused until someone resumes or aborts it"));
                return false;
            default:
                return false;
        }
    }

    /// <summary>The first few nodes the PoPs named as not running what they should, over all of them.</summary>
    private static IReadOnlyList<string> FirstNamed(IEnumerable<IReadOnlyList<string>> named) =>
        [.. named.SelectMany(n => n).Order(StringComparer.Ordinal).Take(WaveObservation.MaxNamed)];

    /// <summary>Gathers what Decide asked to see: the current wave's cohort and control, or the rollback's confirmations.</summary>
    private async Task<WaveObservation> Observe(int wave)
    {
        if (wave == WaveObservation.Rollback)
        {
            var rollback = await FanOut(Status.Rollback?.ThroughWave ?? Status.TouchedThrough, (pop, order) => pop.ObserveRollback(order));
            return new WaveObservation
            {
                Wave = wave,
                Targeted = rollback.Sum(c => c.Returned),
                Applied = rollback.Sum(c => c.Confirmed),
                Unconverged = FirstNamed(rollback.Select(c => c.Unconfirmed)),
            };
        }
        var counts = await FanOut(wave, (pop, order) => pop.ObserveWave(order));
        var targeted = counts.Sum(c => c.Cohort);
        var verdict = HealthPolicy.Judge(
            [.. counts.SelectMany(c => c.CohortSamples)],
            [.. counts.SelectMany(c => c.ControlSamples)],
            Spec.Plan.Waves[wave].Gates,
            targeted);
        return new WaveObservation
        {
            Wave = wave,
            Targeted = targeted,
            Applied = counts.Sum(c => c.Applied),
            Rejected = counts.Sum(c => c.Rejected),
            Verdict = verdict,
            Unconverged = FirstNamed(counts.Select(c => c.Unconverged)),
        };
    }

    /// <summary>Rollout → every PoP at once → each PoP's nodes at once: a wave of any size is a two-level tree.</summary>
    private async Task<T[]> FanOut<T>(int wave, Func<IPopGrain, WaveOrder, Task<T>> call)
    {
        var order = new WaveOrder
        {
            Rollout = Spec.Id,
            Unit = Spec.Unit,
            Package = new DesiredPackage(Spec.Version, Spec.Sha256),
            Previous = Spec.PreviousVersion is { } previous ? new DesiredPackage(previous, Spec.PreviousSha256!) : null,
            Plan = Spec.Plan,
            Wave = wave,
            Targets = state.State.Targets ?? new UnitTargets(new Dictionary<string, string>()),
            Salt = Spec.Salt,
        };
        var pops = await GrainFactory.GetGrain<IFleetGrain>(IFleetGrain.Key).Pops();
        return await Task.WhenAll(pops.Select(pop => call(GrainFactory.GetGrain<IPopGrain>(pop), order)));
    }

    /// <summary>Persists a new status (never an unchanged one), logs its newest timeline entry and tells the unit and any watchers.</summary>
    private async Task Save(RolloutStatus next)
    {
        var previous = state.State.Status;
        if (ReferenceEquals(next, previous))
        {
            return;
        }
        state.State.Status = next;
        await state.WriteStateAsync();
        if (next.Timeline.Count > 0 && next.Timeline[^1] is { } entry && (previous is null || previous.Timeline.Count == 0 || previous.Timeline[^1] != entry))
        {
            logger.LogInformation("Rollout {Rollout} of {Unit} v{Version}: {Type}: {Message}", Spec.Id, Spec.Unit, Spec.Version, entry.Type, entry.Message);
        }
        if (previous?.State != next.State)
        {
            await Announce(previous?.State);
        }
        if (_timer is not null && !next.IsTerminal)
        {
            WatchRollback();
        }
        _published = next;
        var changed = _changed;
        _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        changed.TrySetResult();
    }

    private Task Announce(RolloutState? _) => Unit.RolloutChanged(View().Summary());

    /// <summary>Opens this rollout's incident with its first updates, sized by how many nodes took the package.</summary>
    private async Task OpenIncident(string title, int affected, params (IncidentStatus Status, string Message)[] updates)
    {
        if (state.State.Incident is not null)
        {
            foreach (var (status, message) in updates.Skip(1))
            {
                await UpdateIncident(status, message);
            }
            return;
        }
        var id = "inc-" + Spec.Id[2..];
        var fleet = (await GrainFactory.GetGrain<IFleetGrain>(IFleetGrain.Key).Summary()).Nodes;
        var now = time.GetUtcNow();
        var incident = IncidentRules.Open(id, title, IncidentRules.SeverityOf(affected, fleet), [Spec.Unit], Spec.Id, updates[0].Status, updates[0].Message, "snapstone", now);
        foreach (var (status, message) in updates.Skip(1))
        {
            incident = incident.With(status, message, "snapstone", now);
        }
        state.State.Incident = id;
        await state.WriteStateAsync();
        await GrainFactory.GetGrain<IIncidentGrain>(id).Open(incident);
    }

    private async Task UpdateIncident(IncidentStatus status, string message)
    {
        if (state.State.Incident is { } id)
        {
            try
            {
                await GrainFactory.GetGrain<IIncidentGrain>(id).Update(status, message, "snapstone");
            }
            catch (SnapstoneException e)
            {
                logger.LogInformation("Incident {Incident} not updated: {Reason}", id, e.Message);
            }
        }
    }

    private IUnitGrain Unit => GrainFactory.GetGrain<IUnitGrain>(Spec.Unit);

    /// <summary>Starts the tick timer; while a rollback waits for confirmations, a second timer counts them more often.</summary>
    private void EnsureTicking()
    {
        _timer ??= this.RegisterGrainTimer(async _ => await RunTicks(), new GrainTimerCreationOptions(TickPeriod, TickPeriod) { Interleave = false, KeepAlive = true });
        WatchRollback();
    }

    /// <summary>A rollback's last step is its confirmations: counted every <see cref="RolloutSettings.TickInterval"/>, not every tick.</summary>
    private void WatchRollback()
    {
        if (_watch is not null || state.State.Status is not { State: RolloutState.RollingBack, Rollback.AssignedAt: not null } status)
        {
            return;
        }
        var period = Settings.TickInterval(status);
        if (period < TickPeriod)
        {
            period = period < MinTimerPeriod ? MinTimerPeriod : period;
            _watch = this.RegisterGrainTimer(async _ => await RunTicks(), new GrainTimerCreationOptions(period, period) { Interleave = false, KeepAlive = true });
        }
    }

    private static readonly TimeSpan MinTimerPeriod = TimeSpan.FromMilliseconds(50);

    /// <summary>The configured tick, never below <see cref="MinTimerPeriod"/>.</summary>
    private TimeSpan TickPeriod => TimeSpan.FromMilliseconds(Math.Max(MinTimerPeriod.TotalMilliseconds, options.Value.TickMilliseconds));

    private async Task StopTicking()
    {
        _timer?.Dispose();
        _timer = null;
        _watch?.Dispose();
        _watch = null;
        if (await this.GetReminder(ReminderName) is { } reminder)
        {
            await this.UnregisterReminder(reminder);
        }
    }

    private RolloutView View() => new(Spec, Status);

    private RolloutView? Published() => state.State.Spec is { } spec && _published is { } status ? new(spec, status) : null;
}
