using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Snapstone.Domain;
using Snapstone.Domain.Alarms;
using Snapstone.Domain.Audit;
using Snapstone.Domain.BreakGlass;
using Snapstone.Domain.Health;
using Snapstone.Domain.Incidents;
using Snapstone.Domain.Notifications;
using Snapstone.Domain.Rollouts;
using Snapstone.Domain.Units;
using Snapstone.Grains.Audit;
using Snapstone.Grains.Emergency;
using Snapstone.Grains.Metrics;
using Snapstone.Grains.Storage;

namespace Snapstone.Grains.Rollouts;

[GenerateSerializer, Alias("snapstone.RolloutRecord")]
public sealed class RolloutRecord
{
    [Id(0)] public RolloutSpec? Spec { get; set; }
    [Id(1)] public RolloutStatus? Status { get; set; }
    [Id(2)] public UnitTargets? Targets { get; set; }
    /// <summary>The incident this rollout opened (an automated rollback or halt), if any.</summary>
    [Id(3)] public string? Incident { get; set; }
    /// <summary>Audit intents of commands (approve, pause, resume, abort), stored with the status they changed.</summary>
    [Id(4)] public List<AuditIntent> Outbox { get; set; } = [];
    /// <summary>The alert deliveries this rollout handled (<see cref="Domain.Alarms.Alert.Key"/>), newest last, at most <see cref="AlarmRules.MaxHandled"/>.</summary>
    [Id(5)] public List<string> Alarms { get; set; } = [];
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
    /// <summary>How often a baking wave is judged before its bake ends (each look carries the last one's figures); 0: only at its end.</summary>
    public int LookSeconds { get; set; } = 15;

    public RolloutSettings Settings() => new()
    {
        ApplyDeadline = TimeSpan.FromSeconds(ApplyDeadlineSeconds),
        InconclusiveGrace = InconclusiveGraceSeconds is { } grace ? TimeSpan.FromSeconds(grace) : null,
        PollInterval = TimeSpan.FromMilliseconds(TickMilliseconds),
        RollbackPollInterval = TimeSpan.FromMilliseconds(RollbackPollMilliseconds),
        RollbackDeadline = TimeSpan.FromSeconds(RollbackDeadlineSeconds),
        LookInterval = TimeSpan.FromSeconds(Math.Max(0, LookSeconds)),
    };
}

/// <summary>
/// Walks one rollout. Thin by design: each tick learns the freezes that apply, asks <see cref="RolloutPolicy.Decide"/>
/// for one decision, and carries it out. A timer ticks it while active; a reminder and a start-up sweep wake it after
/// a restart, and the persisted status alone says where it was.
/// </summary>
/// <remarks>
/// <para>
/// Forward and back are not treated alike. A forward step (opening, assigning, passing a wave, completing) is carried
/// out only once the status that orders it is stored: a crash never leaves nodes on a wave the status does not know.
/// A rollback is the safe direction and never waits on storage: nodes are told at once (through the PoP grains, from
/// memory) and the decision is stored with retries as soon as storage answers. Node signals are taken the same way,
/// and they interleave with a tick that is waiting on storage, so a canary crashing while storage hangs is still
/// sent back at once.
/// </para>
/// <para>
/// Everything that can interleave changes the status in one synchronous step (<c>Status = f(Status)</c>); a tick that
/// awaited anything checks the status is still the one it decided from before it acts, and decides again if not.
/// Incidents are written in the background (<see cref="IncidentFeed"/>): no incident write holds a rollback up.
/// </para>
/// </remarks>
public sealed partial class RolloutGrain : Grain, IRolloutRunnerGrain, IRemindable
{
    private const string ReminderName = "keep-alive";
    private const int MaxTicksPerRun = 16;
    private static readonly TimeSpan ConditionsWait = TimeSpan.FromSeconds(2);

    private readonly IPersistentState<RolloutRecord> state;
    private readonly TimeProvider time;
    private readonly IOptions<RolloutOptions> options;
    private readonly ILogger<RolloutGrain> logger;
    private readonly StateWriter _writer;
    private readonly AuditOutbox _outbox;
    private readonly IncidentFeed _incidents;
    private readonly PrometheusClient prometheus;
    private readonly RolloutJournal _journal;
    private readonly EvidenceRecorder _evidence;

    /// <summary>The last look at a wave: when, and the pooled figures the next look of the same wave carries on from.</summary>
    private sealed record Look(int Wave, DateTimeOffset At, PooledHistory? Carry);

    private Look? _look;
    private (int Wave, DateTimeOffset Started, Task<IReadOnlyList<MetricReading>> Task)? _reading;
    private (int Wave, DateTimeOffset Started, IReadOnlyList<MetricReading> Readings)? _lastReading;
    private IGrainTimer? _timer;
    private IGrainTimer? _watch;
    private bool _ticking;
    private Task<bool>? _rollingBack;
    /// <summary>Moves on every status change; <see cref="_stored"/> is the version the last successful write carried.</summary>
    private long _version;
    private long _stored;
    /// <summary>
    /// The status readers see: a terminal status becomes visible only once the unit has heard of it, so a pipeline
    /// that sees "completed" finds the unit's LKG already moved.
    /// </summary>
    private RolloutStatus? _published;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public RolloutGrain(
        [PersistentState("rollout", StorageNames.Grains)] IPersistentState<RolloutRecord> state,
        IGrainFactory grains,
        TimeProvider time,
        IOptions<RolloutOptions> options,
        ILogger<RolloutGrain> logger,
        PrometheusClient prometheus,
        TimelineStore timeline,
        EvidenceStore evidence)
    {
        this.state = state;
        this.prometheus = prometheus;
        this.time = time;
        this.options = options;
        this.logger = logger;
        _writer = new StateWriter(WriteAsync, logger, () => $"rollout {this.GetPrimaryKeyString()}", () => this.DeactivateOnIdle());
        _outbox = new AuditOutbox(this, grains, () => state.State.Outbox, time, logger);
        _incidents = new IncidentFeed(grains, logger, () => $"rollout {this.GetPrimaryKeyString()}");
        _journal = new RolloutJournal(timeline, () => this.GetPrimaryKeyString(), logger);
        _evidence = new EvidenceRecorder(evidence, time, logger);
    }

    private RolloutSpec Spec => state.State.Spec!;

    private RolloutStatus Status
    {
        get => state.State.Status!;
        set
        {
            if (!ReferenceEquals(state.State.Status, value))
            {
                var previous = state.State.Status;
                state.State.Status = value;
                _version++;
                Recorded(previous, value);
            }
        }
    }

    private RolloutSettings Settings => options.Value.Settings();

    private string Id => this.GetPrimaryKeyString();

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _published = state.State.Status;
        if (state.State.Status is { } stored)
        {
            _journal.Resume(stored);
        }
        if (state.State.Status is { IsTerminal: false })
        {
            EnsureTicking();
        }
        _outbox.ResumeIfPending();
        return Task.CompletedTask;
    }

    public async Task<RolloutView> Start(RolloutSpec spec, UnitTargets targets)
    {
        if (state.State.Spec is { } existing)
        {
            return SameRequest(existing, spec)
                ? View()
                : throw new SnapstoneException(ProblemKind.Unprocessable,
                    $"rollout {spec.Id} already exists for another request ({existing.Unit} v{existing.Version} on plan '{existing.PlanName}': {existing.Reason})");
        }
        spec = spec with { CreatedAt = time.GetUtcNow() };
        state.State.Spec = spec;
        state.State.Targets = targets;
        Status = RolloutStatus.Start(spec, time.GetUtcNow());
        // A rollout exists once it is stored: nothing is told to any node before.
        await _writer.WriteAsync();
        // The reminder is a backstop (the start-up sweep wakes unfinished rollouts too): register it alongside the first wave.
        var reminder = this.RegisterOrUpdateReminder(ReminderName, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
        await Publish(null);
        // The caller's answer says what the first step did: the canaries told, or the rollout awaiting its approval.
        EnsureTicking();
        await RunTicks();
        await reminder;
        return View();
    }

    /// <summary>A retry of the same request: same unit, version, plan, reason and creator.</summary>
    private static bool SameRequest(RolloutSpec a, RolloutSpec b) =>
        a.Unit == b.Unit && a.Version == b.Version && a.PlanName == b.PlanName && a.Reason == b.Reason && a.CreatedBy == b.CreatedBy;

    public Task<RolloutView?> Get() => Task.FromResult(Published());

    public Task<RolloutView> Approve(string actor, string? reason) =>
        Command(actor, "rollout.approve", reason, _ => RolloutCommands.Approve(Spec, Status, actor, reason, time.GetUtcNow()));

    public Task<RolloutView> Pause(string actor, string? reason) =>
        Command(actor, "rollout.pause", reason, _ => RolloutCommands.Pause(Status, actor, reason, time.GetUtcNow()));

    public Task<RolloutView> Resume(string actor, string? reason) =>
        Command(actor, "rollout.resume", reason, freeze => RolloutCommands.Resume(Status, actor, reason, time.GetUtcNow(), freeze), needsFreeze: true);

    public Task<RolloutView> Abort(string actor, string? reason) =>
        Command(actor, "rollout.abort", reason, _ => RolloutCommands.Abort(Status, actor, reason, time.GetUtcNow()));

    public async Task<RolloutView> StopForBreakGlass(string action, string by, string reason, string target)
    {
        if (state.State.Status is null)
        {
            throw SnapstoneException.NotFound($"rollout '{Id}' does not exist");
        }
        var before = Status;
        var result = RolloutCommands.StopForBreakGlass(before, action, by, reason, target, time.GetUtcNow());
        if (ReferenceEquals(result.Status, before))
        {
            return View();
        }
        Status = result.Status;
        await _writer.WriteDurablyAsync();
        await Publish(before);
        await StopTicking();
        return View();
    }

    public async Task Signal(NodeSignal signal)
    {
        if (state.State.Status is null)
        {
            return;
        }
        var next = Status.WithSignal(signal, time.GetUtcNow());
        if (ReferenceEquals(next, Status))
        {
            return;
        }
        var previous = Status;
        Status = next;
        // Stored as soon as storage answers; acted on now.
        _ = _writer.WriteDurablyAsync();
        await Publish(previous);
        await Urgently();
    }

    public async Task<RolloutView?> WaitForTimeline(int seen, TimeSpan wait)
    {
        var deadline = time.GetUtcNow() + wait;
        while (_published is { } status && status.TimelineTotal <= seen && !status.IsTerminal && time.GetUtcNow() < deadline)
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
        await _outbox.FlushAsync();
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName == AuditOutbox.ReminderName)
        {
            await _outbox.ReceiveReminderAsync();
            return;
        }
        if (state.State.Status is not { IsTerminal: false })
        {
            await StopTicking();
            return;
        }
        EnsureTicking();
        await RunTicks();
    }

    public async Task<AlarmEffect> Alarm(RolloutAlarm alarm)
    {
        if (state.State.Status is null)
        {
            throw SnapstoneException.NotFound($"rollout '{Id}' does not exist");
        }
        var alert = alarm.Alert;
        var place = alert is { Status: AlertStatus.Firing, Target: { ByPlace: true, Global: false } } && Status is { IsTerminal: false, State: not RolloutState.RollingBack };
        var touches = !place || await Touches(alert.Target);
        await _outbox.ArmAsync();
        // Decided on the status as it is now, after the awaits above, and applied in the same step.
        var before = Status;
        var decision = AlarmRules.Decide(before, alert, alarm.OnAlarm, touches, state.State.Alarms, alarm.Actor, time.GetUtcNow());
        var effect = new AlarmEffect(Id, Spec.Unit, decision.Action, decision.Reason);
        if (!decision.Changed)
        {
            return effect;
        }
        state.State.Alarms = [.. decision.Handled];
        var action = alert.Status == AlertStatus.Resolved ? "rollout.alarm-resolved"
            : decision.Action == AlarmAction.RolledBack ? "rollout.alarm-rollback" : "rollout.alarm-pause";
        _outbox.Add(alarm.Actor, action, $"rollout/{Id}", $"{alert.Describe()}: {decision.Reason}");
        logger.LogWarning("Rollout {Rollout} of {Unit}: {Alarm} posted by {Actor}: {Action} ({Reason})",
            Id, Spec.Unit, alert.Describe(), alarm.Actor, AlarmRules.Wire(decision.Action), decision.Reason);
        if (decision.Action == AlarmAction.RolledBack)
        {
            // The rollback a failing wave starts: every touched node back at once, the version quarantined, an incident.
            var rollback = decision.Status.Rollback!;
            await RollBack(before, new RolloutDecision.Rollback(rollback.Reason, rollback.ThroughWave) { Status = decision.Status, Changed = true });
        }
        else
        {
            Status = decision.Status;
            var stored = _writer.WriteDurablyAsync();
            await Publish(before);
            if (decision.Action == AlarmAction.Paused)
            {
                OpenIncident($"Rollout {Spec.Id} of {Spec.Unit} v{Spec.Version} halted", Status.Waves.Sum(w => w.Applied),
                    (IncidentStatus.Detected, Status.PausedReason ?? alert.Describe()),
                    (IncidentStatus.Halted, "the rollout is paused until someone resumes or aborts it"));
            }
            await stored;
        }
        await _outbox.FlushAsync();
        return effect;
    }

    /// <summary>Whether the cohort through the touched waves has a node in any of the target's PoPs or regions' PoPs.</summary>
    private async Task<bool> Touches(AlarmTarget target)
    {
        var through = Status.TouchedThrough;
        if (through < 0)
        {
            return false;
        }
        var fleet = await GrainFactory.GetGrain<IFleetGrain>(IFleetGrain.Key).Summary();
        var pops = fleet.Pops.Where(p => target.Pops.Contains(p.Pop) || target.Regions.Contains(p.Region)).Select(p => p.Pop).ToList();
        if (pops.Count == 0)
        {
            return false;
        }
        var order = OrderFor(through);
        var seen = await Task.WhenAll(pops.Select(pop => GrainFactory.GetGrain<IPopFanOutGrain>(pop).ObserveWave(order)));
        return seen.Any(e => e.Cohort > 0);
    }

    /// <summary>
    /// A person's command: the status it returns and its audit intent are made together and stored together before
    /// the caller hears back. A stop (abort) sends nodes back before that write; the others act after it.
    /// </summary>
    private async Task<RolloutView> Command(string actor, string action, string? reason, Func<Freeze?, CommandResult> command, bool needsFreeze = false)
    {
        if (state.State.Status is null)
        {
            throw SnapstoneException.NotFound($"rollout '{Id}' does not exist");
        }
        var freeze = needsFreeze && !Spec.BreakGlass ? await GrainFactory.GetGrain<IControlGrain>(IControlGrain.Key).FreezeOf(Spec.Unit) : null;
        var result = command(freeze);
        if (result.Refusal is { } refusal)
        {
            throw new SnapstoneException(refusal.Kind, refusal.Message);
        }
        await _outbox.ArmAsync();
        var before = Status;
        Status = result.Status;
        var intent = _outbox.Add(actor, action, $"rollout/{Id}", reason);
        if (Status.State == RolloutState.RollingBack)
        {
            var stored = _writer.WriteDurablyAsync();
            await Publish(before);
            await RunTicks();
            await stored;
        }
        else
        {
            try
            {
                await _writer.WriteAsync();
            }
            catch
            {
                // Not stored: neither the change nor its entry stands, unless a write since has carried both.
                if (ReferenceEquals(Status, result.Status) && _stored < _version)
                {
                    Status = before;
                    _outbox.Remove(intent);
                }
                throw;
            }
            await Publish(before);
            await RunTicks();
        }
        await _outbox.FlushAsync();
        return View();
    }

    /// <summary>Ticks until nothing follows at once; one run at a time (a signal that finds a run going leaves the rest to it).</summary>
    private async Task RunTicks()
    {
        if (_ticking)
        {
            return;
        }
        _ticking = true;
        try
        {
            for (var i = 0; i < MaxTicksPerRun && await Tick(); i++)
            {
            }
        }
        finally
        {
            _ticking = false;
        }
    }

    /// <summary>A signal arrived: roll back now if it calls for it, even while a tick waits on storage; else tick.</summary>
    private async Task Urgently()
    {
        if (_rollingBack is { IsCompleted: false } running)
        {
            await running;
            return;
        }
        var decision = RolloutPolicy.Decide(Spec, Status, RolloutConditions.Unknown, null, time.GetUtcNow(), Settings);
        if (decision is RolloutDecision.Rollback rollback)
        {
            await RollBack(Status, rollback);
        }
        else
        {
            await RunTicks();
        }
    }

    /// <summary>One decision. True when the next step can follow at once (a wave passed, a pause ended, or a rollback went out).</summary>
    private async Task<bool> Tick()
    {
        if (state.State.Status is not { IsTerminal: false })
        {
            return false;
        }
        var conditions = await Conditions();
        var from = Status;
        var now = time.GetUtcNow();
        var lookedAt = _look?.Wave == from.CurrentWave ? _look.At : (DateTimeOffset?)null;
        var decision = RolloutPolicy.Decide(Spec, from, conditions, null, now, Settings, lookedAt);
        if (decision is RolloutDecision.Observe observe)
        {
            var seen = await Observe(observe.Wave);
            if (!ReferenceEquals(Status, from))
            {
                return true;
            }
            decision = RolloutPolicy.Decide(Spec, from, conditions, seen, now, Settings, lookedAt);
        }
        switch (decision)
        {
            case RolloutDecision.Rollback rollback:
                return await RollBack(from, rollback);

            case RolloutDecision.Wait:
                if (decision.Changed)
                {
                    // Counts only, no transition: stored with the next write, never waited on.
                    Status = decision.Status;
                    _writer.WriteBehind();
                    await Publish(from);
                }
                return false;

            case RolloutDecision.Assign assign:
                var opening = Stopwatch.GetTimestamp();
                if (!await Stored(from, decision.Status))
                {
                    return true;
                }
                var telling = Stopwatch.GetTimestamp();
                var assigned = await FanOut(assign.Wave, (pop, order) => pop.AssignWave(order));
                logger.LogInformation("Rollout {Rollout} of {Unit}: wave {Wave} told {Cohort} node(s) through {Pops} PoP(s) in {FanOutMs:0} ms (its opening stored in {StoredMs:0} ms)",
                    Id, Spec.Unit, assign.Wave, assigned.Sum(c => c.Cohort), assigned.Length, Stopwatch.GetElapsedTime(telling).TotalMilliseconds,
                    Stopwatch.GetElapsedTime(opening, telling).TotalMilliseconds);
                var recorded = Status.WaveAssigned(assign.Wave, assigned.Sum(c => c.Cohort), time.GetUtcNow());
                if (!ReferenceEquals(Status, decision.Status))
                {
                    // Something changed it while the nodes were told (a signal, a rollback): the count stands all the
                    // same, so the wave is not fanned out again and a wave stopped meanwhile says how many it reached.
                    if (!ReferenceEquals(recorded, Status))
                    {
                        var changed = Status;
                        Status = recorded;
                        _writer.WriteBehind();
                        await Publish(changed);
                    }
                    return true;
                }
                await Stored(Status, recorded);
                // Nodes learn at their next report: looking before the next tick would find nothing applied.
                return false;

            case RolloutDecision.Advance or RolloutDecision.Resume:
                return await Stored(from, decision.Status);

            case RolloutDecision.Complete:
                if (await Stored(from, decision.Status))
                {
                    await StopTicking();
                }
                return false;

            case RolloutDecision.FinishRollback finish:
                if (await Stored(from, decision.Status))
                {
                    await StopTicking();
                    if (finish.Outcome == RolloutState.RolledBack && state.State.Incident is { } incident)
                    {
                        _ = _incidents.Update(incident, IncidentStatus.RolledBack, $"all {Status.Rollback?.Confirmed} node(s) confirmed v{Spec.PreviousVersion}; v{Spec.Version} is quarantined");
                        _ = _incidents.Update(incident, IncidentStatus.Monitoring, "watching the fleet on the last known good package");
                    }
                }
                return false;

            case RolloutDecision.Pause pause:
                if (await Stored(from, decision.Status))
                {
                    OpenIncident($"Rollout {Spec.Id} of {Spec.Unit} v{Spec.Version} halted", Status.Waves.Sum(w => w.Applied),
                        (IncidentStatus.Detected, pause.Reason.Describe()),
                        (IncidentStatus.Halted, pause.Reason is PauseReason.Frozen
                            ? "the rollout is paused until the freeze ends"
                            : "the rollout is paused until someone resumes or aborts it"));
                }
                return false;

            default:
                if (decision.Changed)
                {
                    await Stored(from, decision.Status);
                }
                return false;
        }
    }

    /// <summary>
    /// Makes <paramref name="next"/> the status, if nothing changed it since <paramref name="from"/>, and waits until it
    /// is stored. True when it is stored and still current: the forward step it orders may go ahead.
    /// </summary>
    private async Task<bool> Stored(RolloutStatus from, RolloutStatus next)
    {
        if (!ReferenceEquals(Status, from))
        {
            return false;
        }
        Status = next;
        var version = _version;
        if (_stored < version)
        {
            await _writer.WriteAsync();
        }
        await Publish(from);
        return ReferenceEquals(Status, next);
    }

    /// <summary>
    /// Sends every touched node back at once and stores the decision as soon as storage answers: the PoPs tell their
    /// nodes from memory, then store their ledgers; the unit quarantines the version meanwhile. The rollback counts as
    /// assigned only once every ledger and the quarantine are stored, so a crash before that sends everyone back again.
    /// </summary>
    private Task<bool> RollBack(RolloutStatus from, RolloutDecision.Rollback rollback)
    {
        if (_rollingBack is { IsCompleted: false } running)
        {
            return running;
        }
        if (!ReferenceEquals(Status, from))
        {
            return Task.FromResult(true);
        }
        return _rollingBack = SendBack(from, rollback);
    }

    private async Task<bool> SendBack(RolloutStatus from, RolloutDecision.Rollback rollback)
    {
        Status = rollback.Status;
        var stored = _writer.WriteDurablyAsync();
        var aborted = Status.Rollback is { Aborted: true };
        var fanOut = FanOut(rollback.ThroughWave, (pop, order) => pop.RollBack(order));
        var quarantine = aborted ? Task.CompletedTask : GrainFactory.GetGrain<IUnitRolloutsGrain>(Spec.Unit).Quarantine(Spec.Version, $"rolled back by {Spec.Id}: {rollback.Reason}");
        await Publish(from);
        if (!aborted)
        {
            var through = Math.Clamp(rollback.ThroughWave, 0, Spec.Plan.Waves.Count - 1);
            var wave = Spec.Plan.Waves[through].Name;
            // Sized by the cohort told to run the package (waves are cumulative): the blast radius it could have had.
            OpenIncident($"Rollout {Spec.Id} of {Spec.Unit} v{Spec.Version} rolled back", Status.Waves[through].Targeted,
                (IncidentStatus.Detected, rollback.Reason),
                (IncidentStatus.Halted, $"rollout halted at wave '{wave}'"),
                (IncidentStatus.RollingBack, $"the touched nodes are told to return to {(Spec.PreviousVersion is { } v ? $"v{v}" : "no package")}"));
        }
        await Task.WhenAll(fanOut, quarantine);
        var returned = await fanOut;
        await stored;
        var assigned = Status.RollbackAssigned(returned.Sum(c => c.Returned), returned.Sum(c => c.Ran), time.GetUtcNow());
        if (!ReferenceEquals(assigned, Status))
        {
            var before = Status;
            Status = assigned;
            await Publish(before);
            await _writer.WriteDurablyAsync();
        }
        return true;
    }

    /// <summary>The freezes that apply to the unit now, asked each tick; an emergency deploy heeds none.</summary>
    private async Task<RolloutConditions> Conditions()
    {
        if (Spec.BreakGlass)
        {
            return RolloutConditions.None;
        }
        try
        {
            var freeze = await GrainFactory.GetGrain<IControlGrain>(IControlGrain.Key).FreezeOf(Spec.Unit).WaitAsync(ConditionsWait);
            return RolloutConditions.Of(freeze is null ? [] : [freeze]);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            logger.LogWarning("Rollout {Rollout}: freezes unknown ({Error}); taking no forward step", Id, e.Message);
            return RolloutConditions.Unknown;
        }
    }

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
        var gates = Spec.Plan.Waves[wave].Gates;
        NodeSample[] cohort = [.. counts.SelectMany(c => c.CohortSamples)];
        NodeSample[] control = [.. counts.SelectMany(c => c.ControlSamples)];
        var evidence = new Domain.Health.WaveEvidence
        {
            Unit = Spec.Unit,
            Wave = wave,
            Targeted = targeted,
            Cohort = cohort,
            Control = control,
            Metrics = Readings(wave, gates, cohort, control),
            History = _look?.Wave == wave ? _look.Carry : null,
            At = time.GetUtcNow(),
            WaveStarted = Status.Waves.Count > wave ? Status.Waves[wave].StartedAt : null,
        };
        var judgement = HealthPolicy.Look(evidence, gates);
        _look = new Look(wave, evidence.At.Value, judgement.Carry);
        var verdict = judgement.Verdict;
        RecordEvidence(evidence, verdict);
        return new WaveObservation
        {
            Wave = wave,
            Targeted = targeted,
            Applied = counts.Sum(c => c.Applied),
            Rejected = counts.Sum(c => c.Rejected),
            Verdict = verdict,
            Unconverged = FirstNamed(counts.Select(c => c.Unconverged)),
            Breaches = HealthPolicy.WeighBreaches(Status.Signals, cohort, control, gates),
        };
    }

    /// <summary>
    /// The wave's metric gates' latest readings from Prometheus (none when it has none), split into the cohort nodes that
    /// run the package and the control nodes on the previous one. The query runs beside the grain, never inside its
    /// turn: a look takes the last reading that came back for this wave and starts the next query, so a slow or dead
    /// Prometheus (each query bounded by the configured timeout) holds up no command, signal or rollback. A look before
    /// the bake ends takes a reading at most <see cref="MaxReadingAge"/> old; the looks that may pass the wave, once its
    /// bake is over, only one whose query started after the bake ended. Without one the gates have no reading, which the
    /// judge holds unsure: the wave waits a tick, and never passes on figures from before its bake was over.
    /// </summary>
    private IReadOnlyList<MetricReading> Readings(int wave, Domain.Plans.Gates gates, NodeSample[] cohort, NodeSample[] control)
    {
        if (gates.Metrics.Count == 0)
        {
            return [];
        }
        var now = time.GetUtcNow();
        if (_reading is { } done && (done.Wave != wave || done.Task.IsCompleted))
        {
            if (done.Wave == wave && done.Task.IsCompletedSuccessfully)
            {
                _lastReading = (wave, done.Started, done.Task.Result);
            }
            _reading = null;
        }
        if (_reading is null)
        {
            var cohortNodes = cohort.Where(s => s.Reported && !s.Rejected).Select(s => s.NodeId).ToHashSet(StringComparer.Ordinal);
            var controlNodes = control.Select(s => s.NodeId).ToHashSet(StringComparer.Ordinal);
            _reading = (wave, now, Task.Run(() => prometheus.ReadAsync(gates.Metrics, cohortNodes, controlNodes)));
        }
        var bakeOver = Status.Waves[wave] is { State: WaveState.Baking, BakeUntil: { } until } && now >= until ? until : (DateTimeOffset?)null;
        var notBefore = bakeOver ?? now - MaxReadingAge;
        if (_lastReading is not { } last || last.Wave != wave)
        {
            return [.. gates.Metrics.Select(g => new MetricReading { Gate = g.Name, Error = "the first query of this wave has not answered yet" })];
        }
        if (last.Started >= notBefore)
        {
            return last.Readings;
        }
        // Too old to pass on, or to judge the bake's end by: a failure it reported still shows, a value does not.
        var why = bakeOver is { } over
            ? $"the last answer was asked for at {last.Started:HH:mm:ss}, before the bake ended at {over:HH:mm:ss}; waiting for a later one"
            : $"the last answer is {(now - last.Started).TotalSeconds:0} s old (more than {MaxReadingAge.TotalSeconds:0} s)";
        return [.. last.Readings.Select(r => r.Error is null ? new MetricReading { Gate = r.Gate, Error = why, At = r.At } : r)];
    }

    /// <summary>The oldest reading a look before the end of the bake still judges by: two query timeouts, at least 10 s.</summary>
    private TimeSpan MaxReadingAge => TimeSpan.FromSeconds(Math.Max(10, 2 * prometheus.Timeout.TotalSeconds));

    /// <summary>The first few nodes the PoPs named as not running what they should, over all of them.</summary>
    private static IReadOnlyList<string> FirstNamed(IEnumerable<IReadOnlyList<string>> named) =>
        [.. named.SelectMany(n => n).Order(StringComparer.Ordinal).Take(WaveObservation.MaxNamed)];

    /// <summary>Rollout → every PoP at once → each PoP's nodes at once: a wave of any size is a two-level tree.</summary>
    private async Task<T[]> FanOut<T>(int wave, Func<IPopFanOutGrain, WaveOrder, Task<T>> call)
    {
        var pops = await GrainFactory.GetGrain<IFleetGrain>(IFleetGrain.Key).Pops();
        var order = OrderFor(wave) with { ControlSamples = Domain.Health.ControlBudget.PerPop(pops.Count) };
        return await Task.WhenAll(pops.Select(pop => call(GrainFactory.GetGrain<IPopFanOutGrain>(pop), order)));
    }

    /// <summary>The order every PoP gets for <paramref name="wave"/> of this rollout.</summary>
    private WaveOrder OrderFor(int wave) => new()
    {
        Rollout = Spec.Id,
        Unit = Spec.Unit,
        Package = new DesiredPackage(Spec.Version, Spec.Sha256),
        Previous = Spec.PreviousVersion is { } previous ? new DesiredPackage(previous, Spec.PreviousSha256!) : null,
        Plan = Spec.Plan,
        Wave = wave,
        Targets = state.State.Targets ?? new UnitTargets(new Dictionary<string, string>()),
        Salt = Spec.Salt,
        Created = Spec.CreatedAt,
    };

    /// <summary>Counts what the writer stores, so a forward step can tell whether the status that orders it is stored.</summary>
    private async Task WriteAsync()
    {
        var version = _version;
        var status = state.State.Status;
        await state.WriteStateAsync();
        _stored = Math.Max(_stored, version);
        if (status is not null)
        {
            _journal.Stored(status);
        }
    }

    /// <summary>
    /// Makes the current status what readers see: logs its newest timeline entry, tells the unit of a new state (a
    /// terminal one before anyone else sees it, as the unit moves its LKG then) and wakes watchers.
    /// </summary>
    private async Task Publish(RolloutStatus? previous)
    {
        var next = Status;
        if (ReferenceEquals(next, _published) && previous is not null)
        {
            return;
        }
        Telemetry.RolloutMetrics.Saved(Spec, previous, next);
        if (next.Timeline.Count > 0 && next.Timeline[^1] is { } entry && (previous is null || previous.Timeline.Count == 0 || previous.Timeline[^1] != entry))
        {
            logger.LogInformation("Rollout {Rollout} of {Unit} v{Version}: {Type}: {Message}", Spec.Id, Spec.Unit, Spec.Version, entry.Type, entry.Message);
            Notify(next);
        }
        if (previous?.State != next.State)
        {
            var announce = GrainFactory.GetGrain<IUnitRolloutsGrain>(Spec.Unit).RolloutChanged(View().Summary());
            if (next.IsTerminal)
            {
                await announce;
            }
            else
            {
                _ = announce.ContinueWith(t => logger.LogWarning(t.Exception!.GetBaseException(), "Rollout {Rollout}: unit {Unit} not told of {State} yet; the next change tells it",
                    Id, Spec.Unit, next.State), CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Current);
            }
        }
        if (_timer is not null && !next.IsTerminal)
        {
            WatchRollback();
        }
        _published = Status;
        var changed = _changed;
        _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        changed.TrySetResult();
    }

    /// <summary>Tells notifications of the newest timeline entry, one-way: a rollback never waits on a notification.</summary>
    private void Notify(RolloutStatus status)
    {
        if (status.Timeline.Count > 0 && NotificationEvents.OfRollout(Spec, status, status.Timeline[^1]) is { } notice)
        {
            GrainFactory.GetGrain<INotificationPublisherGrain>(INotificationRegistryGrain.Key).Publish(notice).Ignore();
        }
    }

    /// <summary>Opens this rollout's incident (in the background), sized by how many nodes took the package; a second call adds updates.</summary>
    private void OpenIncident(string title, int affected, params (IncidentStatus Status, string Message)[] updates)
    {
        if (state.State.Incident is { } existing)
        {
            foreach (var (status, message) in updates.Skip(1))
            {
                _ = _incidents.Update(existing, status, message);
            }
            return;
        }
        var id = "inc-" + Spec.Id[2..];
        state.State.Incident = id;
        _writer.WriteBehind();
        _ = OpenLater(id, title, affected, updates, time.GetUtcNow());
    }

    private async Task OpenLater(string id, string title, int affected, (IncidentStatus Status, string Message)[] updates, DateTimeOffset now)
    {
        var fleet = 0;
        try
        {
            fleet = (await GrainFactory.GetGrain<IFleetGrain>(IFleetGrain.Key).Summary().WaitAsync(TimeSpan.FromSeconds(5))).Nodes;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            logger.LogInformation("Rollout {Rollout}: fleet size unknown for the incident's severity: {Error}", Id, e.Message);
        }
        var incident = IncidentRules.Open(id, title, IncidentRules.SeverityOf(affected, fleet), [Spec.Unit], Spec.Id, updates[0].Status, updates[0].Message, "snapstone", now);
        foreach (var (status, message) in updates.Skip(1))
        {
            incident = incident.With(status, message, "snapstone", now);
        }
        _ = _incidents.Open(incident);
    }

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
