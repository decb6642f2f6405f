using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Snapstone.Domain;
using Snapstone.Domain.Packages;
using Snapstone.Domain.Rollouts;
using Snapstone.Domain.Units;
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
}

public sealed class UnitGrain(
    [PersistentState("unit", StorageNames.Grains)] IPersistentState<UnitState> state,
    IPackageStore store,
    TimeProvider time,
    ILogger<UnitGrain> logger) : Grain, IUnitGrain
{
    internal const int MaxKnownKeys = 2000;
    internal const int MaxHistory = 50;

    private string Name => this.GetPrimaryKeyString();

    public async Task<UnitView> Define(UnitDefinition definition, string actor)
    {
        if (UnitRules.Check(definition) is { Count: > 0 } errors)
        {
            throw SnapstoneException.Invalid(errors);
        }
        var now = time.GetUtcNow();
        var created = state.State.Definition is null;
        state.State.Definition = definition;
        if (created)
        {
            state.State.CreatedAt = now;
        }
        state.State.UpdatedAt = now;
        state.State.UpdatedBy = actor;
        await state.WriteStateAsync();
        await PublishToCatalog();
        logger.LogInformation("Unit {Unit} {Change} by {Actor}", Name, created ? "defined" : "redefined", actor);
        return View();
    }

    public Task<UnitView?> Get() => Task.FromResult(state.State.Definition is null ? null : View());

    public async Task<PackageView> CreatePackage(PackageDraft draft, string actor)
    {
        var definition = RequireDefinition();
        var (record, assessment) = Assess(draft, definition, actor, state.State.LatestVersion + 1, await FleetShare(definition));

        await store.PutContentAsync(Name, record.Sha256, draft.Content);
        await store.PutRecordAsync(record);

        state.State.LatestVersion = record.Version;
        var passed = assessment.Validation.Passed;
        if (passed && state.State.LkgVersion is null)
        {
            // Until a rollout completes, the first valid package is the unit's LKG.
            SetLkg(record);
        }
        if (passed)
        {
            foreach (var key in assessment.Shape.Keys)
            {
                if (state.State.KnownKeys.Count >= MaxKnownKeys) break;
                state.State.KnownKeys.Add(key);
            }
        }
        await state.WriteStateAsync();
        await PublishToCatalog();
        logger.LogInformation("Unit {Unit} package {Version} ({Sha256}, {Size} bytes) created by {Actor}: {Outcome}, risk {Risk} {Score}",
            Name, record.Version, record.Sha256, record.SizeBytes, actor, passed ? "passed" : "rejected", record.Risk.Level, record.Risk.Score);
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

    public async Task<RolloutTicket> ReserveRollout(string rollout, long version, bool breakGlass)
    {
        var definition = RequireDefinition();
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
        if (state.State.ActiveRollout != rollout || (breakGlass && !state.State.BreakGlassUsed))
        {
            state.State.ActiveRollout = rollout;
            state.State.BreakGlassUsed |= breakGlass;
            await state.WriteStateAsync();
        }
        return new RolloutTicket(
            new DesiredPackage(version, record.Sha256),
            state.State.LkgVersion is { } lkg ? new DesiredPackage(lkg, state.State.LkgSha256!) : null,
            definition.Targets,
            record.Risk);
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
        var newLkg = summary.State == RolloutState.Completed && state.State.LkgVersion != summary.Version
            ? await store.GetRecordAsync(Name, summary.Version)
            : null;
        if (newLkg is not null)
        {
            SetLkg(newLkg);
            // An emergency deploy of a quarantined version that completes has proven itself.
            state.State.Quarantined.Remove(newLkg.Version);
        }
        await state.WriteStateAsync();
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
        await state.WriteStateAsync();
        logger.LogWarning("Unit {Unit} v{Version} quarantined: {Reason}", Name, version, reason);
    }

    public async Task<BreakGlassOrder> BeginInstantRollback(string action, string by, string reason)
    {
        var definition = RequireDefinition();
        if (state.State.LkgVersion is not { } lkg)
        {
            throw SnapstoneException.Conflict($"unit '{Name}' has no last known good package to return to");
        }
        var quarantined = new List<long>();
        if (state.State.ActiveRollout is { } active && await GrainFactory.GetGrain<IRolloutGrain>(active).Get() is { Status.IsTerminal: false } rollout)
        {
            quarantined.Add(rollout.Spec.Version);
        }
        foreach (var version in quarantined.Where(v => !state.State.Quarantined.Contains(v)))
        {
            state.State.Quarantined.Add(version);
        }
        state.State.BreakGlassUsed = true;
        await state.WriteStateAsync();
        return new BreakGlassOrder
        {
            Unit = Name,
            Lkg = new DesiredPackage(lkg, state.State.LkgSha256!),
            Targets = definition.Targets,
            By = by,
            Reason = reason,
            Quarantined = quarantined,
        };
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
    }

    private UnitDefinition RequireDefinition() =>
        state.State.Definition ?? throw SnapstoneException.NotFound($"unit '{Name}' is not defined (define it with PUT /v1/units/{Name})");

    // Always re-published after a write, so a catalog update lost to a crash is repaired by the next one.
    private Task PublishToCatalog() =>
        GrainFactory.GetGrain<ICatalogGrain>(ICatalogGrain.Key).Upsert(new CatalogEntry(
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
    };
}
