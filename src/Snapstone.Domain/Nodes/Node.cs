using Snapstone.Domain.Drift;
using Snapstone.Domain.Health;

namespace Snapstone.Domain.Nodes;

/// <summary>
/// One edge node's decisions, pure (time comes in as an argument): what it runs, what it should run and the
/// stamp of that, which wave assignments it takes, defers or drops, when it goes back on its own crash, what it
/// tells each live rollout (once per kind of trouble), what its health says about a package, and its drift.
/// Its grain loads <see cref="State"/>, asks this type, writes what <see cref="Drain"/> says and performs the side
/// effects of the events (signals to rollouts, logs, counters).
/// </summary>
/// <remarks>
/// Durable (<see cref="State"/>): identity, what the node runs, drift marks and deferred assignments. In memory:
/// the assignments (the PoP's order ledger holds them durably and gives them back on activation through
/// <see cref="Take"/> and <see cref="Return"/>), the health window and its baseline, the packages the node
/// crashed off, the signals already sent. Every report goes through <see cref="Report"/>, which allocates
/// nothing when nothing changed: the desired state is cached until the catalog, the identity or the
/// assignments change.
/// </remarks>
public sealed class Node
{
    private static readonly IReadOnlyDictionary<string, string> NoLabels = new Dictionary<string, string>();

    private readonly Dictionary<string, Assignment> _assignments = new(StringComparer.Ordinal);
    /// <summary>
    /// The package this node crashed on and was sent back from at once, per unit: it ran that package, though it no
    /// longer does when the rollout's own rollback reaches it (which counts the nodes that ran the bad package).
    /// </summary>
    private Dictionary<string, DesiredPackage>? _crashedOff;
    /// <summary>Signals already pushed, so each rollout hears of each kind of trouble from a node once per activation.</summary>
    private HashSet<(string Rollout, SignalKind Kind)>? _signalled;
    private readonly HealthWindow _window = new();
    /// <summary>The drift marks as the last write stored them (<see cref="Checkpoint"/>).</summary>
    private Dictionary<string, DurableMark> _storedMarks;

    /// <summary>What a node with nothing durable to keep holds: one empty map for all of them, never written to.</summary>
    private static readonly Dictionary<string, DurableMark> NoMarks = new(StringComparer.Ordinal);
    private DesiredCache? _desired;
    private long _assignmentsVersion;

    private bool _writeBehind;
    private bool _appliedChanged;
    private bool _assignmentsChanged;
    private List<NodeEvent>? _events;

    /// <param name="id">The node id.</param>
    /// <param name="state">What storage holds for the node (a fresh one for a node never seen).</param>
    /// <param name="drift">How patient drift detection is.</param>
    /// <param name="now">When the node's grain activated: what of its drift marks storage holds is judged now.</param>
    public Node(string id, NodeState state, DriftSettings drift, DateTimeOffset now)
    {
        Id = id;
        State = state;
        Drift = drift;
        _storedMarks = DurableMarks(now);
    }

    public string Id { get; }

    /// <summary>What the grain stores.</summary>
    public NodeState State { get; }

    public DriftSettings Drift { get; }

    public NodeIdentity? Identity => State.Identity;

    public DateTimeOffset? LastReportAt { get; private set; }

    public NodeMetrics? LastMetrics { get; private set; }

    /// <summary>Reports ingested since the grain activated.</summary>
    public long Reports { get; private set; }

    /// <summary>The explicit desired packages, per unit; a unit without one follows its LKG.</summary>
    public IReadOnlyDictionary<string, Assignment> Assignments => _assignments;

    /// <summary>Moves on every change to <see cref="Assignments"/>.</summary>
    public long AssignmentsVersion => _assignmentsVersion;

    // ---- identity ----

    /// <summary>
    /// Enrols the node with <paramref name="identity"/>: by its first report, or by an operator, who may also
    /// re-enrol it. A re-enrolled node leaves every assignment it held (deferred ones too): they were its old
    /// identity's, and its PoP's ledger says which its new one takes (<see cref="Take"/>, <see cref="Return"/>).
    /// What it runs, its drift marks and its health window stay: they are about the machine, not its identity.
    /// </summary>
    public void Enrol(NodeIdentity identity, DateTimeOffset now)
    {
        if (State.Identity is null)
        {
            State.FirstSeenAt = now;
        }
        else if (_assignments.Count > 0 || State.Drift.Deferred.Count > 0 || State.JoinedLate is not null)
        {
            _assignments.Clear();
            State.Drift.Deferred.Clear();
            State.JoinedLate = null;
            _crashedOff = null;
            _signalled = null;
            AssignmentsMoved();
        }
        State.Identity = identity;
    }

    /// <summary>Null when the enrolled node's report describes its identity; else why the report is refused (<see cref="Enrolment"/>).</summary>
    public string? IdentityRefusal(NodeReport report) =>
        State.Identity is { } enrolled ? Enrolment.Refusal(Id, enrolled, report) : null;

    /// <summary>A unit the report names that the catalog does not know: the report is refused whole.</summary>
    public static string? UnknownUnit(NodeReport report, Catalog catalog)
    {
        if (report.Applied is not { Count: > 0 } applied)
        {
            return null;
        }
        foreach (var unit in applied.Keys)
        {
            if (!catalog.Units.ContainsKey(unit))
            {
                return $"applied: unknown unit '{unit}' (no such unit is defined)";
            }
        }
        return null;
    }

    // ---- reports ----

    /// <summary>
    /// Ingests one report from the enrolled node (checked by <see cref="ReportRules"/> and <see cref="UnknownUnit"/>)
    /// and answers its desired state: records what it runs, counts a remediation attempt for each unit it has
    /// not converged on, takes deferred assignments it is now free to take, adds its traffic to the health window,
    /// and tells each live rollout of a crash, rejection or breach; a crash on a rollout's package sends the node
    /// back to the previous package in this very answer.
    /// </summary>
    public DesiredState Report(NodeReport report, Catalog catalog, DateTimeOffset now)
    {
        if (report.Applied is { Count: > 0 } reported)
        {
            foreach (var (unit, named) in reported)
            {
                // What the node runs is stored without this report's crash count: a crash is not a change of package.
                var applied = named.Crashes == 0 ? named : named with { Crashes = 0 };
                if (!State.Applied.TryGetValue(unit, out var known) || known.Package != applied)
                {
                    State.Applied[unit] = new AppliedRecord(applied, now);
                    Remember(unit, applied, now);
                    _appliedChanged = true;
                    _applies = null;
                    // What the node served so far in this slot belongs to the package it left.
                    SplitAt(now);
                }
            }
        }
        if (report.Applied is { } running && State.Applied.Keys.Where(u => !running.ContainsKey(u)).ToList() is { Count: > 0 } dropped)
        {
            // A unit the node no longer lists runs no package of ours: its agent is back on its built-in default
            // (a first package rolled back, say).
            foreach (var unit in dropped)
            {
                State.Applied.Remove(unit);
            }
            _appliedChanged = true;
            _applies = null;
            SplitAt(now);
        }
        TrackDrift(catalog, report.IntervalSeconds, now);
        Checkpoint(now);
        LastReportAt = now;
        LastMetrics = report.Metrics;
        Reports++;
        if (report.Metrics is { } metrics)
        {
            _window.Add(now, metrics);
            if (metrics.Crashes > 0)
            {
                MarkCrashes(report, metrics.Crashes, now);
            }
        }
        SignalLiveRollouts(now);
        // After any send-back above; from the cache when nothing moved.
        return Desired(catalog);
    }

    /// <summary>
    /// Pushes a crash, rejection or breach to each live rollout of this node at once, without waiting to be polled.
    /// A node that crashed on the package goes back to the previous one at once (<see cref="HealthPolicy.SendsNodeBack"/>).
    /// </summary>
    private void SignalLiveRollouts(DateTimeOffset now)
    {
        if (_assignments.Count == 0)
        {
            return;
        }
        List<(string Unit, Assignment Assignment, NodeSignal Signal)>? sendBacks = null;
        foreach (var (unit, assignment) in _assignments)
        {
            if (assignment is not { Rollout: { } rollout, Gates: { } gates })
            {
                continue;
            }
            var sample = Evidence(unit, assignment.Package, now, asCohort: false).Sample;
            if (HealthPolicy.Breach(sample, gates) is not { } signal)
            {
                continue;
            }
            // A breach that began after the node applied another unit's change is that change's: this rollout leaves it
            // to its own verdict, which weighs the node against the control (crashes are counted per unit already).
            if (signal.Kind == SignalKind.Breach && BlameForErrors(sample, gates, now) is { Count: > 0 } blamed && !blamed.Contains(unit))
            {
                continue;
            }
            if ((_signalled ??= []).Add((rollout, signal.Kind)))
            {
                Raise(JoinedLate(unit, assignment.Package) ? new NodeEvent.Withheld(rollout, signal) : new NodeEvent.Signalled(rollout, signal));
            }
            if (HealthPolicy.SendsNodeBack(signal) && assignment.Previous is not null)
            {
                (sendBacks ??= []).Add((unit, assignment, signal));
            }
        }
        if (sendBacks is null)
        {
            return;
        }
        foreach (var (unit, assignment, signal) in sendBacks)
        {
            if (Return(unit, assignment.Previous, now))
            {
                (_crashedOff ??= new(StringComparer.Ordinal))[unit] = assignment.Package;
                Raise(new NodeEvent.SentBack(unit, assignment.Rollout!, assignment.Previous!, signal));
            }
        }
    }

    // ---- assignments ----

    /// <summary>
    /// A rollout tells the node to run a package for <paramref name="unit"/> (idempotent). A node excluded for the unit
    /// defers it, whole, until it converges; otherwise it takes it and its baseline is captured now. With
    /// <paramref name="joined"/> the node takes it as it joins its PoP, after the wave went out: it runs the package,
    /// but gives no evidence about it (<see cref="NodeState.JoinedLate"/>, <see cref="Evidence(string, DesiredPackage, DateTimeOffset)"/>).
    /// </summary>
    public void Take(string unit, Assignment assignment, DateTimeOffset now, bool joined = false)
    {
        if (joined && assignment.Rollout is { } rollout)
        {
            if (State.JoinedLate?.GetValueOrDefault(unit) is not { } late || late.Rollout != rollout || late.Package != assignment.Package)
            {
                (State.JoinedLate ??= [])[unit] = new LateOrder(rollout, assignment.Package);
                _writeBehind = true;
            }
        }
        else if (State.JoinedLate?.GetValueOrDefault(unit) is { } late && late.Rollout != assignment.Rollout)
        {
            // A later rollout's wave reached the node as a member: that one is the node's own.
            State.JoinedLate.Remove(unit);
            if (State.JoinedLate.Count == 0)
            {
                State.JoinedLate = null;
            }
            _writeBehind = true;
        }
        if (_assignments.TryGetValue(unit, out var known) && known.Rollout == assignment.Rollout && known.Package == assignment.Package)
        {
            return;
        }
        if (DeferWhileExcluded(unit, assignment))
        {
            return;
        }
        _window.CaptureBaseline(now);
        _assignments[unit] = assignment;
        MarkDrift(unit, assignment.Package, now);
        Checkpoint(now);
        AssignmentsMoved();
    }

    /// <summary>
    /// A rollback reaches the node: it goes back to <paramref name="previous"/> (null: no assignment, the unit's LKG).
    /// True when the node ran <paramref name="from"/>, the package rolled back, or crashed off it.
    /// </summary>
    public bool ReturnTo(string rollout, string unit, DesiredPackage? previous, DesiredPackage from, DateTimeOffset now)
    {
        var ran = (State.Applied.GetValueOrDefault(unit)?.Package is { Status: ApplyStatus.Ok } applied && Runs(applied, from)) ||
                  _crashedOff?.GetValueOrDefault(unit) == from;
        if (Return(unit, previous, now))
        {
            Raise(new NodeEvent.Returned(unit, rollout, previous));
        }
        return ran;
    }

    /// <summary>Replaces the unit's assignment with <paramref name="previous"/> (null: none, follow the LKG). True when it changed.</summary>
    public bool Return(string unit, DesiredPackage? previous, DateTimeOffset now)
    {
        DropDeferred(unit);
        var known = _assignments.GetValueOrDefault(unit);
        if (known is not null ? known.Rollout is null && known.Package == previous : previous is null)
        {
            return false;
        }
        if (previous is null)
        {
            _assignments.Remove(unit);
        }
        else
        {
            _assignments[unit] = new Assignment(previous, null, now);
        }
        MarkDrift(unit, previous, now);
        Checkpoint(now);
        AssignmentsMoved();
        return true;
    }

    // ---- evidence ----

    /// <summary>
    /// The node's health as evidence about one package: traffic since it started reporting that package, or none
    /// when it does not run it (or is excluded for the unit); a refusal of that package counts as rejected
    /// (<see cref="Refuses"/>).
    /// </summary>
    /// <remarks>
    /// A node that joined after the package's wave went out (<see cref="NodeState.JoinedLate"/>) gives no evidence about
    /// it: not its crashes, not its refusal, not its traffic, any of which would let a node anyone with an agent token
    /// can enrol veto a good rollout. It still counts as running the package when it does.
    /// </remarks>
    public NodeEvidence Evidence(string unit, DesiredPackage package, DateTimeOffset now) => Evidence(unit, package, now, asCohort: true);

    private NodeEvidence Evidence(string unit, DesiredPackage package, DateTimeOffset now, bool asCohort)
    {
        var applied = State.Applied.GetValueOrDefault(unit);
        var on = applied is { Package.Status: ApplyStatus.Ok } && Runs(applied.Package, package) && !ExcludedFrom(unit);
        var rejected = applied is not null && Refuses(unit, applied.Package, package);
        var labels = State.Identity?.Labels ?? NoLabels;
        if (asCohort && JoinedLate(unit, package))
        {
            return new NodeEvidence(_window.Sample(Id, now, now, reported: false, rejected: false, labels, pop: State.Identity?.Pop), on, false);
        }
        var since = on ? applied!.Since : now;
        var sample = _window.Sample(Id, now, since, on, rejected, labels, applies: on ? Applies() : null, pop: State.Identity?.Pop);
        if (sample.Crashes > 0)
        {
            sample = sample with { Crashes = CrashesOf(unit, since, now) };
        }
        if (on && _crashes is not null && NamedCrashes(now) is { Count: > 0 } crashedOn)
        {
            sample = sample with { CrashedOn = crashedOn };
        }
        return new NodeEvidence(sample, on, rejected);
    }

    /// <summary>
    /// When the node applied each unit's package within the health window, those it has left since included, and each
    /// package it runs now: the first report that said it ran it. Built once per change of what the node runs (every
    /// cohort sample of every tick carries it) and never mutated, so samples may share it.
    /// </summary>
    /// <remarks>
    /// The packages left matter: a node that applied <c>flags</c> v2 at 10:00:00 and <c>bot</c> v2 at 10:00:05, failed from
    /// 10:00:06 on, and was sent back to <c>bot</c> v1 at 10:00:08 still holds the errors in its window; they began after
    /// <c>bot</c> v2, so they are bot's, not flags'. With only what it runs now, the last apply before the errors would be
    /// flags v2, and the flags rollout would be blamed for the change that was just rolled back.
    /// </remarks>
    private IReadOnlyList<UnitApply> Applies()
    {
        if (_applies is not null)
        {
            return _applies;
        }
        var applies = new List<UnitApply>(State.Applied.Count + (_applied?.Count ?? 0));
        foreach (var (unit, record) in State.Applied)
        {
            if (record.Package.Status == ApplyStatus.Ok)
            {
                applies.Add(new UnitApply(unit, record.Package.Version, record.Since));
            }
        }
        if (_applied is not null)
        {
            applies.AddRange([.. _applied.Where(a => !applies.Contains(a))]);
        }
        return _applies = applies;
    }

    /// <summary><see cref="Applies"/> as last built; null once what the node runs has changed.</summary>
    private IReadOnlyList<UnitApply>? _applies;

    /// <summary>
    /// The node changed package at <paramref name="now"/>: what its slot summed so far moves to the slot before
    /// (<see cref="HealthWindow.Split"/>), and so does every apply made earlier in that slot, which that traffic followed.
    /// </summary>
    /// <example>
    /// Slots of 0.9375 s from 10:00:00. The killswitch applied at 10:00:00.10, 28% errors reported at 10:00:00.35, the node
    /// sent back at 10:00:00.60: the split moves the errors to the slot 09:59:59.06–10:00:00, before the killswitch's
    /// apply at 10:00:00.10, where attribution would find the change applied before it to blame. Moved with them, the
    /// killswitch's apply is taken as at 09:59:59.06, and the errors follow it.
    /// </example>
    private void SplitAt(DateTimeOffset now)
    {
        if (!_window.Split(now) || _applied is null)
        {
            return;
        }
        var ticks = _window.SlotTicks;
        var slot = now.UtcTicks / ticks;
        for (var i = 0; i < _applied.Count; i++)
        {
            if (_applied[i].At < now && _applied[i].At.UtcTicks / ticks == slot)
            {
                _applied[i] = _applied[i] with { At = SlotSeries.At(slot - 1, ticks) };
            }
        }
    }

    /// <summary>Applies of packages within the health window, newest last, in memory only; null until the node first changes package.</summary>
    private List<UnitApply>? _applied;
    private const int MaxRememberedApplies = 16;

    private void Remember(string unit, AppliedPackage applied, DateTimeOffset now)
    {
        if (applied.Status != ApplyStatus.Ok)
        {
            return;
        }
        _applied ??= [];
        _applied.RemoveAll(a => a.At <= now - _window.Span);
        if (_applied.Count >= MaxRememberedApplies)
        {
            _applied.RemoveAt(0);
        }
        _applied.Add(new UnitApply(unit, applied.Version, now));
    }

    // ---- crashes, per unit ----

    /// <summary>A report's crashes and the units they are blamed on.</summary>
    private sealed record CrashMark(DateTimeOffset At, int Count, string[] Units, bool Named = false);

    /// <summary>Crash reports within the health window, newest last; null while the node has not crashed (most nodes never do).</summary>
    private List<CrashMark>? _crashes;
    private const int MaxCrashMarks = 64;

    /// <summary>
    /// Blames a report's crashes: on the units its entries name (<see cref="AppliedPackage.Crashes"/>) when it names any,
    /// else on the change the node applied last (<see cref="Attribution.Suspects"/>; several when they landed in the same
    /// slot and cannot be told apart), else on every unit it runs.
    /// </summary>
    private void MarkCrashes(NodeReport report, int crashes, DateTimeOffset now)
    {
        var named = report.Applied?.Where(a => a.Value.Crashes > 0).ToList();
        if (named is { Count: > 0 })
        {
            foreach (var (unit, package) in named)
            {
                Add(new CrashMark(now, Math.Min(crashes, package.Crashes), [unit], Named: true));
            }
            return;
        }
        var applies = Applies();
        var suspects = Attribution.Suspects(applies, now, _window.SlotTicks);
        Add(new CrashMark(now, crashes, [.. (suspects.Count > 0 ? suspects.Select(a => a.Unit) : State.Applied.Keys)]));

        void Add(CrashMark m)
        {
            _crashes ??= [];
            _crashes.RemoveAll(c => c.At <= now - _window.Span);
            if (_crashes.Count >= MaxCrashMarks)
            {
                _crashes.RemoveAt(0);
            }
            _crashes.Add(m);
        }
    }

    /// <summary>
    /// The units a breach is blamed on: those the agent named as crashing the node within the window (a process that
    /// crashes serves errors because of it), else the change applied last before the errors began (<see cref="Attribution.Blame"/>).
    /// </summary>
    private IReadOnlyList<string> BlameForErrors(NodeSample sample, Plans.Gates gates, DateTimeOffset now)
    {
        return NamedCrashes(now) is { Count: > 0 } named ? named : Attribution.Blame(sample, gates);
    }

    /// <summary>The units the agent named as crashing the node within the window.</summary>
    private List<string> NamedCrashes(DateTimeOffset now) =>
        _crashes?.Where(c => c.Named && c.At > now - _window.Span).SelectMany(c => c.Units).Distinct(StringComparer.Ordinal).ToList() ?? [];

    /// <summary>The crashes since <paramref name="since"/> (within the window) blamed on <paramref name="unit"/>.</summary>
    private int CrashesOf(string unit, DateTimeOffset since, DateTimeOffset now)
    {
        if (_crashes is null)
        {
            return 0;
        }
        var total = 0;
        foreach (var mark in _crashes)
        {
            if (mark.At > now - _window.Span && mark.At >= since && mark.Units.Contains(unit))
            {
                total += mark.Count;
            }
        }
        return total;
    }

    private bool JoinedLate(string unit, DesiredPackage package) =>
        State.JoinedLate is { } late && late.GetValueOrDefault(unit)?.Package == package;

    /// <summary>
    /// Whether <paramref name="applied"/> refuses <paramref name="package"/>, read either way an agent may say it:
    /// <c>rejected</c> naming that package (the one refused), or <c>rejected</c> with an error naming another one,
    /// the package it kept, while it was told to run <paramref name="package"/>. Without the error, a refusal naming
    /// another version is a refusal of that version, not of this one.
    /// </summary>
    /// <example>
    /// Told v8, last ran v7. <c>{ version 8, rejected }</c> → refuses v8. <c>{ version 7, rejected, error "parse
    /// error at 3:14" }</c> → refuses v8 too. <c>{ version 7, rejected }</c> → refuses v7, says nothing of v8.
    /// </example>
    private bool Refuses(string unit, AppliedPackage applied, DesiredPackage package) =>
        applied.Status == ApplyStatus.Rejected &&
        (applied.Version == package.Version ||
         (applied.Error is { Length: > 0 } && _assignments.GetValueOrDefault(unit)?.Package == package));

    private static bool Runs(AppliedPackage applied, DesiredPackage package) =>
        applied.Version == package.Version && (applied.Sha256 is null || applied.Sha256 == package.Sha256);

    // ---- desired state ----

    /// <summary>
    /// For every unit whose targets match the node: its explicit assignment, else the unit's LKG; a unit with
    /// neither is absent. Stamped by <see cref="DesiredStamp"/>. Cached: the answer to nearly every report is the
    /// one before, and changes only with the catalog, the node's identity (its labels pick units) or its assignments.
    /// </summary>
    public DesiredState Desired(Catalog catalog)
    {
        if (_desired is { } cached && ReferenceEquals(cached.Catalog, catalog) && ReferenceEquals(cached.Identity, State.Identity) &&
            cached.Assignments == _assignmentsVersion)
        {
            return cached.State;
        }
        var desired = ComputeDesired(catalog);
        _desired = new DesiredCache(catalog, State.Identity, _assignmentsVersion, desired);
        return desired;
    }

    private sealed record DesiredCache(Catalog Catalog, NodeIdentity? Identity, long Assignments, DesiredState State);

    private DesiredState ComputeDesired(Catalog catalog)
    {
        var labels = State.Identity?.Labels ?? NoLabels;
        var units = new SortedDictionary<string, DesiredPackage>(StringComparer.Ordinal);
        foreach (var (unit, entry) in catalog.Units)
        {
            if (!entry.Targets.Matches(labels))
            {
                continue;
            }
            var package = _assignments.TryGetValue(unit, out var assignment) ? assignment.Package : entry.Lkg;
            if (package is not null)
            {
                units[unit] = package;
            }
        }
        return new DesiredState(units, DesiredStamp.Of(units));
    }

    // ---- drift ----

    /// <summary>
    /// Every unit the node should run or says it runs, against its desired package, for a PoP's drift scan; null
    /// for a node never enrolled. A desired state that changed since the last report starts its mark now (in
    /// memory only: a scan never writes).
    /// </summary>
    public NodeDriftFacts? DriftFacts(Catalog catalog, DateTimeOffset now)
    {
        if (State.Identity is not { } identity)
        {
            return null;
        }
        var desired = Desired(catalog).Units;
        MarkDrift(desired, now, remediation: false);
        var drift = State.Drift;
        var units = desired.Keys.Union(State.Applied.Keys).Order(StringComparer.Ordinal).Select(unit =>
        {
            var package = desired.GetValueOrDefault(unit);
            var applied = State.Applied.GetValueOrDefault(unit);
            var mark = drift.Marks.GetValueOrDefault(unit);
            return new UnitDriftFacts
            {
                Unit = unit,
                DesiredVersion = package?.Version,
                DesiredSha256 = package?.Sha256,
                Applied = applied?.Package,
                AppliedSince = applied?.Since,
                DivergedSince = mark?.Since,
                Attempts = mark?.Attempts ?? 0,
            };
        });
        return new NodeDriftFacts
        {
            Node = Id,
            Pop = identity.Pop,
            LastReportAt = drift.LastReportAt ?? State.FirstSeenAt,
            IntervalSeconds = drift.IntervalSeconds,
            Units = [.. units],
        };
    }

    /// <summary>Excluded for <paramref name="unit"/>: the node's reports say nothing about any package of it.</summary>
    public bool ExcludedFrom(string unit) => DriftRules.Excluded(State.Drift.Marks.GetValueOrDefault(unit), Drift);

    /// <summary>A report: the node is about to be told its desired state again, so each report is a remediation attempt.</summary>
    private void TrackDrift(Catalog catalog, double intervalSeconds, DateTimeOffset now)
    {
        State.Drift.LastReportAt = now;
        State.Drift.IntervalSeconds = intervalSeconds;
        MarkDrift(Desired(catalog).Units, now, remediation: true);
        if (State.Drift.Deferred.Count > 0 && TakeDeferred(now))
        {
            MarkDrift(Desired(catalog).Units, now, remediation: false);
            _writeBehind = true;
        }
    }

    /// <summary>Re-marks every desired unit and forgets units no longer desired.</summary>
    private void MarkDrift(IReadOnlyDictionary<string, DesiredPackage> desired, DateTimeOffset now, bool remediation)
    {
        foreach (var (unit, package) in desired)
        {
            MarkDrift(unit, package, now, remediation);
        }
        if (State.Drift.Marks.Count > 0)
        {
            foreach (var unit in State.Drift.Marks.Keys.Where(u => !desired.ContainsKey(u)).ToList())
            {
                MarkDrift(unit, null, now);
            }
        }
    }

    /// <summary>Re-marks one unit against <paramref name="package"/> (null: nothing desired).</summary>
    private void MarkDrift(string unit, DesiredPackage? package, DateTimeOffset now, bool remediation = false)
    {
        var marks = State.Drift.Marks;
        var before = marks.GetValueOrDefault(unit);
        var applied = State.Applied.GetValueOrDefault(unit)?.Package;
        var after = DriftRules.Track(before, package?.Version, package?.Sha256, applied, now, Grace, remediation);
        if (after is null)
        {
            marks.Remove(unit);
        }
        else
        {
            marks[unit] = after;
        }
        var wasExcluded = DriftRules.Excluded(before, Drift);
        var isExcluded = DriftRules.Excluded(after, Drift);
        if (!wasExcluded && isExcluded)
        {
            Raise(new NodeEvent.Excluded(unit, after!));
        }
        else if (wasExcluded && !isExcluded)
        {
            Raise(new NodeEvent.Readmitted(unit, after));
        }
    }

    private TimeSpan Grace => Drift.GraceFor(State.Drift.IntervalSeconds);

    /// <summary>What of the marks must survive a restart now (<see cref="DriftRules.Durable"/>).</summary>
    private Dictionary<string, DurableMark> DurableMarks(DateTimeOffset now)
    {
        Dictionary<string, DurableMark>? durable = null;
        foreach (var (unit, mark) in State.Drift.Marks)
        {
            if (DriftRules.Durable(mark, now, Grace, Drift) is { } stored)
            {
                (durable ??= new(StringComparer.Ordinal))[unit] = stored;
            }
        }
        return durable ?? NoMarks;
    }

    /// <summary>
    /// Writes behind when what must survive a restart changed since the last write: a node that converges within
    /// the grace never writes, so a wave of 10,000 nodes that all apply on time costs storage nothing.
    /// </summary>
    private void Checkpoint(DateTimeOffset now)
    {
        if (State.Drift.Marks.Count == 0 && _storedMarks.Count == 0)
        {
            return; // converged, and stored as converged: the common case
        }
        var durable = DurableMarks(now);
        if (durable.Count != _storedMarks.Count || durable.Any(d => !_storedMarks.TryGetValue(d.Key, out var stored) || stored != d.Value))
        {
            _storedMarks = durable;
            _writeBehind = true;
        }
    }

    /// <summary>
    /// A wave assignment for a unit the node is excluded for waits instead of being taken: the node is in an
    /// unknown state, and a new package would be judged on it. It waits whole, the package to go back to
    /// included, so that a node that takes it later and crashes on it is sent back at once like any other.
    /// True when the assignment was deferred.
    /// </summary>
    private bool DeferWhileExcluded(string unit, Assignment assignment)
    {
        if (!ExcludedFrom(unit))
        {
            return false;
        }
        var deferred = State.Drift.Deferred;
        if (deferred.GetValueOrDefault(unit) is { } known && known.Rollout == assignment.Rollout && known.Package == assignment.Package)
        {
            return true;
        }
        deferred[unit] = assignment;
        _writeBehind = true;
        Raise(new NodeEvent.Deferred(unit, assignment));
        return true;
    }

    /// <summary>A rollback reaches the node: an assignment it deferred must never be taken later.</summary>
    private void DropDeferred(string unit)
    {
        if (State.Drift.Deferred.Remove(unit))
        {
            _writeBehind = true;
        }
    }

    /// <summary>Takes the deferred assignments of units the node is no longer excluded for. True when it took any.</summary>
    private bool TakeDeferred(DateTimeOffset now)
    {
        var deferred = State.Drift.Deferred;
        var ready = deferred.Where(d => !ExcludedFrom(d.Key)).ToList();
        foreach (var (unit, assignment) in ready)
        {
            deferred.Remove(unit);
            var taken = assignment with { At = now };
            _assignments[unit] = taken;
            Raise(new NodeEvent.TookDeferred(unit, taken));
        }
        if (ready.Count > 0)
        {
            _window.CaptureBaseline(now);
            AssignmentsMoved();
        }
        return ready.Count > 0;
    }

    // ---- what the grain acts on ----

    /// <summary>What changed since the last call, for the grain to write, wake and tell; then forgets it.</summary>
    public NodeChanges Drain()
    {
        var changes = new NodeChanges(_writeBehind, _appliedChanged, _assignmentsChanged, _events);
        _writeBehind = _appliedChanged = _assignmentsChanged = false;
        _events = null;
        return changes;
    }

    private void Raise(NodeEvent e) => (_events ??= []).Add(e);

    private void AssignmentsMoved()
    {
        _assignmentsVersion++;
        _assignmentsChanged = true;
    }
}

/// <summary>What a node's health says about one package (<see cref="Node.Evidence"/>).</summary>
public readonly record struct NodeEvidence(NodeSample Sample, bool On, bool Rejected);
