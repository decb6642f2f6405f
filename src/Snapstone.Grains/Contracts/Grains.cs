using Snapstone.Domain.BreakGlass;
using Snapstone.Domain.Health;
using Snapstone.Domain.Incidents;
using Snapstone.Domain.Rollouts;
using Snapstone.Domain.Units;

namespace Snapstone.Grains;

// The cluster's own contracts: how grains fan out to one another, reserve, quarantine, record and append. They live
// here, in the grains' assembly, and not in Snapstone.Abstractions: an internal service references Snapstone.Client
// (and through it Snapstone.Abstractions) and so sees only the operations the HTTP gateway has, each of which checks
// its own rules. Each contract extends the public one of the same grain, so grain code holds one reference for both.

/// <summary>What rollouts and break-glass ask of a unit: reservation, quarantine, their outcomes, and its recovery after a restart.</summary>
[Alias("snapstone.IUnitRolloutsGrain")]
public interface IUnitRolloutsGrain : IUnitGrain
{
    /// <summary>
    /// Makes <paramref name="rollout"/> the unit's one active rollout of <paramref name="version"/>, refusing
    /// (409) a rejected, quarantined or current-LKG version and a second concurrent rollout.
    /// </summary>
    /// <remarks>With <paramref name="breakGlass"/> a quarantined version is allowed, and the unit remembers break-glass was used.</remarks>
    [Alias("ReserveRollout")]
    Task<RolloutTicket> ReserveRollout(string rollout, long version, bool breakGlass = false);

    /// <summary>
    /// Break-glass rollback, decided by <see cref="Domain.BreakGlass.InstantRollback"/> and acted on at once: the version
    /// taken back is quarantined and the target becomes the LKG, in memory now and stored (with the audit entry) as soon
    /// as storage answers. The same <paramref name="action"/> again answers the same decision.
    /// </summary>
    [Alias("PrepareRollback")]
    Task<BreakGlassReturn> PrepareRollback(string action, long? toVersion, string reason, string actor);

    /// <summary>
    /// Break-glass deploy: reserves the unit past freezes and quarantine (a version that failed validation is still
    /// refused), records it with its audit entry and starts the rollout on the emergency plan. Idempotent per action.
    /// </summary>
    [Alias("LaunchEmergency")]
    Task<RolloutView> LaunchEmergency(string action, long version, string reason, string actor);

    /// <summary>A rollout of this unit changed state; terminal states release the unit and may set its LKG.</summary>
    [Alias("RolloutChanged")]
    Task RolloutChanged(RolloutSummary summary);

    /// <summary>The version can never be rolled out again without break-glass.</summary>
    [Alias("Quarantine")]
    Task Quarantine(long version, string reason);

    /// <summary>Finishes what the unit left half-done before a restart: a recorded rollout start, unappended audit entries.</summary>
    [Alias("Wake")]
    Task Wake();
}

/// <summary>What the unit, nodes, break-glass and the start-up sweep ask of a rollout.</summary>
[Alias("snapstone.IRolloutRunnerGrain")]
public interface IRolloutRunnerGrain : IRolloutGrain
{
    /// <summary>Creates the rollout (idempotent: a second call with the same spec answers the first).</summary>
    [Alias("Start")]
    Task<RolloutView> Start(RolloutSpec spec, UnitTargets targets);

    /// <summary>
    /// A node that took this rollout's package crashed, rejected it or breached its gates: decide at once. Interleaves,
    /// so a tick waiting on storage never holds a rollback up.
    /// </summary>
    [Alias("Signal"), Orleans.Concurrency.AlwaysInterleave]
    Task Signal(NodeSignal signal);

    /// <summary>Break-glass sent every consumer elsewhere: the rollout ends aborted at once, sending nothing back itself.</summary>
    [Alias("StopForBreakGlass")]
    Task<RolloutView> StopForBreakGlass(string action, string by, string reason, string target);

    /// <summary>Makes sure an unfinished rollout is ticking (after a restart).</summary>
    [Alias("Wake")]
    Task Wake();

    /// <summary>
    /// An external alert that names this rollout, decided by <see cref="Domain.Alarms.AlarmRules.Decide"/>: a rollback
    /// exactly as a failing wave starts one (quarantine, incident, every touched node sent back at once), a pause, or,
    /// for a resolved alert, a timeline entry; each audited. The same delivery again answers <c>none</c>. Interleaves,
    /// so an alarm is acted on even while a tick waits on storage.
    /// </summary>
    [Alias("Alarm"), Orleans.Concurrency.AlwaysInterleave]
    Task<Domain.Alarms.AlarmEffect> Alarm(RolloutAlarm alarm);
}

/// <summary>
/// Where an alert from a monitoring system goes, keyed by its fingerprint: finds the active rollouts it names (a unit's,
/// those whose cohort touches its PoPs or regions, or all of them) and hands it to each, one alert per call. Remembers
/// the rollouts one firing acted on, so its resolution is recorded on them even once they have finished.
/// </summary>
[Alias("snapstone.IAlarmGrain")]
public interface IAlarmGrain : IGrainWithStringKey
{
    [Alias("Receive")]
    Task<Domain.Alarms.AlarmOutcome> Receive(Domain.Alarms.Alert alert, string actor);
}

/// <summary>The catalog as units write it and silo caches follow it.</summary>
[Alias("snapstone.ICatalogWriterGrain")]
public interface ICatalogWriterGrain : ICatalogGrain
{
    [Alias("Upsert")]
    Task Upsert(CatalogEntry entry);

    /// <summary>Registers a silo's cache for pushed updates and answers the current catalog.</summary>
    [Alias("Subscribe"), Orleans.Concurrency.AlwaysInterleave]
    Task<Catalog> Subscribe(string cache);
}

/// <summary>
/// A per-silo copy of the catalog (keyed by the silo's address, placed on it) so node reports never all call
/// one grain. The catalog pushes every change to each cache before the change is acknowledged, so a unit or
/// LKG is visible to every node's next report; a periodic refresh repairs a cache that missed a push. Reports go
/// on using a copy whose refresh has not come back for up to <c>Snapstone:Catalog:StaleSeconds</c>.
/// </summary>
[Alias("snapstone.ICatalogCacheGrain")]
public interface ICatalogCacheGrain : IGrainWithStringKey
{
    [Alias("Get")]
    Task<Catalog> Get(IReadOnlyCollection<string>? mustKnow);

    [Alias("Update")]
    Task Update(Catalog catalog);
}

/// <summary>What PoPs (for rollouts and break-glass) and drift scans ask of a node.</summary>
[Alias("snapstone.INodeFanOutGrain")]
public interface INodeFanOutGrain : INodeHealthGrain
{
    /// <summary>A rollout tells the node to run a package (idempotent); the node's baseline is captured now.</summary>
    [Alias("Assign")]
    Task Assign(NodeAssignment assignment);

    /// <summary>
    /// A rollback tells the node to return to <paramref name="previous"/> (null: drop the assignment and follow the LKG).
    /// True when the node was running <paramref name="from"/>, the package rolled back.
    /// </summary>
    [Alias("ReturnTo")]
    Task<bool> ReturnTo(string rollout, string unit, DesiredPackage? previous, DesiredPackage from);

    /// <summary>The node's health as evidence about <paramref name="package"/> of <paramref name="unit"/>.</summary>
    [Alias("Observe")]
    Task<NodeObservation> Observe(string unit, DesiredPackage package);

    /// <summary>
    /// As <see cref="Observe"/>, for a wave's look at its cohort or sampled control: from its next report on, the node also pushes the same observation
    /// to its PoP with each report (<see cref="IPopFanOutGrain.Observed"/>) until the PoP says it no longer watches it.
    /// </summary>
    [Alias("Watch")]
    Task<NodeObservation> Watch(string unit, DesiredPackage package);

    /// <summary>Every unit the node should run or says it runs, against its desired package; null for an unknown node.</summary>
    [Alias("DriftFacts")]
    Task<Domain.Drift.NodeDriftFacts?> DriftFacts();
}

/// <summary>The second level of every fan-out (rollout or break-glass → PoPs → nodes), and the PoP's order ledger.</summary>
[Alias("snapstone.IPopFanOutGrain")]
public interface IPopFanOutGrain : IPopGrain
{
    /// <summary>Tells the PoP's consumers whose first wave is the order's wave to run the package; counts the cumulative cohort.</summary>
    [Alias("AssignWave")]
    Task<WaveAssignment> AssignWave(WaveOrder order);

    /// <summary>Samples the cohort (first wave ≤ the order's wave) and the control group (the rest of the consumers).</summary>
    [Alias("ObserveWave")]
    Task<WaveEvidence> ObserveWave(WaveOrder order);

    /// <summary>Sends every consumer whose first wave is ≤ the order's wave back to the previous package; counts them.</summary>
    [Alias("RollBack")]
    Task<RollbackSent> RollBack(WaveOrder order);

    /// <summary>Break-glass: every consumer of the unit to the return's package at once, recorded in the ledger.</summary>
    [Alias("ReturnAll")]
    Task<RollbackSent> ReturnAll(UnitReturn order);

    /// <summary>Counts the consumers a break-glass return sent back and how many confirmed its package.</summary>
    [Alias("ObserveReturn")]
    Task<RollbackConfirmations> ObserveReturn(UnitReturn order);

    /// <summary>Counts the rolled-back nodes and how many confirmed the previous package.</summary>
    [Alias("ObserveRollback")]
    Task<RollbackConfirmations> ObserveRollback(WaveOrder order);

    /// <summary>What the PoP's order ledger says <paramref name="node"/> was told, per unit; read by a node grain as it activates.</summary>
    [Alias("OrdersFor")]
    Task<IReadOnlyList<NodeOrder>> OrdersFor(string node);

    /// <summary>
    /// Whether <paramref name="node"/> is a member (from memory, no storage): asked by a node grain activated by a report
    /// naming this PoP, which reads its own row only for a node the PoP knows.
    /// </summary>
    [Alias("Knows")]
    Task<bool> Knows(string node);

    /// <summary>
    /// A member's observations as of its latest report, of packages a wave tick asked it to watch
    /// (<see cref="INodeFanOutGrain.Watch"/>); answers the units of those the PoP no longer watches, which the node
    /// stops pushing.
    /// </summary>
    [Alias("Observed")]
    Task<IReadOnlyList<string>> Observed(string node, IReadOnlyList<PushedObservation> observations);
}

/// <summary>The one way onto the audit chain: a change's intent, appended at most once.</summary>
[Alias("snapstone.IAuditWriterGrain")]
public interface IAuditWriterGrain : IAuditGrain
{
    /// <summary>Appends the intent's entry, or answers the entry it already has: an intent is chained at most once.</summary>
    [Alias("Append")]
    Task<Snapstone.Domain.Audit.AuditEntry> Append(Snapstone.Domain.Audit.AuditIntent intent);
}

/// <summary>What break-glass actions and the start-up sweep ask of the control grain.</summary>
[Alias("snapstone.IControlWriterGrain")]
public interface IControlWriterGrain : IControlGrain
{
    /// <summary>Records a freeze (replacing the unit's, or the global, one) with its audit entry; in force at once, stored as soon as storage answers.</summary>
    [Alias("Put")]
    Task<Freeze> Put(Freeze freeze, string action);

    /// <summary>Lifts the freeze of <paramref name="unit"/> (null: the global one) with its audit entry; null when there is none.</summary>
    [Alias("Remove")]
    Task<Freeze?> Remove(string? unit, string actor, string action);

    /// <summary>Wakes every active rollout the freeze covers, so it takes the freeze (or its end) into account now.</summary>
    [Alias("Nudge")]
    Task Nudge(Freeze freeze);

    /// <summary>Remembers an unfinished break-glass action, for the start-up sweep; <see cref="Done"/> forgets it.</summary>
    [Alias("Track")]
    Task Track(string action);

    [Alias("Done")]
    Task Done(string action);

    [Alias("OpenActions"), Orleans.Concurrency.AlwaysInterleave]
    Task<IReadOnlyList<string>> OpenActions();
}

/// <summary>What the start-up sweep and the reminder ask of a break-glass action.</summary>
[Alias("snapstone.IBreakGlassRunnerGrain")]
public interface IBreakGlassRunnerGrain : IBreakGlassGrain
{
    /// <summary>Finishes the action if it is not done (after a restart).</summary>
    [Alias("Wake")]
    Task Wake();
}

/// <summary>Incidents as Snapstone itself opens and updates them (no audit entry: the change that opened them has its own).</summary>
[Alias("snapstone.IIncidentWriterGrain")]
public interface IIncidentWriterGrain : IIncidentGrain
{
    /// <summary>Opens the incident (idempotent: an open one answers itself).</summary>
    [Alias("Open")]
    Task<Incident> Open(Incident incident);

    /// <summary>Adds a timeline update from Snapstone itself; refused (404) for an incident never opened.</summary>
    [Alias("Update")]
    Task<Incident> Update(IncidentStatus status, string message, string by);
}

/// <summary>Events as rollouts and incidents publish them to the configured notifications.</summary>
[Alias("snapstone.INotificationPublisherGrain")]
public interface INotificationPublisherGrain : INotificationRegistryGrain
{
    /// <summary>
    /// Queues one persisted, retried delivery per notification that wants the event. One-way: the publisher (a
    /// rollout in the middle of a rollback) never waits for it, not even for its acknowledgement.
    /// </summary>
    [Alias("Publish"), Orleans.Concurrency.AlwaysInterleave, Orleans.Concurrency.OneWay]
    Task Publish(Snapstone.Domain.Notifications.NotificationEvent e);

    /// <summary>The notification's current url and sealed secret, for a delivery about to send; null once it is deleted.</summary>
    [Alias("Target"), Orleans.Concurrency.AlwaysInterleave]
    Task<DeliveryTarget?> Target(string name);
}

/// <summary>Events as incidents publish them to the configured webhooks.</summary>
[Alias("snapstone.IWebhookPublisherGrain")]
public interface IWebhookPublisherGrain : IWebhookRegistryGrain
{
    /// <summary>Queues one delivery per interested webhook; returns at once (never waits on a receiver).</summary>
    [Alias("Publish"), Orleans.Concurrency.AlwaysInterleave]
    Task Publish(WebhookEvent e);

    /// <summary>The webhook's current url and sealed secret, for a delivery about to send; null once it is deleted.</summary>
    [Alias("Target"), Orleans.Concurrency.AlwaysInterleave]
    Task<DeliveryTarget?> Target(string name);
}

/// <summary>One delivery of one event to one webhook, retried with backoff until it succeeds. Keyed by delivery id.</summary>
[Alias("snapstone.IWebhookDeliveryGrain")]
public interface IWebhookDeliveryGrain : IGrainWithStringKey
{
    /// <summary>Persists the event for <paramref name="receiver"/> (never its url or secret) and attempts it; a repeat is a no-op.</summary>
    [Alias("Deliver")]
    Task Deliver(DeliveryReceiver receiver, WebhookEvent e);

    [Alias("Status"), Orleans.Concurrency.AlwaysInterleave]
    Task<DeliveryStatus?> Status();
}

/// <summary>
/// One receiver's circuit breaker, as deliveries use it: ask before each attempt, report each outcome. Stored (a few
/// fields, written when the circuit changes): an open circuit stays open across a restart. Keyed as <see cref="IReceiverCircuitGrain"/>.
/// </summary>
[Alias("snapstone.IReceiverBreakerGrain")]
public interface IReceiverBreakerGrain : IReceiverCircuitGrain
{
    [Alias("Ask")]
    Task<Snapstone.Domain.Webhooks.CircuitPermit> Ask();

    /// <summary>Null for a delivered attempt; otherwise its error.</summary>
    [Alias("Report")]
    Task Report(string? error);

    /// <summary>The receiver was deleted: its stored circuit goes with it (a receiver defined later under the name starts closed).</summary>
    [Alias("Forget")]
    Task Forget();
}

/// <summary>
/// How many nodes one agent token has enrolled, per PoP, for its limit. Keyed by token name. Internal to the cluster
/// (not in Snapstone.Abstractions): PoP grains admit and recount through it; nothing outside the cluster calls it.
/// </summary>
[Alias("snapstone.IAgentGrain")]
public interface IAgentGrain : IGrainWithStringKey
{
    /// <summary>Counts one more of the token's nodes in <paramref name="pop"/>, or refuses (403) when it has <paramref name="limit"/> already.</summary>
    [Alias("Admit")]
    Task Admit(string pop, string node, int limit);

    /// <summary><paramref name="pop"/> holds <paramref name="count"/> of the token's nodes now: the absolute count, which corrects any drift.</summary>
    [Alias("Counted")]
    Task Counted(string pop, int count);

    /// <summary>The token's enrolled nodes, over every PoP.</summary>
    [Alias("Enrolled")]
    Task<int> Enrolled();
}
