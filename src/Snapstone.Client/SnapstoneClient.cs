using System.Security.Cryptography;
using System.Text;
using Snapstone.Domain;
using Snapstone.Domain.Nodes;
using Snapstone.Domain.Plans;
using Snapstone.Domain.Rollouts;
using Snapstone.Domain.Units;

namespace Snapstone.Client;

/// <summary>
/// Every Snapstone operation, typed. Internal services use it through the embedded Orleans client; the HTTP
/// gateway uses this same class, so both paths run the same checks. Refusals are <see cref="SnapstoneException"/>s.
/// </summary>
public sealed partial class SnapstoneClient(IGrainFactory grains, TimeProvider time, Microsoft.Extensions.Options.IOptions<ReportOptions> reportOptions)
{
    private readonly double _maxRequestsPerSecond = reportOptions.Value.MaxRequestsPerSecond;

    public const int MaxListLimit = 200;
    public const int MaxBatchReports = 5000;
    public static readonly TimeSpan MaxDesiredWait = TimeSpan.FromSeconds(25);

    // ---- units ----

    public async Task<UnitView> DefineUnitAsync(string unit, UnitDefinition definition, string actor)
    {
        SnapstoneException.ThrowIfBadName("unit", unit);
        if (UnitRules.Check(definition) is { Count: > 0 } errors)
        {
            throw SnapstoneException.Invalid(errors);
        }
        return await grains.GetGrain<IUnitGrain>(unit).Define(definition, actor);
    }

    /// <summary>A second person approves the unit's pending (weakening) change.</summary>
    public async Task<UnitView> ApproveUnitChangeAsync(string unit, string actor, string? reason)
    {
        SnapstoneException.ThrowIfBadName("unit", unit);
        return await grains.GetGrain<IUnitGrain>(unit).ApproveDefinition(actor, reason);
    }

    public async Task<UnitView> GetUnitAsync(string unit)
    {
        SnapstoneException.ThrowIfBadName("unit", unit);
        return await grains.GetGrain<IUnitGrain>(unit).Get() ?? throw UnitNotFound(unit);
    }

    public async Task<IReadOnlyList<UnitView>> ListUnitsAsync()
    {
        var catalog = await grains.GetGrain<ICatalogGrain>(ICatalogGrain.Key).Get();
        var units = await Task.WhenAll(catalog.Units.Keys.Order(StringComparer.Ordinal).Select(u => grains.GetGrain<IUnitGrain>(u).Get()));
        return [.. units.OfType<UnitView>()];
    }

    // ---- plans ----

    public async Task<PlanView> DefinePlanAsync(string plan, Plan definition, string actor)
    {
        SnapstoneException.ThrowIfBadName("plan", plan);
        if (BuiltInPlans.Find(plan) is not null)
        {
            throw SnapstoneException.Conflict($"plan '{plan}' is built in and cannot be redefined; define a plan under another name");
        }
        return await grains.GetGrain<IPlanGrain>(plan).Define(definition, actor);
    }

    public async Task<PlanView> GetPlanAsync(string plan)
    {
        SnapstoneException.ThrowIfBadName("plan", plan);
        if (BuiltInPlans.Find(plan) is { } builtIn)
        {
            return new PlanView(plan, builtIn, true, "snapstone", null);
        }
        return await grains.GetGrain<IPlanGrain>(plan).Get()
            ?? throw SnapstoneException.NotFound($"plan '{plan}' is not defined");
    }

    // ---- packages ----

    /// <summary>Creates a package. A package that fails validation is stored too and comes back with state <see cref="PackageState.Rejected"/>.</summary>
    public async Task<PackageView> CreatePackageAsync(string unit, PackageDraft draft, string actor)
    {
        CheckDraft(unit, draft);
        return await grains.GetGrain<IUnitGrain>(unit).CreatePackage(draft, actor);
    }

    /// <summary>The checks of <see cref="CreatePackageAsync"/> without storing anything; the version is 0.</summary>
    public async Task<PackageView> ValidatePackageAsync(string unit, PackageDraft draft, string actor)
    {
        CheckDraft(unit, draft);
        return await grains.GetGrain<IUnitGrain>(unit).ValidatePackage(draft, actor);
    }

    public async Task<PackageView> GetPackageAsync(string unit, long version)
    {
        SnapstoneException.ThrowIfBadName("unit", unit);
        var grain = grains.GetGrain<IUnitGrain>(unit);
        return await grain.GetPackage(version) ?? throw await PackageNotFound(grain, unit, version);
    }

    public async Task<byte[]> GetPackageContentAsync(string unit, long version)
    {
        SnapstoneException.ThrowIfBadName("unit", unit);
        return await grains.GetGrain<IPackageContentGrain>(unit).Get(version)
            ?? throw await PackageNotFound(grains.GetGrain<IUnitGrain>(unit), unit, version);
    }

    public async Task<IReadOnlyList<PackageView>> ListPackagesAsync(string unit, long? before = null, int limit = 50)
    {
        SnapstoneException.ThrowIfBadName("unit", unit);
        if (limit < 1 || limit > MaxListLimit)
        {
            throw SnapstoneException.Invalid($"limit must be between 1 and {MaxListLimit} (got {limit})");
        }
        var grain = grains.GetGrain<IUnitGrain>(unit);
        _ = await grain.Get() ?? throw UnitNotFound(unit);
        return await grain.ListPackages(before, limit);
    }

    // ---- nodes ----

    /// <summary>
    /// Ingests one report and answers the node's desired state; a report that breaks a rule (the traffic ceiling
    /// of <see cref="ReportOptions"/> included), or that
    /// <paramref name="agent"/>'s binding does not cover (403), faults the task with the reason. Not an async method:
    /// a batch calls it once per report.
    /// </summary>
    public Task<DesiredState> ReportAsync(NodeReport report, AgentToken? agent = null) =>
        ReportRules.Check(report, _maxRequestsPerSecond) is { } error
            ? Task.FromException<DesiredState>(SnapstoneException.Invalid(error))
            : agent?.Refusal(report.Node!, report.Pop!) is { } unbound
                ? Task.FromException<DesiredState>(new SnapstoneException(Domain.ProblemKind.Forbidden, unbound))
                : PopContext.Call(report.Pop!, () => grains.ByKey<INodeHealthGrain>(report.Node!).Report(report, agent));

    /// <summary>
    /// Ingests many reports at once; each slot holds the desired state or the reason that report was refused. Every
    /// report of a node named more than once is refused: which of them is the node's state would be a guess. The
    /// node grains are called all at once, with no state machine of its own per report.
    /// </summary>
    public async Task<IReadOnlyList<ReportResult>> ReportBatchAsync(IReadOnlyList<NodeReport?> reports, AgentToken? agent = null)
    {
        if (reports.Count > MaxBatchReports)
        {
            throw SnapstoneException.Invalid($"reports may hold at most {MaxBatchReports} reports (got {reports.Count})");
        }
        var named = new Dictionary<string, int>(reports.Count, StringComparer.Ordinal);
        foreach (var report in reports)
        {
            if (report?.Node is { } node)
            {
                named[node] = named.GetValueOrDefault(node) + 1;
            }
        }
        var results = new ReportResult[reports.Count];
        var calls = new Task<DesiredState>?[reports.Count];
        for (var i = 0; i < reports.Count; i++)
        {
            var report = reports[i];
            if (report is null)
            {
                results[i] = new ReportResult(null, null, "report must be an object", ProblemKind.Invalid);
            }
            else if (report.Node is { } node && named[node] > 1)
            {
                results[i] = new ReportResult(node, null, $"node '{node}' appears more than once in this batch", ProblemKind.Invalid);
            }
            else
            {
                calls[i] = ReportAsync(report, agent);
            }
        }
        try
        {
            await Task.WhenAll(calls.OfType<Task<DesiredState>>());
        }
        catch (Exception)
        {
            // Each call's outcome is read below: a refused report fails its own slot, anything else the batch.
        }
        for (var i = 0; i < calls.Length; i++)
        {
            if (calls[i] is not { } call)
            {
                continue;
            }
            if (call.IsCompletedSuccessfully)
            {
                results[i] = new ReportResult(reports[i]!.Node, call.Result, null);
            }
            else if (call.Exception?.InnerException is SnapstoneException refused)
            {
                results[i] = new ReportResult(reports[i]!.Node, null, refused.Message, refused.Kind);
            }
            else
            {
                await call; // rethrows what failed the call, with its own stack
            }
        }
        return results;
    }

    public async Task<NodeView> GetNodeAsync(string node)
    {
        SnapstoneException.ThrowIfBadName("node", node);
        return await grains.ByKey<INodeHealthGrain>(node).GetView() ?? throw NodeNotFound(node);
    }

    /// <summary>
    /// Long-polls: answers as soon as the desired state differs from the one stamped <paramref name="stamp"/>,
    /// or after <paramref name="wait"/> (at most <see cref="MaxDesiredWait"/>). A null stamp answers at once.
    /// </summary>
    public async Task<DesiredState> WaitForDesiredAsync(string node, long? stamp, TimeSpan wait)
    {
        SnapstoneException.ThrowIfBadName("node", node);
        if (wait < TimeSpan.Zero || wait > MaxDesiredWait)
        {
            throw SnapstoneException.Invalid($"waitSeconds must be between 0 and {MaxDesiredWait.TotalSeconds} (got {wait.TotalSeconds})");
        }
        return await grains.ByKey<INodeHealthGrain>(node).WaitForDesired(stamp ?? -1, stamp is null ? TimeSpan.Zero : wait)
            ?? throw NodeNotFound(node);
    }

    /// <summary>Nodes per PoP, region and tier, with the fleet's drift as of its last check (at most one drift scan interval old).</summary>
    public async Task<FleetSummary> GetFleetAsync()
    {
        var summary = grains.GetGrain<IFleetGrain>(IFleetGrain.Key).Summary();
        var drift = grains.GetGrain<IFleetDriftGrain>(IFleetDriftGrain.Key).Latest();
        return (await summary) with { Drift = await drift };
    }

    /// <summary>Every unit ranked by risk (highest first), with reasons, recent rollouts and break-glass use.</summary>
    public async Task<IReadOnlyList<PipelineView>> RiskPipelinesAsync()
    {
        var catalog = await grains.GetGrain<ICatalogGrain>(ICatalogGrain.Key).Get();
        var pipelines = await Task.WhenAll(catalog.Units.Keys.Select(u => grains.GetGrain<IUnitGrain>(u).Pipeline()));
        return [.. pipelines.OfType<PipelineView>().OrderByDescending(p => p.RankScore).ThenBy(p => p.Unit.Name, StringComparer.Ordinal)];
    }

    // ---- rollouts ----

    public static readonly TimeSpan MaxTimelineWait = TimeSpan.FromSeconds(25);

    /// <summary>
    /// Starts a rollout, or answers the one an earlier request with the same idempotency key started
    /// (<c>Created</c> false). One call: the unit checks every rule and owns the sequence (see <see cref="IUnitGrain.StartRollout"/>).
    /// </summary>
    public async Task<(RolloutView Rollout, bool Created)> StartRolloutAsync(RolloutRequest request, string actor)
    {
        if (request.Problems() is { Count: > 0 } problems)
        {
            throw SnapstoneException.Invalid(problems);
        }
        var (rollout, created) = await grains.GetGrain<IUnitGrain>(request.Unit).StartRollout(request, actor);
        return (rollout, created);
    }

    public async Task<RolloutView> GetRolloutAsync(string id) =>
        await Rollout(id).Get() ?? throw RolloutNotFound(id);

    /// <summary>Rollouts newest first, of one unit or of all, optionally only those in <paramref name="state"/>.</summary>
    public async Task<IReadOnlyList<RolloutSummary>> ListRolloutsAsync(string? unit, RolloutState? state, int limit = 100)
    {
        IEnumerable<string> units;
        if (unit is not null)
        {
            SnapstoneException.ThrowIfBadName("unit", unit);
            units = [unit];
        }
        else
        {
            units = (await grains.GetGrain<ICatalogGrain>(ICatalogGrain.Key).Get()).Units.Keys;
        }
        var histories = await Task.WhenAll(units.Select(u => grains.GetGrain<IUnitGrain>(u).Rollouts()));
        return [.. histories.SelectMany(h => h)
            .Where(r => state is null || r.State == state)
            .OrderByDescending(r => r.CreatedAt)
            .Take(Math.Clamp(limit, 1, MaxListLimit))];
    }

    // Each command is one call: the rollout grain checks it, records it with its audit entry, and acts.

    public Task<RolloutView> ApproveRolloutAsync(string id, string actor, string? reason) => Rollout(id).Approve(actor, reason);

    public Task<RolloutView> PauseRolloutAsync(string id, string actor, string? reason) => Rollout(id).Pause(actor, reason);

    public Task<RolloutView> ResumeRolloutAsync(string id, string actor, string? reason) => Rollout(id).Resume(actor, reason);

    public Task<RolloutView> AbortRolloutAsync(string id, string actor, string? reason) => Rollout(id).Abort(actor, reason);

    // ---- audit ----

    public const int MaxAuditPage = 1000;

    /// <summary>Audit entries after sequence <paramref name="afterSeq"/> and at or after <paramref name="since"/>, oldest first.</summary>
    public Task<IReadOnlyList<Domain.Audit.AuditEntry>> ReadAuditAsync(long afterSeq, DateTimeOffset? since, int limit)
    {
        if (limit < 1 || limit > MaxAuditPage)
        {
            throw SnapstoneException.Invalid($"limit must be between 1 and {MaxAuditPage} (got {limit})");
        }
        return grains.GetGrain<IAuditGrain>(IAuditGrain.Key).Read(Math.Max(0, afterSeq), since, limit);
    }

    /// <summary>Recomputes the whole chain from storage and names the first broken link.</summary>
    public Task<AuditVerification> VerifyAuditAsync() => grains.GetGrain<IAuditGrain>(IAuditGrain.Key).Verify();


    /// <summary>Answers once the rollout's timeline holds more than <paramref name="seen"/> entries, it ends, or <paramref name="wait"/> passes.</summary>
    public async Task<RolloutView> WatchRolloutAsync(string id, int seen, TimeSpan wait) =>
        await Rollout(id).WaitForTimeline(seen, wait > MaxTimelineWait ? MaxTimelineWait : wait) ?? throw RolloutNotFound(id);

    private IRolloutGrain Rollout(string id)
    {
        if (!RolloutIdPattern(id))
        {
            throw SnapstoneException.Invalid($"rollout id '{(id.Length > 40 ? id[..40] : id)}' is not a rollout id (r- and 16 hex digits)");
        }
        return grains.GetGrain<IRolloutGrain>(id);
    }

    /// <summary>A fresh id, or one derived from the actor and idempotency key so that a retry finds its rollout.</summary>
    private static string RolloutId(string actor, string? key) =>
        "r-" + (key is null
            ? Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8))
            : Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{actor}\n{key}")))[..16]);

    private static bool RolloutIdPattern(string id) =>
        id.Length == 18 && id.StartsWith("r-", StringComparison.Ordinal) && id[2..].All(c => c is >= '0' and <= '9' or >= 'a' and <= 'f');

    internal static SnapstoneException RolloutNotFound(string id) => SnapstoneException.NotFound($"rollout '{id}' does not exist");

    private static void CheckDraft(string unit, PackageDraft draft)
    {
        SnapstoneException.ThrowIfBadName("unit", unit);
        var errors = new List<string>();
        if (draft.Content is null)
            errors.Add("content (or contentBase64) is required");
        else if (draft.Content.LongLength > UnitRules.MaxPackageBytes)
            errors.Add($"content must be at most {UnitRules.MaxPackageBytes} bytes (got {draft.Content.LongLength})");
        if (TextLimits.TooLong("message", draft.Message, PackageDraft.MaxMessageBytes) is { } tooLong)
            errors.Add(tooLong);
        if (draft.Source is { Length: > PackageDraft.MaxSourceLength })
            errors.Add($"source must be at most {PackageDraft.MaxSourceLength} characters (got {draft.Source.Length})");
        if (errors.Count > 0)
        {
            throw SnapstoneException.Invalid(errors);
        }
    }

    private static SnapstoneException UnitNotFound(string unit) =>
        SnapstoneException.NotFound($"unit '{unit}' is not defined");

    private static SnapstoneException NodeNotFound(string node) =>
        SnapstoneException.NotFound($"node '{node}' has never reported");

    private static async Task<SnapstoneException> PackageNotFound(IUnitGrain grain, string unit, long version) =>
        await grain.Get() is null
            ? UnitNotFound(unit)
            : SnapstoneException.NotFound($"unit '{unit}' has no package version {version}");

    // ---- drift ----

    /// <summary>
    /// The fleet's drift: every PoP's latest scan, merged. A PoP whose scan is older than the scan interval is
    /// scanned first, so the answer is never staler than one interval.
    /// </summary>
    public async Task<DriftReport> GetDriftAsync()
    {
        var pops = await grains.GetGrain<IFleetGrain>(IFleetGrain.Key).Pops();
        var scans = await Task.WhenAll(pops.Select(pop => grains.GetGrain<IDriftGrain>(pop).Latest()));
        return new DriftReport
        {
            ScannedAt = scans.Length == 0 ? null : scans.Min(s => s.ScannedAt),
            Pops = scans.Length,
            Nodes = scans.Sum(s => s.Nodes),
            Drifted = [.. scans.SelectMany(s => s.Drifted).OrderBy(e => e.Node, StringComparer.Ordinal).ThenBy(e => e.Unit, StringComparer.Ordinal)],
        };
    }
}
