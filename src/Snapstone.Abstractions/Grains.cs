using Snapstone.Domain.Health;
using Snapstone.Domain.Nodes;
using Snapstone.Domain.Plans;
using Snapstone.Domain.Rollouts;
using Snapstone.Domain.Units;

namespace Snapstone;

/// <summary>One unit: its definition, its package index, LKG and quarantine list. Keyed by unit name.</summary>
[Alias("snapstone.IUnitGrain")]
public interface IUnitGrain : IGrainWithStringKey
{
    /// <summary>
    /// Defines or redefines the unit. A redefinition that lowers its risk tier or failure-mode severity, or removes or
    /// loosens a validator, waits as the unit's pending change for another token's approval.
    /// </summary>
    [Alias("Define")]
    Task<UnitView> Define(UnitDefinition definition, string actor);

    /// <summary>Applies the unit's pending change; refused (403) to the token that requested it, 409 when none is pending.</summary>
    [Alias("ApproveDefinition")]
    Task<UnitView> ApproveDefinition(string actor, string? reason);

    /// <summary>The unit, or null when it was never defined.</summary>
    [Alias("Get")]
    Task<UnitView?> Get();

    /// <summary>Validates, assigns the next version and stores the package, passed or not.</summary>
    [Alias("CreatePackage")]
    Task<PackageView> CreatePackage(PackageDraft draft, string actor);

    /// <summary>Runs every check <see cref="CreatePackage"/> runs and stores nothing.</summary>
    [Alias("ValidatePackage")]
    Task<PackageView> ValidatePackage(PackageDraft draft, string actor);

    /// <summary>
    /// A package's record (immutable once stored) and its state now. Interleaves with the unit's other calls: every
    /// PoP's drift scan looks its nodes' packages up here, and those reads must not queue a rollout's start behind them.
    /// </summary>
    [Alias("GetPackage"), Orleans.Concurrency.AlwaysInterleave]
    Task<PackageView?> GetPackage(long version);

    /// <summary>Packages from newest to oldest, starting below <paramref name="before"/> (null: from the newest).</summary>
    [Alias("ListPackages")]
    Task<IReadOnlyList<PackageView>> ListPackages(long? before, int limit);

    /// <summary>
    /// Starts a rollout, every rule checked here: the request's shape, an idempotency key's earlier use (the same
    /// request answers its rollout, a different one is 422), freezes, the plan (the <c>emergency</c> plan is for
    /// break-glass only; a high-risk change gets at least <c>high-risk</c>), the package (rejected, quarantined or
    /// the LKG is 409) and the unit's one active rollout. The reservation, the start and its audit entry are one
    /// sequence the unit owns: a crash part-way is finished when the unit next wakes.
    /// </summary>
    [Alias("StartRollout")]
    Task<RolloutStart> StartRollout(RolloutRequest request, string actor);

    [Alias("Rollouts")]
    Task<IReadOnlyList<RolloutSummary>> Rollouts();

    /// <summary>The unit's risk, its newest package's risk and its recent rollouts; null when not defined.</summary>
    [Alias("Pipeline")]
    Task<PipelineView?> Pipeline();
}

/// <summary>One rollout: spec and status, walked wave by wave by a timer, kept alive by a reminder. Keyed by rollout id.</summary>
[Alias("snapstone.IRolloutGrain")]
public interface IRolloutGrain : IGrainWithStringKey
{
    /// <summary>Interleaves: a read never waits behind a tick, and the unit grain may ask while the rollout is telling it something.</summary>
    [Alias("Get"), Orleans.Concurrency.AlwaysInterleave]
    Task<RolloutView?> Get();

    [Alias("Approve")]
    Task<RolloutView> Approve(string actor, string? reason);

    [Alias("Pause")]
    Task<RolloutView> Pause(string actor, string? reason);

    [Alias("Resume")]
    Task<RolloutView> Resume(string actor, string? reason);

    [Alias("Abort")]
    Task<RolloutView> Abort(string actor, string? reason);

    /// <summary>Answers when more than <paramref name="seen"/> timeline entries were ever appended (<see cref="Snapstone.Domain.Rollouts.RolloutStatus.TimelineTotal"/>), the rollout ends, or <paramref name="wait"/> passes.</summary>
    [Alias("WaitForTimeline"), Orleans.Concurrency.AlwaysInterleave]
    Task<RolloutView?> WaitForTimeline(int seen, TimeSpan wait);
}

/// <summary>The index of all units and their LKGs. Singleton, key <see cref="Key"/>.</summary>
[Alias("snapstone.ICatalogGrain")]
public interface ICatalogGrain : IGrainWithStringKey
{
    public const string Key = "catalog";

    [Alias("Get"), Orleans.Concurrency.AlwaysInterleave]
    Task<Catalog> Get();
}

/// <summary>Serves package content; immutable, so each silo caches it. Keyed by unit name.</summary>
[Alias("snapstone.IPackageContentGrain")]
public interface IPackageContentGrain : IGrainWithStringKey
{
    /// <summary>The exact bytes of a version, or null when there is no such package.</summary>
    [Alias("Get")]
    Task<byte[]?> Get(long version);
}

/// <summary>A named plan. Built-in plans are not grains. Keyed by plan name.</summary>
[Alias("snapstone.IPlanGrain")]
public interface IPlanGrain : IGrainWithStringKey
{
    [Alias("Define")]
    Task<PlanView> Define(Plan plan, string actor);

    [Alias("Get")]
    Task<PlanView?> Get();
}

/// <summary>One edge node: identity, desired and applied packages, recent health. Keyed by node id.</summary>
[Alias("snapstone.INodeHealthGrain")]
public interface INodeHealthGrain : IGrainWithStringKey
{
    /// <summary>
    /// Ingests a report (already checked by <see cref="Domain.Nodes.ReportRules"/> and against <paramref name="agent"/>'s
    /// binding) and answers the desired state. <paramref name="agent"/> is the token it came with (null: an internal
    /// caller), which a node enrolling counts against.
    /// </summary>
    [Alias("Report")]
    Task<DesiredState> Report(NodeReport report, AgentToken? agent = null);

    [Alias("GetView")]
    Task<NodeView?> GetView();

    /// <summary>
    /// An operator enrols the node, or re-enrols it with a new identity (a report cannot change it): its PoP
    /// membership moves with it and it takes its new PoP's orders. Answers the node's view.
    /// </summary>
    [Alias("Enrol")]
    Task<NodeView> Enrol(NodeIdentity identity, string actor);

    /// <summary>
    /// Waits until the desired state differs from <paramref name="stamp"/> or <paramref name="wait"/> passes,
    /// then answers the current desired state.
    /// </summary>
    [Alias("WaitForDesired"), Orleans.Concurrency.AlwaysInterleave]
    Task<DesiredState?> WaitForDesired(long stamp, TimeSpan wait);
}

/// <summary>The nodes of one PoP with their identities; fan-out point for waves and scans. Keyed by PoP id.</summary>
[Alias("snapstone.IPopGrain")]
public interface IPopGrain : IGrainWithStringKey
{
    /// <summary>
    /// Admits <paramref name="node"/> (or, for a member, records that it is alive, or changes the identity an operator
    /// re-enrolled it with). Refuses a new member past the PoP's limit, <paramref name="agent"/>'s limit or, for a new
    /// PoP, the fleet's. True when the node joined: it takes the PoP's orders as a late joiner.
    /// </summary>
    [Alias("Register")]
    Task<bool> Register(string node, NodeIdentity identity, AgentToken? agent);

    [Alias("Unregister")]
    Task Unregister(string node);

    [Alias("Summary")]
    Task<PopSummary> Summary();

    /// <summary>How many of the PoP's nodes match <paramref name="targets"/>, and how many nodes it has.</summary>
    [Alias("Consumers")]
    Task<(int Matching, int Total)> Consumers(UnitTargets targets);

    /// <summary>The PoP's node ids, in order; what its drift scan asks.</summary>
    [Alias("Members")]
    Task<IReadOnlyList<string>> Members();
}

/// <summary>The tamper-evident log of every write. Singleton, key <see cref="Key"/>.</summary>
[Alias("snapstone.IAuditGrain")]
public interface IAuditGrain : IGrainWithStringKey
{
    public const string Key = "audit";

    /// <summary>Entries after sequence <paramref name="afterSeq"/> (and at or after <paramref name="since"/>), oldest first.</summary>
    [Alias("Read"), Orleans.Concurrency.AlwaysInterleave]
    Task<IReadOnlyList<Snapstone.Domain.Audit.AuditEntry>> Read(long afterSeq, DateTimeOffset? since, int limit);

    /// <summary>Recomputes the whole chain from storage and checks the stored head against its last entry.</summary>
    [Alias("Verify"), Orleans.Concurrency.AlwaysInterleave]
    Task<AuditVerification> Verify();
}

/// <summary>The outcome of recomputing the chain: how many entries, and the first broken link if any.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.AuditVerification")]
public sealed record AuditVerification([property: Id(0)] long Entries, [property: Id(1)] Snapstone.Domain.Audit.ChainBreak? FirstBroken)
{
    public bool Valid => FirstBroken is null;

    /// <summary>Verified under the configured audit key (HMAC-SHA256), not plain SHA-256.</summary>
    [Id(2)] public bool Keyed { get; init; }
}

/// <summary>The PoP index and fleet totals. Singleton, key <see cref="Key"/>.</summary>
[Alias("snapstone.IFleetGrain")]
public interface IFleetGrain : IGrainWithStringKey
{
    public const string Key = "fleet";

    /// <summary>Lists a PoP; refuses a new one past the fleet's limit (<c>Snapstone:Nodes:MaxPops</c>).</summary>
    [Alias("RegisterPop")]
    Task RegisterPop(string pop, string region);

    /// <summary>Removes a PoP with no members and no wave orders from the index.</summary>
    [Alias("UnregisterPop")]
    Task UnregisterPop(string pop);

    [Alias("Pops")]
    Task<IReadOnlyList<string>> Pops();

    [Alias("Summary")]
    Task<FleetSummary> Summary();

    /// <summary>Share of the fleet's nodes whose labels match <paramref name="targets"/>; null for an empty fleet.</summary>
    [Alias("ConsumerShare")]
    Task<double?> ConsumerShare(UnitTargets targets);
}
