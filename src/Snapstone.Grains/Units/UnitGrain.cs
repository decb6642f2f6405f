using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Snapstone.Domain;
using Snapstone.Domain.Audit;
using Snapstone.Domain.BreakGlass;
using Snapstone.Domain.Packages;
using Snapstone.Domain.Plans;
using Snapstone.Domain.Rollouts;
using Snapstone.Domain.Units;
using Snapstone.Grains.Audit;
using Snapstone.Grains.Storage;

namespace Snapstone.Grains.Units;

[GenerateSerializer, Alias("snapstone.UnitState")]
public sealed class UnitState
{
    [Id(0)] public UnitDefinition? Definition { get; set; }
    [Id(1)] public DateTimeOffset CreatedAt { get; set; }
    [Id(2)] public DateTimeOffset UpdatedAt { get; set; }
    [Id(3)] public string UpdatedBy { get; set; } = "";
    [Id(4)] public long LatestVersion { get; set; }
    [Id(5)] public long? LkgVersion { get; set; }
    [Id(6)] public string? LkgSha256 { get; set; }
    [Id(7)] public ContentShape? LkgShape { get; set; }
    [Id(8)] public List<long> Quarantined { get; set; } = [];
    [Id(9)] public string? ActiveRollout { get; set; }
    /// <summary>Keys seen in any package, capped at <see cref="UnitGrain.MaxKnownKeys"/>.</summary>
    [Id(10)] public HashSet<string> KnownKeys { get; set; } = [];
    [Id(11)] public List<DateTimeOffset> Rollbacks { get; set; } = [];
    /// <summary>The newest rollouts of the unit, newest first, at most <see cref="UnitGrain.MaxHistory"/>.</summary>
    [Id(12)] public List<RolloutSummary> History { get; set; } = [];
    /// <summary>Whether any package of the unit went out through break-glass.</summary>
    [Id(13)] public bool BreakGlassUsed { get; set; }
    /// <summary>Audit intents of the unit's changes, stored with the change they describe.</summary>
    [Id(14)] public List<AuditIntent> Outbox { get; set; } = [];
    /// <summary>A rollout reserved and recorded but not yet confirmed started: finished when the unit next wakes.</summary>
    [Id(15)] public RolloutLaunch? Starting { get; set; }
    /// <summary>The versions that were the LKG, oldest first (at most <see cref="UnitGrain.MaxLineage"/>): what a revert returns to.</summary>
    [Id(16)] public List<PackageRef> Lineage { get; set; } = [];
    /// <summary>The last break-glass rollback the unit decided, so the same action asking again gets the same answer.</summary>
    [Id(17)] public string? LastBreakGlass { get; set; }
    [Id(18)] public BreakGlassReturn? LastReturn { get; set; }
    /// <summary>A redefinition that weakens the unit, waiting for a second person's approval.</summary>
    [Id(19)] public PendingDefinition? PendingDefinition { get; set; }
}

/// <summary>What the unit needs to start a rollout it reserved: the spec and who consumes the unit.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.RolloutLaunch")]
public sealed record RolloutLaunch([property: Id(0)] RolloutSpec Spec, [property: Id(1)] Domain.Units.UnitTargets Targets);

/// <summary>
/// One unit: its definition, package index, LKG, quarantine list and active rollout. Every change it makes carries
/// its audit intent in the same write (<see cref="AuditOutbox"/>). Writes go through one <see cref="StateWriter"/>:
/// a rollout the unit starts may call back into it (call-chain reentrancy) while it waits.
/// </summary>
public sealed class UnitGrain : Grain, IUnitRolloutsGrain, IRemindable
{
    internal const int MaxKnownKeys = 2000;
    internal const int MaxHistory = 50;
    internal const int MaxLineage = 20;

    private readonly IPersistentState<UnitState> state;
    private readonly IPackageStore store;
    private readonly TimeProvider time;
    private readonly ILogger<UnitGrain> logger;
    private readonly StateWriter _writer;
    private readonly AuditOutbox _outbox;

    public UnitGrain(
        [PersistentState("unit", StorageNames.Grains)] IPersistentState<UnitState> state,
        IPackageStore store,
        IGrainFactory grains,
        TimeProvider time,
        ILogger<UnitGrain> logger)
    {
        this.state = state;
        this.store = store;
        this.time = time;
        this.logger = logger;
        _writer = new StateWriter(state.WriteStateAsync, logger, () => $"unit {Name}", () => this.DeactivateOnIdle());
        _outbox = new AuditOutbox(this, grains, () => state.State.Outbox, time, logger);
    }

    private string Name => this.GetPrimaryKeyString();

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _outbox.ResumeIfPending();
        if (state.State.Starting is not null)
        {
            // A start recorded before a crash: finish it once the activation is done.
            this.RegisterGrainTimer(_ => Wake(), new GrainTimerCreationOptions(TimeSpan.Zero, Timeout.InfiniteTimeSpan) { Interleave = false });
        }
        return Task.CompletedTask;
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        await FinishStart();
        await _outbox.ReceiveReminderAsync();
    }

    /// <summary>Finishes whatever the unit left half-done: a recorded start, unappended audit entries.</summary>
    public async Task Wake()
    {
        await FinishStart();
        await _outbox.FlushAsync();
    }

    /// <summary>
    /// Defines or redefines the unit. A redefinition that weakens it (<see cref="DefinitionChange.Weakens"/>: a lower
    /// risk tier or failure-mode severity, a validator removed or loosened) does not take effect: it waits on the unit
    /// as its pending change until another token approves it (<see cref="ApproveDefinition"/>). A later definition
    /// replaces a pending one.
    /// </summary>
    public async Task<UnitView> Define(UnitDefinition definition, string actor)
    {
        if (UnitRules.Check(definition) is { Count: > 0 } errors)
        {
            throw SnapstoneException.Invalid(errors);
        }
        if (BuiltInPlans.Find(definition.Plan) is null && await GrainFactory.GetGrain<IPlanGrain>(definition.Plan).Get() is null)
        {
            throw SnapstoneException.Invalid($"plan '{definition.Plan}' is not defined (built-in plans: {BuiltInPlans.StandardName}, {BuiltInPlans.HighRiskName}; define others with PUT /v1/plans/{definition.Plan})");
        }
        var now = time.GetUtcNow();
        await _outbox.ArmAsync();
        if (state.State.Definition is { } current && DefinitionChange.Weakens(current, definition) is { Count: > 0 } weakens)
        {
            state.State.PendingDefinition = new PendingDefinition { Definition = definition, RequestedBy = actor, RequestedAt = now, Weakens = weakens };
            _outbox.Add(actor, "unit.define-requested", $"unit/{Name}", $"needs a second person's approval: {string.Join("; ", weakens)}");
            await _writer.WriteAsync();
            logger.LogInformation("Unit {Unit}: redefinition by {Actor} waits for approval: {Weakens}", Name, actor, string.Join("; ", weakens));
            await _outbox.FlushAsync();
            return View();
        }
        await Apply(definition, actor, now, "unit.define", definition.Description);
        return View();
    }

    /// <summary>A second person approves the pending redefinition; its requester may not (403). 409 when nothing is pending.</summary>
    public async Task<UnitView> ApproveDefinition(string actor, string? reason)
    {
        RequireDefinition();
        if (TextLimits.TooLong("reason", reason, RolloutCommands.MaxReasonBytes) is { } tooLong)
        {
            throw SnapstoneException.Invalid(tooLong);
        }
        if (state.State.PendingDefinition is not { } pending)
        {
            throw SnapstoneException.Conflict($"unit '{Name}' has no pending definition change to approve");
        }
        if (string.Equals(actor, pending.RequestedBy, StringComparison.OrdinalIgnoreCase))
        {
            throw new SnapstoneException(ProblemKind.Forbidden, $"{actor} requested this change and may not approve it; someone else must");
        }
        await _outbox.ArmAsync();
        await Apply(pending.Definition, pending.RequestedBy, time.GetUtcNow(), "unit.define-approve",
            $"approved {pending.RequestedBy}'s change ({string.Join("; ", pending.Weakens)}){(string.IsNullOrWhiteSpace(reason) ? "" : $": {reason}")}", approver: actor);
        return View();
    }

    private async Task Apply(UnitDefinition definition, string by, DateTimeOffset now, string action, string reason, string? approver = null)
    {
        var created = state.State.Definition is null;
        state.State.Definition = definition;
        state.State.PendingDefinition = null;
        if (created)
        {
            state.State.CreatedAt = now;
        }
        state.State.UpdatedAt = now;
        state.State.UpdatedBy = by;
        _outbox.Add(approver ?? by, action, $"unit/{Name}", reason);
        await _writer.WriteAsync();
        await PublishToCatalog();
        logger.LogInformation("Unit {Unit} {Change} by {Actor}{Approver}", Name, created ? "defined" : "redefined", by, approver is null ? "" : $", approved by {approver}");
        await _outbox.FlushAsync();
    }

    public Task<UnitView?> Get() => Task.FromResult(state.State.Definition is null ? null : View());

    public async Task<PackageView> CreatePackage(PackageDraft draft, string actor)
    {
        var definition = RequireDefinition();
        var (record, assessment) = Assess(draft, definition, actor, state.State.LatestVersion + 1, await FleetShare(definition));

        await store.PutContentAsync(Name, record.Sha256, draft.Content);
        await store.PutRecordAsync(record);

        await _outbox.ArmAsync();
        state.State.LatestVersion = record.Version;
        var passed = assessment.Validation.Passed;
        _outbox.Add(actor, passed ? "package.create" : "package.reject", $"unit/{Name}/v{record.Version}", draft.Message);
        // A package reaches nodes only through a rollout, the unit's first included: until one completes, the unit has no
        // LKG and its consumers have no desired package for it (agents keep their built-in default).
        if (passed)
        {
            foreach (var key in assessment.Shape.Keys)
            {
                if (state.State.KnownKeys.Count >= MaxKnownKeys) break;
                state.State.KnownKeys.Add(key);
            }
        }
        await _writer.WriteAsync();
        await PublishToCatalog();
        logger.LogInformation("Unit {Unit} package {Version} ({Sha256}, {Size} bytes) created by {Actor}: {Outcome}, risk {Risk} {Score}",
            Name, record.Version, record.Sha256, record.SizeBytes, actor, passed ? "passed" : "rejected", record.Risk.Level, record.Risk.Score);
        await _outbox.FlushAsync();
        return ViewOf(record);
    }

    public async Task<PackageView> ValidatePackage(PackageDraft draft, string actor)
    {
        var definition = RequireDefinition();
        var (record, _) = Assess(draft, definition, actor, version: 0, await FleetShare(definition));
        return ViewOf(record);
    }

    public async Task<PipelineView?> Pipeline()
    {
        if (state.State.Definition is not { } definition)
        {
            return null;
        }
        var share = await FleetShare(definition);
        var latest = state.State.LatestVersion > 0 ? await store.GetRecordAsync(Name, state.State.LatestVersion) : null;
        return new PipelineView
        {
            Unit = View(),
            Risk = Domain.Risk.RiskAssessor.Assess(new Domain.Risk.RiskInput { Unit = definition, FleetShare = share, RollbacksLast30Days = RecentRollbacks() }),
            LatestPackageRisk = latest?.Risk,
            LastRollouts = [.. state.State.History.Take(5)],
            BreakGlassUsed = state.State.BreakGlassUsed,
            FleetShare = share,
        };
    }

    private Task<double?> FleetShare(UnitDefinition definition) =>
        GrainFactory.GetGrain<IFleetGrain>(IFleetGrain.Key).ConsumerShare(definition.Targets);

    private int RecentRollbacks() => state.State.Rollbacks.Count(at => at > time.GetUtcNow().AddDays(-30));

    public async Task<PackageView?> GetPackage(long version)
    {
        if (state.State.Definition is null || version < 1 || version > state.State.LatestVersion)
        {
            return null;
        }
        var record = await store.GetRecordAsync(Name, version);
        return record is null ? null : ViewOf(record);
    }

    public async Task<IReadOnlyList<PackageView>> ListPackages(long? before, int limit)
    {
        var top = Math.Min(before is { } b ? b - 1 : state.State.LatestVersion, state.State.LatestVersion);
        var versions = new List<long>();
        for (var v = top; v >= 1 && versions.Count < limit; v--)
        {
            versions.Add(v);
        }
        var records = await Task.WhenAll(versions.Select(v => store.GetRecordAsync(Name, v)));
        return [.. records.OfType<PackageRecord>().Select(ViewOf)];
    }

    public async Task<RolloutStart> StartRollout(RolloutRequest request, string actor)
    {
        if (request.Problems() is { Count: > 0 } problems)
        {
            throw SnapstoneException.Invalid(problems);
        }
        if (request.Unit != Name)
        {
            throw SnapstoneException.Invalid($"unit '{request.Unit}' in the request does not match the unit '{Name}' asked");
        }
        var definition = RequireDefinition();
        await FinishStart();
        var id = RolloutId(actor, request.IdempotencyKey);
        if (request.IdempotencyKey is { } key && await GrainFactory.GetGrain<IRolloutGrain>(id).Get() is { } earlier)
        {
            return request.AskedFor(earlier.Spec)
                ? new RolloutStart(earlier, Created: false)
                : throw new SnapstoneException(ProblemKind.Unprocessable,
                    $"Idempotency-Key '{Shorten(key)}' was already used for rollout {id} of {earlier.Spec.Unit} v{earlier.Spec.Version}" +
                    $"{(earlier.Spec.RequestedPlan is { } p ? $" on plan '{p}'" : "")} with reason '{Shorten(earlier.Spec.Reason)}'; a different request needs a different key");
        }
        if (await GrainFactory.GetGrain<IControlGrain>(IControlGrain.Key).FreezeOf(Name) is { } freeze)
        {
            throw SnapstoneException.Conflict($"{freeze.Describe()}; new rollouts are refused until it is lifted");
        }
        var asked = request.Plan ?? definition.Plan;
        if (asked == BuiltInPlans.EmergencyName)
        {
            throw new SnapstoneException(ProblemKind.Unprocessable,
                $"plan '{BuiltInPlans.EmergencyName}' is for break-glass only (POST /v1/breakglass/deploy, with the breakglass scope); name another plan");
        }
        var askedPlan = BuiltInPlans.Find(asked) ?? (await GrainFactory.GetGrain<IPlanGrain>(asked).Get())?.Plan
            ?? throw SnapstoneException.NotFound($"plan '{asked}' is not defined");
        var (record, previous) = await Reservable(id, request.Version, breakGlass: false);
        // A high-risk change never rolls out on a plan laxer than high-risk, whatever the unit or request names.
        var (plan, planName, note) = PlanFloor.Apply(askedPlan, asked, record.Risk.Level == Domain.Risk.RiskLevel.High, record.Risk.Reasons);
        var spec = new RolloutSpec
        {
            Id = id,
            Unit = Name,
            Version = record.Version,
            Sha256 = record.Sha256,
            PreviousVersion = previous?.Version,
            PreviousSha256 = previous?.Sha256,
            Plan = plan,
            PlanName = planName,
            RequestedPlan = request.Plan,
            Reason = request.Reason,
            CreatedBy = actor,
            PackageAuthor = record.Author,
            Notes = note is null ? [] : [note],
        };
        var started = await Launch(new RolloutLaunch(spec, definition.Targets), actor, "rollout.start", $"rollout/{id}",
            $"{Name} v{record.Version} on {planName}: {request.Reason}");
        return new RolloutStart(started, Created: true);
    }

    /// <summary>
    /// Records the launch (the reservation, the spec and the audit intent, in one write), starts the rollout, and
    /// clears the launch. A crash between the write and the start is finished by <see cref="FinishStart"/>; a rollout
    /// id already taken by another request undoes the reservation and its intent.
    /// </summary>
    private async Task<RolloutView> Launch(RolloutLaunch launch, string actor, string action, string target, string reason, bool breakGlass = false)
    {
        await _outbox.ArmAsync();
        state.State.ActiveRollout = launch.Spec.Id;
        state.State.BreakGlassUsed |= breakGlass;
        state.State.Starting = launch;
        var intent = _outbox.Add(actor, action, target, reason);
        await _writer.WriteAsync();
        RolloutView started;
        try
        {
            started = await StartReentrant(launch);
        }
        catch (SnapstoneException e) when (e.Kind == ProblemKind.Unprocessable)
        {
            // The id belongs to another request's rollout (one idempotency key used for two units at once): nothing started.
            if (state.State.ActiveRollout == launch.Spec.Id)
            {
                state.State.ActiveRollout = null;
            }
            state.State.Starting = null;
            _outbox.Remove(intent);
            await _writer.WriteAsync();
            throw;
        }
        state.State.Starting = null;
        _writer.WriteBehind();
        await _outbox.FlushAsync();
        return started;
    }

    /// <summary>Starts the recorded launch, if any, unless its rollout is stored already.</summary>
    private async Task FinishStart()
    {
        if (state.State.Starting is not { } launch)
        {
            return;
        }
        try
        {
            // A rollout that is stored has started (its Start timed out for the caller, or a restart came after it): asking
            // it to start again would wait behind its ticks, and a tick that ends it waits for this grain (RolloutChanged).
            if (await GrainFactory.GetGrain<IRolloutGrain>(launch.Spec.Id).Get() is not { } started ||
                started.Spec.Unit != Name || started.Spec.Version != launch.Spec.Version)
            {
                await StartReentrant(launch);
                logger.LogInformation("Unit {Unit}: finished starting rollout {Rollout} recorded before a restart", Name, launch.Spec.Id);
            }
        }
        catch (SnapstoneException e)
        {
            logger.LogWarning("Unit {Unit}: recorded rollout {Rollout} cannot start: {Reason}", Name, launch.Spec.Id, e.Message);
            if (state.State.ActiveRollout == launch.Spec.Id)
            {
                state.State.ActiveRollout = null;
            }
        }
        state.State.Starting = null;
        await _writer.WriteAsync();
    }

    /// <summary>The rollout tells the unit of its first state while the unit waits for it: let that call in.</summary>
    private async Task<RolloutView> StartReentrant(RolloutLaunch launch)
    {
        using var _ = RequestContext.AllowCallChainReentrancy();
        return await GrainFactory.GetGrain<IRolloutRunnerGrain>(launch.Spec.Id).Start(launch.Spec, launch.Targets);
    }

    /// <summary>A fresh id, or one derived from the actor and idempotency key so that a retry finds its rollout.</summary>
    private static string RolloutId(string actor, string? key) =>
        "r-" + (key is null
            ? Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8))
            : Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{actor}\n{key}")))[..16]);

    private static string Shorten(string text) => text.Length > 80 ? text[..80] + "…" : text;

    /// <summary>
    /// The package to roll out and the one to return to, refusing (409) a rejected, quarantined (unless
    /// <paramref name="breakGlass"/>) or current-LKG version and a second concurrent rollout.
    /// </summary>
    private async Task<(PackageRecord Record, DesiredPackage? Previous)> Reservable(string rollout, long version, bool breakGlass)
    {
        if (state.State.ActiveRollout is { } active && active != rollout && await StillActive(active))
        {
            throw SnapstoneException.Conflict($"unit '{Name}' already has an active rollout {active}; wait for it, or abort it first");
        }
        var record = version >= 1 && version <= state.State.LatestVersion ? await store.GetRecordAsync(Name, version) : null;
        if (record is null)
        {
            throw SnapstoneException.NotFound($"unit '{Name}' has no package version {version}");
        }
        if (!record.Validation.Passed)
        {
            throw SnapstoneException.Conflict($"version {version} of '{Name}' was rejected by validation and can never be rolled out");
        }
        if (state.State.Quarantined.Contains(version) && !breakGlass)
        {
            throw SnapstoneException.Conflict($"version {version} of '{Name}' is quarantined after a rollback; only break-glass may deploy it");
        }
        if (version == state.State.LkgVersion)
        {
            throw SnapstoneException.Conflict($"version {version} of '{Name}' is already its last known good package");
        }
        return (record, state.State.LkgVersion is { } lkg ? new DesiredPackage(lkg, state.State.LkgSha256!) : null);
    }

    public async Task<RolloutTicket> ReserveRollout(string rollout, long version, bool breakGlass)
    {
        var definition = RequireDefinition();
        var (record, previous) = await Reservable(rollout, version, breakGlass);
        if (state.State.ActiveRollout != rollout || (breakGlass && !state.State.BreakGlassUsed))
        {
            state.State.ActiveRollout = rollout;
            state.State.BreakGlassUsed |= breakGlass;
            await _writer.WriteAsync();
        }
        return new RolloutTicket(new DesiredPackage(version, record.Sha256), previous, definition.Targets, record.Risk);
    }

    public async Task RolloutChanged(RolloutSummary summary)
    {
        var history = state.State.History;
        var at = history.FindIndex(h => h.Id == summary.Id);
        if (at >= 0 && history[at] == summary)
        {
            return;
        }
        if (at >= 0) history[at] = summary; else history.Insert(0, summary);
        if (history.Count > MaxHistory) history.RemoveRange(MaxHistory, history.Count - MaxHistory);

        var terminal = summary.State is RolloutState.Completed or RolloutState.RolledBack or RolloutState.Aborted;
        if (terminal && state.State.ActiveRollout == summary.Id)
        {
            state.State.ActiveRollout = null;
        }
        if (summary.State == RolloutState.RolledBack)
        {
            state.State.Rollbacks.Add(summary.FinishedAt ?? time.GetUtcNow());
            state.State.Rollbacks.RemoveAll(t => t < time.GetUtcNow().AddDays(-30));
        }
        // A rollout break-glass took back (it finished just as it was stopped) does not become the LKG.
        var takenBack = state.State.LastReturn is { } back && back.Return.From?.Version == summary.Version && back.Return.At >= summary.CreatedAt;
        var newLkg = summary.State == RolloutState.Completed && state.State.LkgVersion != summary.Version && !takenBack
            ? await store.GetRecordAsync(Name, summary.Version)
            : null;
        if (newLkg is not null)
        {
            SetLkg(newLkg);
            // An emergency deploy of a quarantined version that completes has proven itself.
            state.State.Quarantined.Remove(newLkg.Version);
        }
        await _writer.WriteAsync();
        if (newLkg is not null)
        {
            await PublishToCatalog();
            logger.LogInformation("Unit {Unit} v{Version} is the last known good after rollout {Rollout}", Name, summary.Version, summary.Id);
        }
    }

    public async Task Quarantine(long version, string reason)
    {
        if (state.State.Quarantined.Contains(version))
        {
            return;
        }
        state.State.Quarantined.Add(version);
        await _writer.WriteDurablyAsync();
        logger.LogWarning("Unit {Unit} v{Version} quarantined: {Reason}", Name, version, reason);
    }

    public async Task<BreakGlassReturn> PrepareRollback(string action, long? toVersion, string reason, string actor)
    {
        var definition = RequireDefinition();
        if (state.State.LastBreakGlass == action && state.State.LastReturn is { } decided)
        {
            return decided;
        }
        var inFlight = state.State.ActiveRollout is { } active && await GrainFactory.GetGrain<IRolloutGrain>(active).Get() is { Status.IsTerminal: false } rollout
            ? (rollout.Spec.Id, new PackageRef(rollout.Spec.Version, rollout.Spec.Sha256),
               rollout.Spec.PreviousVersion is { } pv ? new PackageRef(pv, rollout.Spec.PreviousSha256!) : null)
            : ((string, PackageRef, PackageRef?)?)null;
        var wanted = toVersion is { } v && v >= 1 && v <= state.State.LatestVersion ? await store.GetRecordAsync(Name, v) : null;
        var facts = new RollbackFacts
        {
            Lkg = state.State.LkgVersion is { } lkg ? new PackageRef(lkg, state.State.LkgSha256!) : null,
            LkgPrevious = state.State.Lineage.Count >= 2 ? state.State.Lineage[^2] : null,
            InFlight = inFlight,
            Quarantined = state.State.Quarantined,
        };
        var (plan, refusal) = InstantRollback.Plan(facts, toVersion,
            version => wanted is { } r && r.Version == version ? (new PackageRef(r.Version, r.Sha256), r.Validation.Passed) : null);
        if (refusal is not null)
        {
            throw new SnapstoneException(refusal.Kind, refusal.Message);
        }
        var decision = new BreakGlassReturn
        {
            Return = new UnitReturn
            {
                Action = action,
                Unit = Name,
                To = plan!.Target is { } t ? new DesiredPackage(t.Version, t.Sha256) : null,
                From = new DesiredPackage(plan.TakenBack.Version, plan.TakenBack.Sha256),
                Targets = definition.Targets,
                At = time.GetUtcNow(),
            },
            Quarantined = [plan.TakenBack.Version],
            StopRollout = plan.StopRollout,
        };
        // Acted on at once: the caller sends every consumer back while this is stored (with its audit entry).
        if (!state.State.Quarantined.Contains(plan.TakenBack.Version))
        {
            state.State.Quarantined.Add(plan.TakenBack.Version);
        }
        var lineage = state.State.Lineage;
        lineage.RemoveAll(p => p.Version == plan.TakenBack.Version);
        if (plan.Target is { } target)
        {
            lineage.RemoveAll(p => p.Version == target.Version);
            lineage.Add(target);
        }
        state.State.LkgVersion = plan.Target?.Version;
        state.State.LkgSha256 = plan.Target?.Sha256;
        // The target's shape (what growth is measured against) is read once storage answers; nothing waits on it.
        state.State.LkgShape = null;
        state.State.BreakGlassUsed = true;
        state.State.LastBreakGlass = action;
        state.State.LastReturn = decision;
        _outbox.Add(actor, "breakglass.rollback", $"unit/{Name}", reason);
        _ = Settle();
        logger.LogWarning("Unit {Unit}: break-glass {Action} by {Actor} takes v{TakenBack} back, every consumer to {Target}: {Reason}",
            Name, action, actor, plan.TakenBack.Version, plan.TargetText, reason);
        return decision;
    }

    /// <summary>Stores what break-glass changed, retrying until storage answers, then tells the catalog and the audit log.</summary>
    private async Task Settle()
    {
        _ = _outbox.ArmAsync().ContinueWith(t => logger.LogInformation("Unit {Unit}: audit reminder not registered yet: {Error}", Name, t.Exception!.GetBaseException().Message),
            CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Current);
        await _writer.WriteDurablyAsync();
        try
        {
            if (state.State.LkgVersion is { } lkg && state.State.LkgShape is null && await store.GetRecordAsync(Name, lkg) is { } record && state.State.LkgVersion == lkg)
            {
                state.State.LkgShape = record.Shape;
                _writer.WriteBehind();
            }
            await PublishToCatalog();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            logger.LogWarning("Unit {Unit}: catalog not told of the LKG yet ({Error}); the next change tells it", Name, e.Message);
        }
        await _outbox.FlushAsync();
    }

    public async Task<RolloutView> LaunchEmergency(string action, long version, string reason, string actor)
    {
        var definition = RequireDefinition();
        // A launch recorded before a crash starts first, so a retry finds its rollout and records nothing twice.
        await FinishStart();
        // One rollout per action: a retry after a crash finds the one it started.
        var id = "r-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"breakglass\n{action}")))[..16];
        if (await GrainFactory.GetGrain<IRolloutGrain>(id).Get() is { } started)
        {
            return started;
        }
        var (record, previous) = await Reservable(id, version, breakGlass: true);
        var spec = new RolloutSpec
        {
            Id = id,
            Unit = Name,
            Version = record.Version,
            Sha256 = record.Sha256,
            PreviousVersion = previous?.Version,
            PreviousSha256 = previous?.Sha256,
            Plan = BuiltInPlans.Emergency,
            PlanName = BuiltInPlans.EmergencyName,
            Reason = reason,
            CreatedBy = actor,
            PackageAuthor = record.Author,
            BreakGlass = true,
            Notes = [$"break-glass emergency deploy by {actor} (action {action}): plan, approvals, freezes and quarantine bypassed"],
        };
        return await Launch(new RolloutLaunch(spec, definition.Targets), actor, "breakglass.deploy", $"rollout/{id}",
            $"{Name} v{record.Version}: {reason}", breakGlass: true);
    }

    public Task<IReadOnlyList<RolloutSummary>> Rollouts() => Task.FromResult<IReadOnlyList<RolloutSummary>>([.. state.State.History]);

    /// <summary>A reservation whose rollout never started (a crash between the two writes) or already ended does not block.</summary>
    private async Task<bool> StillActive(string rollout) =>
        await GrainFactory.GetGrain<IRolloutGrain>(rollout).Get() is { Status.IsTerminal: false };

    private (PackageRecord Record, PackageAssessment Assessment) Assess(PackageDraft draft, UnitDefinition definition, string actor, long version, double? fleetShare)
    {
        var history = new PackageHistory
        {
            LkgShape = state.State.LkgShape,
            KnownKeys = state.State.KnownKeys.Count > 0 ? state.State.KnownKeys : null,
            RollbacksLast30Days = RecentRollbacks(),
            FleetShare = fleetShare,
        };
        var assessment = PackageAssessment.Of(draft.Content, definition, history);
        var record = new PackageRecord
        {
            Unit = Name,
            Version = version,
            Sha256 = Convert.ToHexStringLower(SHA256.HashData(draft.Content)),
            SizeBytes = draft.Content.LongLength,
            CreatedAt = time.GetUtcNow(),
            Author = actor,
            Message = draft.Message,
            Source = draft.Source,
            Validation = assessment.Validation,
            Risk = assessment.Risk,
            Shape = assessment.Shape,
        };
        return (record, assessment);
    }

    private void SetLkg(PackageRecord record)
    {
        state.State.LkgVersion = record.Version;
        state.State.LkgSha256 = record.Sha256;
        state.State.LkgShape = record.Shape;
        var lineage = state.State.Lineage;
        lineage.RemoveAll(p => p.Version == record.Version);
        lineage.Add(new PackageRef(record.Version, record.Sha256));
        if (lineage.Count > MaxLineage)
        {
            lineage.RemoveRange(0, lineage.Count - MaxLineage);
        }
    }

    private UnitDefinition RequireDefinition() =>
        state.State.Definition ?? throw SnapstoneException.NotFound($"unit '{Name}' is not defined (define it with PUT /v1/units/{Name})");

    // Always re-published after a write, so a catalog update lost to a crash is repaired by the next one.
    private Task PublishToCatalog() =>
        GrainFactory.GetGrain<ICatalogWriterGrain>(ICatalogGrain.Key).Upsert(new CatalogEntry(
            Name,
            state.State.Definition!.Targets,
            state.State.LkgVersion is { } v ? new DesiredPackage(v, state.State.LkgSha256!) : null));

    private PackageView ViewOf(PackageRecord record) => new(
        record,
        !record.Validation.Passed ? PackageState.Rejected
            : state.State.Quarantined.Contains(record.Version) ? PackageState.Quarantined
            : PackageState.Valid,
        record.Version != 0 && record.Version == state.State.LkgVersion);

    private UnitView View() => new()
    {
        Name = Name,
        Definition = state.State.Definition!,
        LkgVersion = state.State.LkgVersion,
        LatestVersion = state.State.LatestVersion == 0 ? null : state.State.LatestVersion,
        Quarantined = [.. state.State.Quarantined],
        ActiveRollout = state.State.ActiveRollout,
        CreatedAt = state.State.CreatedAt,
        UpdatedAt = state.State.UpdatedAt,
        UpdatedBy = state.State.UpdatedBy,
        PendingChange = state.State.PendingDefinition,
    };
}
