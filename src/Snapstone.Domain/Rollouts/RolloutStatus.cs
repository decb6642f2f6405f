using System.Globalization;
using Snapstone.Domain.Health;
using Snapstone.Domain.BreakGlass;

namespace Snapstone.Domain.Rollouts;

public enum RolloutState
{
    /// <summary>Created; the first tick opens wave 0 or asks for its approval.</summary>
    Pending,
    /// <summary>The current wave needs a person's approval before it opens.</summary>
    AwaitingApproval,
    Running,
    /// <summary>Stopped by a person, a freeze, an inconclusive wave or a stuck apply (<see cref="RolloutStatus.Pause"/> says which); a freeze's pause ends with the freeze, the others only on resume.</summary>
    Paused,
    /// <summary>Every touched node is being sent back to the previous package.</summary>
    RollingBack,
    RolledBack,
    Completed,
    /// <summary>Stopped by a person; any touched node was sent back first.</summary>
    Aborted,
}

public enum WaveState
{
    Pending,
    /// <summary>Nodes were told to run the package; waiting until enough report it.</summary>
    Applying,
    /// <summary>Enough nodes run it; waiting out the bake time before the verdict.</summary>
    Baking,
    Passed,
    Failed,
}

/// <summary>One wave's progress.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.WaveStatus")]
public sealed record WaveStatus
{
    [Id(0)] public required string Name { get; init; }
    [Id(1)] public WaveState State { get; init; }
    /// <summary>Nodes in the wave's cohort (cumulative: every node with FirstWave &lt;= this wave).</summary>
    [Id(2)] public int Targeted { get; init; }
    [Id(3)] public int Applied { get; init; }
    [Id(4)] public int Rejected { get; init; }
    [Id(5)] public int Healthy { get; init; }
    [Id(6)] public int Unhealthy { get; init; }
    [Id(7)] public DateTimeOffset? StartedAt { get; init; }
    /// <summary>When the grain confirmed every node of the wave was told; until then Decide repeats <see cref="RolloutDecision.Assign"/>.</summary>
    [Id(8)] public DateTimeOffset? AssignedAt { get; init; }
    [Id(9)] public DateTimeOffset? BakeUntil { get; init; }
    [Id(10)] public Verdict? Verdict { get; init; }
    [Id(11)] public string? ApprovedBy { get; init; }
    [Id(12)] public DateTimeOffset? ApprovedAt { get; init; }
    /// <summary>
    /// On a <c>report-only</c> wave: what would have failed it (the first time it would have), kept with the wave so it
    /// is shown beside its verdict; null when nothing would have.
    /// </summary>
    [Id(13)] public string? WouldHaveFailed { get; init; }
}

/// <summary>A rollback in progress or done.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.RollbackStatus")]
public sealed record RollbackStatus
{
    [Id(0)] public required string Reason { get; init; }
    /// <summary>Who started it: <c>rollout</c> when the rollout decided, else the person who aborted.</summary>
    [Id(1)] public required string By { get; init; }
    /// <summary>Nodes with FirstWave &lt;= this were touched and are sent back.</summary>
    [Id(2)] public required int ThroughWave { get; init; }
    /// <summary>A person's abort: ends <see cref="RolloutState.Aborted"/> rather than <see cref="RolloutState.RolledBack"/>.</summary>
    [Id(3)] public bool Aborted { get; init; }
    [Id(4)] public int Targeted { get; init; }
    [Id(5)] public int Confirmed { get; init; }
    [Id(6)] public DateTimeOffset StartedAt { get; init; }
    /// <summary>When the grain confirmed every touched node was told; until then Decide repeats <see cref="RolloutDecision.Rollback"/>.</summary>
    [Id(7)] public DateTimeOffset? AssignedAt { get; init; }
    [Id(8)] public DateTimeOffset? CompletedAt { get; init; }
}

/// <summary>One line of a rollout's story, as users, the status page and the event stream read it.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.TimelineEntry")]
public sealed record TimelineEntry(
    [property: Id(0)] DateTimeOffset At,
    [property: Id(1)] string Type,
    [property: Id(2)] string Message);

/// <summary>The <see cref="TimelineEntry.Type"/> values, one per kind of transition.</summary>
public static class TimelineTypes
{
    public const string Created = "created";
    public const string AwaitingApproval = "awaiting-approval";
    public const string Approved = "approved";
    public const string WaveStarted = "wave-started";
    public const string WaveAssigned = "wave-assigned";
    public const string WaveBaking = "wave-baking";
    public const string WaveInconclusive = "wave-inconclusive";
    public const string WavePassed = "wave-passed";
    /// <summary>A report-only wave's verdict or signals would have failed it; recorded, not acted on.</summary>
    public const string WaveWouldHaveFailed = "wave-would-have-failed";
    /// <summary>The last wave passed its bake and the plan's final bake began: the whole fleet is watched a while longer.</summary>
    public const string FinalBake = "final-bake";
    public const string Completed = "completed";
    public const string Paused = "paused";
    public const string Resumed = "resumed";
    public const string NodeSignal = "node-signal";
    /// <summary>A node's breach that a look weighed against the control and left to the verdict (an ambient disturbance, or not beyond chance).</summary>
    public const string BreachSetAside = "breach-set-aside";
    public const string RollbackStarted = "rollback-started";
    public const string RollbackAssigned = "rollback-assigned";
    public const string RolledBack = "rolled-back";
    public const string Aborted = "aborted";
    /// <summary>An alert that concerned the rollout resolved; recorded, nothing changed.</summary>
    public const string AlarmResolved = "alarm-resolved";
}

/// <summary>
/// Everything a rollout remembers; the grain persists it and nothing else. Immutable: each transition returns
/// a new status carrying exactly one new timeline entry, or this same instance when nothing changes (so
/// <c>ReferenceEquals</c> tells the grain whether to write).
/// </summary>
[GenerateSerializer, Immutable, Alias("snapstone.RolloutStatus")]
public sealed record RolloutStatus
{
    /// <summary>
    /// The status keeps this many newest timeline entries (the rest are in the rollout's journal, read page by page), so
    /// the state row stays small however long a rollout runs: 50 entries of the longest reasons (2,000 bytes) are about
    /// 110 KB of the row's 1 MB.
    /// </summary>
    public const int MaxTimeline = 50;
    /// <summary>Distinct node signals kept; far beyond any gate, so dropping more never changes a decision below it.</summary>
    public const int MaxSignals = 200;
    /// <summary>Who acts when the rollout decides by itself.</summary>
    public const string Self = "rollout";

    [Id(0)] public RolloutState State { get; init; }
    [Id(1)] public int CurrentWave { get; init; }
    [Id(2)] public IReadOnlyList<WaveStatus> Waves { get; init; } = [];
    [Id(3)] public RollbackStatus? Rollback { get; init; }
    // Ids 4 and 5 held the pause's reason and actor as strings; the pause is a typed value now (Id 12).
    /// <summary>When the current wave's verdict first came back Inconclusive; the grace runs from here.</summary>
    [Id(6)] public DateTimeOffset? InconclusiveSince { get; init; }
    /// <summary>The last resume; the apply deadline runs from the later of this and the wave's start.</summary>
    [Id(7)] public DateTimeOffset? ResumedAt { get; init; }
    /// <summary>Hard signals from node grains (one per node and kind), read by every Decide.</summary>
    [Id(8)] public IReadOnlyList<NodeSignal> Signals { get; init; } = [];
    [Id(9)] public IReadOnlyList<TimelineEntry> Timeline { get; init; } = [];
    [Id(10)] public DateTimeOffset UpdatedAt { get; init; }
    /// <summary>When the rollout reached a terminal state.</summary>
    [Id(11)] public DateTimeOffset? FinishedAt { get; init; }
    /// <summary>Why the rollout is paused, while it is; null otherwise.</summary>
    [Id(12)] public PauseReason? Pause { get; init; }

    /// <summary>The pause as users read it.</summary>
    public string? PausedReason => Pause?.Describe();

    /// <summary>
    /// Entries dropped from the front of <see cref="Timeline"/> to keep it within <see cref="MaxTimeline"/>: entry
    /// <c>Timeline[i]</c> is the rollout's entry number <c>TimelineDropped + i</c>, so a watcher that has seen
    /// <see cref="TimelineTotal"/> entries knows what is new however long the timeline has grown.
    /// </summary>
    [Id(20)] public int TimelineDropped { get; init; }

    /// <summary>When the plan's final bake ends, once the last wave has passed its own bake; null before (or without one).</summary>
    [Id(21)] public DateTimeOffset? FinalBakeUntil { get; init; }

    /// <summary>Entries ever appended, dropped ones included.</summary>
    public int TimelineTotal => TimelineDropped + Timeline.Count;

    public bool IsTerminal => State is RolloutState.Completed or RolloutState.RolledBack or RolloutState.Aborted;

    /// <summary>The highest wave whose nodes may have been told to run the package; -1 when none.</summary>
    public int TouchedThrough
    {
        get
        {
            for (var i = Waves.Count - 1; i >= 0; i--)
            {
                if (Waves[i].StartedAt is not null)
                {
                    return i;
                }
            }
            return -1;
        }
    }

    /// <summary>A new rollout: every wave pending, one "created" entry.</summary>
    public static RolloutStatus Start(RolloutSpec spec, DateTimeOffset now)
    {
        var from = spec.PreviousVersion is { } previous ? $"from v{previous}" : "first package";
        var notes = spec.Notes.Count > 0 ? $"; {string.Join("; ", spec.Notes)}" : "";
        var reason = spec.Reason.Length > 0 ? $": {spec.Reason}" : "";
        return new RolloutStatus
        {
            State = RolloutState.Pending,
            Waves = spec.Plan.Waves.Select(w => new WaveStatus { Name = w.Name }).ToArray(),
            UpdatedAt = now,
        }.Append(now, TimelineTypes.Created,
            $"rollout {spec.Id} of {spec.Unit} v{spec.Version} ({from}) on plan '{spec.PlanName}' created by {spec.CreatedBy}{reason}{notes}");
    }

    /// <summary>
    /// The grain told every node of <paramref name="wave"/> to run the package; <paramref name="targeted"/> is the
    /// cohort's size (nodes with FirstWave &lt;= wave). Unchanged unless that wave is applying, or failed while its
    /// nodes were being told (a rollback or break-glass stop that came first: the count still says how many were
    /// told), and not yet assigned, in a rollout that has not ended.
    /// </summary>
    public RolloutStatus WaveAssigned(int wave, int targeted, DateTimeOffset now)
    {
        if (IsTerminal || wave < 0 || wave >= Waves.Count ||
            Waves[wave] is not { State: WaveState.Applying or WaveState.Failed, AssignedAt: null, StartedAt: not null } status)
        {
            return this;
        }
        var stopped = status.State == WaveState.Failed ? " (the wave was stopped while they were being told)" : "";
        return WithWave(wave, status with { AssignedAt = now, Targeted = Math.Max(0, targeted) })
            .Append(now, TimelineTypes.WaveAssigned, $"wave '{status.Name}': {Math.Max(0, targeted)} node(s) in the cohort told to run the package{stopped}");
    }

    /// <summary>
    /// The grain told every touched node to return to the previous package; <paramref name="ran"/> of them were
    /// running the rolled-back one. A rollback often pre-empts the wave's next observation, so <paramref name="ran"/>
    /// also raises the applied count of the last touched wave. Unchanged unless a rollback awaits that.
    /// </summary>
    public RolloutStatus RollbackAssigned(int targeted, int ran, DateTimeOffset now)
    {
        if (State != RolloutState.RollingBack || Rollback is not { AssignedAt: null } rollback)
        {
            return this;
        }
        targeted = Math.Max(0, targeted);
        ran = Math.Clamp(ran, 0, targeted);
        var next = this with { Rollback = rollback with { AssignedAt = now, Targeted = targeted } };
        var through = Math.Min(rollback.ThroughWave, Waves.Count - 1);
        if (through >= 0 && Waves[through].Applied < ran)
        {
            next = next.WithWave(through, Waves[through] with { Applied = ran });
        }
        return next.Append(now, TimelineTypes.RollbackAssigned, $"{targeted} node(s) told to return to the previous package; {ran} of them were running the rolled-back package");
    }

    /// <summary>
    /// Records a node grain's hard signal for the next Decide. Unchanged when the rollout has touched no node,
    /// is rolling back or over, or already holds this node's signal of this kind.
    /// </summary>
    public RolloutStatus WithSignal(NodeSignal signal, DateTimeOffset now)
    {
        if (IsTerminal || State == RolloutState.RollingBack || TouchedThrough < 0 || Signals.Count >= MaxSignals ||
            Signals.Any(s => s.NodeId == signal.NodeId && s.Kind == signal.Kind))
        {
            return this;
        }
        return (this with { Signals = [.. Signals, signal] }).Append(now, TimelineTypes.NodeSignal, signal.Reason);
    }

    /// <summary>
    /// The breach signals a look weighed and found not to act on their own (<see cref="BreachCheck.Acts"/> false) leave
    /// <see cref="Signals"/>, each with a timeline entry giving the weighing: the wave's verdict, which compares the whole
    /// cohort with the control, decides on them from now on. The same; this, when none of them is among the signals.
    /// </summary>
    internal RolloutStatus BreachesSetAside(IReadOnlyList<WeighedBreach> weighed, DateTimeOffset now)
    {
        var status = this;
        foreach (var breach in weighed)
        {
            if (breach.Check.Acts)
            {
                continue;
            }
            NodeSignal[] kept = [.. status.Signals.Where(s => !(s.Kind == SignalKind.Breach && s.NodeId == breach.Node))];
            if (kept.Length < status.Signals.Count)
            {
                status = (status with { Signals = kept })
                    .Append(now, TimelineTypes.BreachSetAside, $"breach set aside: {FindingText.Render(breach.Check.Finding)}");
            }
        }
        return status;
    }

    internal RolloutStatus AwaitingApproval(int wave, RolloutSpec spec, DateTimeOffset now) =>
        (this with { State = RolloutState.AwaitingApproval, CurrentWave = wave })
            .Append(now, TimelineTypes.AwaitingApproval, $"wave '{Waves[wave].Name}' needs approval by someone other than {string.Join(" and ", spec.Excluded)}");

    internal RolloutStatus Approved(string actor, string? reason, DateTimeOffset now) =>
        (WithWave(CurrentWave, Waves[CurrentWave] with { ApprovedBy = actor, ApprovedAt = now }) with { State = RolloutState.Running })
            .Append(now, TimelineTypes.Approved, $"wave '{Waves[CurrentWave].Name}' approved by {actor}{Because(reason)}");

    internal RolloutStatus WaveStarted(int wave, DateTimeOffset now) =>
        (WithWave(wave, Waves[wave] with
        {
            State = WaveState.Applying, StartedAt = now, AssignedAt = null, BakeUntil = null, Verdict = null,
            Targeted = 0, Applied = 0, Rejected = 0, Healthy = 0, Unhealthy = 0,
        }) with { State = RolloutState.Running, CurrentWave = wave, InconclusiveSince = null })
            .Append(now, TimelineTypes.WaveStarted, $"wave {wave} '{Waves[wave].Name}' started: telling its nodes to run the package");

    /// <summary>Counts from an observation; not a transition, so no timeline entry (and this instance when nothing moved).</summary>
    internal RolloutStatus WithCounts(int wave, WaveObservation observation, DateTimeOffset now)
    {
        var current = Waves[wave];
        var next = current with
        {
            Targeted = Math.Max(0, observation.Targeted),
            Applied = Math.Max(0, observation.Applied),
            Rejected = Math.Max(0, observation.Rejected),
            Healthy = observation.Verdict?.HealthyNodes ?? current.Healthy,
            Unhealthy = observation.Verdict?.UnhealthyNodes ?? current.Unhealthy,
        };
        return next == current ? this : WithWave(wave, next) with { UpdatedAt = now };
    }

    internal RolloutStatus BakeStarted(int wave, DateTimeOffset bakeUntil, DateTimeOffset now)
    {
        var status = Waves[wave];
        return WithWave(wave, status with { State = WaveState.Baking, BakeUntil = bakeUntil })
            .Append(now, TimelineTypes.WaveBaking,
                $"wave '{status.Name}': {status.Applied}/{status.Targeted} node(s) run the package; baking until {Time(bakeUntil)}");
    }

    internal RolloutStatus InconclusiveNoted(int wave, Verdict verdict, TimeSpan grace, DateTimeOffset now) =>
        (WithWave(wave, Waves[wave] with { Verdict = verdict }) with { InconclusiveSince = now })
            .Append(now, TimelineTypes.WaveInconclusive,
                $"wave '{Waves[wave].Name}' inconclusive ({Summary(verdict)}); waiting up to {Duration(grace)} for more data");

    internal RolloutStatus WavePassed(int wave, Verdict verdict, DateTimeOffset now) =>
        (WithWave(wave, Waves[wave] with { State = WaveState.Passed, Verdict = verdict }) with
        {
            CurrentWave = wave + 1, InconclusiveSince = null,
        }).Append(now, TimelineTypes.WavePassed, $"wave '{Waves[wave].Name}' passed: {Summary(verdict)}");

    /// <summary>A report-only wave would have failed: the reason is kept on the wave and told once; nothing else changes.</summary>
    internal RolloutStatus WouldHaveFailed(int wave, string reason, Verdict? verdict, DateTimeOffset now) =>
        WithWave(wave, Waves[wave] with { WouldHaveFailed = reason, Verdict = verdict ?? Waves[wave].Verdict })
            .Append(now, TimelineTypes.WaveWouldHaveFailed, $"wave '{Waves[wave].Name}' is report-only: {reason}; recorded, not acted on");

    /// <summary>The last wave's bake passed; the whole fleet is watched until <paramref name="until"/> before the rollout completes.</summary>
    internal RolloutStatus FinalBakeStarted(int wave, Verdict verdict, DateTimeOffset until, DateTimeOffset now) =>
        (WithWave(wave, Waves[wave] with { BakeUntil = until, Verdict = verdict }) with { FinalBakeUntil = until, InconclusiveSince = null })
            .Append(now, TimelineTypes.FinalBake,
                $"wave '{Waves[wave].Name}' passed its bake ({Summary(verdict)}); final bake until {Time(until)}: a regression still rolls every node back");

    internal RolloutStatus Completed(int wave, Verdict verdict, DateTimeOffset now) =>
        (WithWave(wave, Waves[wave] with { State = WaveState.Passed, Verdict = verdict }) with
        {
            State = RolloutState.Completed, InconclusiveSince = null, FinishedAt = now,
        }).Append(now, TimelineTypes.Completed, $"wave '{Waves[wave].Name}' passed ({Summary(verdict)}); rollout completed");

    internal RolloutStatus Paused(PauseReason reason, DateTimeOffset now) =>
        (this with { State = RolloutState.Paused, Pause = reason })
            .Append(now, TimelineTypes.Paused, reason is PauseReason.Manual manual ? $"paused by {manual.Actor}: {manual.Reason}" : $"paused: {reason.Describe()}");

    internal RolloutStatus Resumed(string actor, string? reason, DateTimeOffset now) =>
        (this with { State = RolloutState.Running, Pause = null, InconclusiveSince = null, ResumedAt = now })
            .Append(now, TimelineTypes.Resumed, $"resumed by {actor}{Because(reason)}");

    /// <summary>The freeze that paused the rollout no longer applies: it moves again by itself.</summary>
    internal RolloutStatus Thawed(Freeze ended, DateTimeOffset now) =>
        (this with { State = RolloutState.Running, Pause = null, InconclusiveSince = null, ResumedAt = now })
            .Append(now, TimelineTypes.Resumed, $"resumed: the freeze by {ended.By} no longer applies");

    /// <summary>Starts sending every touched node back; the current wave fails if it was live, with the verdict that failed it.</summary>
    internal RolloutStatus RollbackStarted(string reason, string by, bool aborted, Verdict? verdict, DateTimeOffset now)
    {
        var status = this;
        if (CurrentWave < Waves.Count && Waves[CurrentWave].State is WaveState.Applying or WaveState.Baking)
        {
            // A wave stopped by node signals before any verdict still shows the nodes that signalled as unhealthy.
            var wave = Waves[CurrentWave];
            var signalled = Signals.Where(x => x.Kind != SignalKind.Rejected).Select(x => x.NodeId).Distinct(StringComparer.Ordinal).Count();
            status = WithWave(CurrentWave, wave with
            {
                State = WaveState.Failed,
                Verdict = verdict ?? wave.Verdict,
                Unhealthy = Math.Max(verdict?.UnhealthyNodes ?? wave.Unhealthy, signalled),
            });
        }
        return (status with
        {
            State = RolloutState.RollingBack,
            InconclusiveSince = null,
            Pause = null,
            Rollback = new RollbackStatus { Reason = reason, By = by, ThroughWave = TouchedThrough, Aborted = aborted, StartedAt = now },
        }).Append(now, TimelineTypes.RollbackStarted, $"rolling back: {reason}");
    }

    internal RolloutStatus RollbackProgress(int targeted, int confirmed, DateTimeOffset now)
    {
        var rollback = Rollback!;
        var next = rollback with { Targeted = Math.Max(0, targeted), Confirmed = Math.Max(0, confirmed) };
        return next == rollback ? this : this with { Rollback = next, UpdatedAt = now };
    }

    /// <summary>The rollback is over; <paramref name="unconfirmed"/> says why some nodes never confirmed, when that is how it ended.</summary>
    internal RolloutStatus RollbackFinished(int targeted, int confirmed, DateTimeOffset now, string? unconfirmed = null)
    {
        var rollback = Rollback!;
        var state = rollback.Aborted ? RolloutState.Aborted : RolloutState.RolledBack;
        return (this with
        {
            State = state,
            FinishedAt = now,
            Rollback = rollback with { Targeted = Math.Max(0, targeted), Confirmed = Math.Max(0, confirmed), CompletedAt = now },
        }).Append(now, state == RolloutState.Aborted ? TimelineTypes.Aborted : TimelineTypes.RolledBack,
            $"{Math.Max(0, confirmed)}/{Math.Max(0, targeted)} node(s) confirmed back on the previous package" + (unconfirmed is null ? "" : $"; {unconfirmed}"));
    }

    /// <summary>
    /// Break-glass sent every consumer of the unit elsewhere: the rollout ends aborted at once, with nothing left for it
    /// to send back or count. Unchanged when it already ended.
    /// </summary>
    internal RolloutStatus StoppedByBreakGlass(string action, string by, string reason, string target, DateTimeOffset now)
    {
        if (IsTerminal)
        {
            return this;
        }
        var status = this;
        if (CurrentWave < Waves.Count && Waves[CurrentWave].State is WaveState.Applying or WaveState.Baking)
        {
            status = WithWave(CurrentWave, Waves[CurrentWave] with { State = WaveState.Failed });
        }
        var why = $"break-glass action {action} by {by}: {reason}";
        return (status with
        {
            State = RolloutState.Aborted,
            FinishedAt = now,
            Pause = null,
            InconclusiveSince = null,
            Rollback = (Rollback ?? new RollbackStatus { Reason = why, By = by, ThroughWave = TouchedThrough, StartedAt = now }) with
            {
                Aborted = true, AssignedAt = Rollback?.AssignedAt ?? now, CompletedAt = now,
            },
        }).Append(now, TimelineTypes.Aborted, $"stopped by {why}; every consumer was sent to {target} by the action, which counts their confirmations");
    }

    /// <summary>An abort before any node was touched: nothing to send back.</summary>
    internal RolloutStatus AbortedUntouched(string actor, string reason, DateTimeOffset now) =>
        (this with { State = RolloutState.Aborted, FinishedAt = now, InconclusiveSince = null, Pause = null })
            .Append(now, TimelineTypes.Aborted, $"aborted by {actor} before any node was touched: {reason}");

    /// <summary>Something that concerns the rollout but changes nothing in it (an alert resolving): one entry, in any state.</summary>
    internal RolloutStatus Recorded(DateTimeOffset now, string type, string message) => Append(now, type, message);

    private RolloutStatus WithWave(int wave, WaveStatus status)
    {
        var waves = Waves.ToArray();
        waves[wave] = status;
        return this with { Waves = waves };
    }

    private RolloutStatus Append(DateTimeOffset at, string type, string message)
    {
        var skip = Math.Max(0, Timeline.Count + 1 - MaxTimeline);
        return this with { Timeline = [.. Timeline.Skip(skip), new TimelineEntry(at, type, message)], TimelineDropped = TimelineDropped + skip, UpdatedAt = at };
    }

    private static string Because(string? reason) => string.IsNullOrWhiteSpace(reason) ? "" : $": {reason}";

    /// <summary>The first reasons of a verdict, enough for a timeline line.</summary>
    internal static string Summary(Verdict verdict) =>
        verdict.Reasons.Count == 0 ? verdict.Result.ToString().ToLowerInvariant() : string.Join("; ", verdict.Reasons.Take(3));

    internal static string Time(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary><c>90 s</c>, <c>10 min</c>, <c>2 h</c>: whole units only when exact.</summary>
    internal static string Duration(TimeSpan span) =>
        span.TotalHours >= 1 && span.TotalHours == Math.Floor(span.TotalHours) ? $"{span.TotalHours:0} h"
        : span.TotalMinutes >= 2 && span.TotalMinutes == Math.Floor(span.TotalMinutes) ? $"{span.TotalMinutes:0} min"
        : $"{span.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture)} s";
}
