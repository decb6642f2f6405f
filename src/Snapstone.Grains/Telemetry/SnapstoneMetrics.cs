using System.Diagnostics.Metrics;
using Snapstone.Domain;

namespace Snapstone.Grains.Telemetry;

/// <summary>
/// The <c>Snapstone</c> meter: what Snapstone did, as numbers an SRE graphs and alerts on. Instruments are named
/// <c>snapstone.*</c>; the Prometheus exporter turns dots into underscores, ends counters in <c>_total</c> and
/// seconds in <c>_seconds</c> (<c>snapstone.time_to_safe</c> → <c>snapstone_time_to_safe_seconds_bucket</c>).
/// </summary>
/// <remarks>
/// Labels stay bounded: a unit name (units are defined by teams, a registry of dozens), a PoP, a region, and kinds
/// from fixed lists in this file. Never a node id, a rollout id or free text: a fleet of 10,000 nodes must not make
/// 10,000 series. Recording is a counter add with tags built once (see <see cref="ReportsIngested"/>), so the report
/// path allocates nothing for it.
/// </remarks>
public static class SnapstoneMetrics
{
    public const string MeterName = "Snapstone";

    public static readonly Meter Meter = new(MeterName, typeof(SnapstoneMetrics).Assembly.GetName().Version?.ToString(3));

    // ---- rollouts (recorded by RolloutMetrics from each persisted transition) ----

    internal static readonly Counter<long> RolloutsStarted = Meter.CreateCounter<long>("snapstone.rollouts.started",
        description: "Rollouts created, by unit.");
    internal static readonly Counter<long> RolloutsCompleted = Meter.CreateCounter<long>("snapstone.rollouts.completed",
        description: "Rollouts that passed their last wave, by unit.");
    internal static readonly Counter<long> RolloutsRolledBack = Meter.CreateCounter<long>("snapstone.rollouts.rolled_back",
        description: "Rollouts that started rolling back by themselves, by unit and reason (breach, crash, rejected, unhealthy, other); counted when the rollback starts.");
    internal static readonly Counter<long> RolloutsAborted = Meter.CreateCounter<long>("snapstone.rollouts.aborted",
        description: "Rollouts aborted by a person, by unit.");
    internal static readonly Counter<long> RolloutsPaused = Meter.CreateCounter<long>("snapstone.rollouts.paused",
        description: "Rollouts paused, by unit and reason (manual, freeze, inconclusive, apply-deadline, other).");
    internal static readonly Histogram<double> WaveDuration = Meter.CreateHistogram("snapstone.wave.duration", "s",
        "From a wave's start to its end (passed, or failed by a rollback), by unit and outcome.",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400] });
    internal static readonly Counter<long> Verdicts = Meter.CreateCounter<long>("snapstone.verdicts",
        description: "Verdicts a rollout acted on (a wave passed, failed, noted or paused inconclusive), by unit and result.");
    internal static readonly Histogram<double> TimeToSafe = Meter.CreateHistogram("snapstone.time_to_safe", "s",
        "From the first bad evidence (the earliest node signal in the failed wave, else the verdict that decided) to the last touched node confirmed back, by unit.",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300, 600] });
    internal static readonly Counter<long> RollbackNodes = Meter.CreateCounter<long>("snapstone.rollback.nodes",
        description: "Nodes told to return to the previous package by rollouts rolling back or aborted, by unit.");
    internal static readonly Counter<long> RollbackUnconfirmed = Meter.CreateCounter<long>("snapstone.rollback.unconfirmed",
        description: "Nodes that had not confirmed the previous package when their rollback reached its deadline, by unit.");

    // ---- reports (recorded at the HTTP gateway) ----

    private static readonly Counter<long> ReportsIngestedCounter = Meter.CreateCounter<long>("snapstone.reports.ingested",
        description: "Node reports accepted at the HTTP gateway.");
    private static readonly Counter<long> ReportsRefusedCounter = Meter.CreateCounter<long>("snapstone.reports.refused",
        description: "Node reports refused at the HTTP gateway, by reason (invalid, not_found, conflict, unprocessable, forbidden, too_large); a batch refused whole counts once.");

    /// <summary>One tag per refusal kind, made once: the report path adds to a counter and allocates nothing.</summary>
    private static readonly KeyValuePair<string, object?>[] RefusalTags =
        [.. Enum.GetValues<ProblemKind>().Select(k => new KeyValuePair<string, object?>("reason", ReasonOf(k)))];

    public static void ReportsIngested(int count)
    {
        if (count > 0)
        {
            ReportsIngestedCounter.Add(count);
        }
    }

    public static void ReportsRefused(ProblemKind kind, int count = 1)
    {
        if (count > 0)
        {
            ReportsRefusedCounter.Add(count, RefusalTags[(int)kind]);
        }
    }

    /// <summary><c>invalid</c>, <c>not_found</c>, <c>too_large</c>: the label value of a refusal kind.</summary>
    public static string ReasonOf(ProblemKind kind) => kind switch
    {
        ProblemKind.Invalid => "invalid",
        ProblemKind.NotFound => "not_found",
        ProblemKind.Conflict => "conflict",
        ProblemKind.Unprocessable => "unprocessable",
        ProblemKind.Forbidden => "forbidden",
        ProblemKind.TooLarge => "too_large",
        _ => "other",
    };

    // ---- break-glass (recorded where the action is audited) ----

    private const string BreakGlassPrefix = "breakglass.";

    private static readonly Counter<long> BreakGlassActions = Meter.CreateCounter<long>("snapstone.breakglass.actions",
        description: "Break-glass actions taken (freeze, unfreeze, rollback, deploy), counted as they are audited.");

    /// <summary>Counts <paramref name="auditAction"/> when it is a break-glass one (<c>breakglass.freeze</c> → action <c>freeze</c>).</summary>
    public static void Audited(string auditAction)
    {
        if (auditAction.StartsWith(BreakGlassPrefix, StringComparison.Ordinal))
        {
            BreakGlassActions.Add(1, new KeyValuePair<string, object?>("action", auditAction[BreakGlassPrefix.Length..]));
        }
    }

    // ---- the fleet, sampled (FleetGauges), and this silo's readiness ----

    private static volatile FleetSample? _fleet;
    private static volatile Func<bool>? _ready;

    static SnapstoneMetrics()
    {
        Meter.CreateObservableGauge("snapstone.nodes.enrolled", ObserveEnrolled,
            description: "Nodes enrolled in each PoP, by pop and region (a cluster-wide figure every silo exports: aggregate with max).");
        Meter.CreateObservableGauge("snapstone.drift.nodes", ObserveDrift,
            description: "Nodes of the fleet's latest drift check, by state (drifted, out_of_band, stale, excluded, scanned).");
        Meter.CreateObservableGauge("snapstone.drift.unit_nodes", ObserveDriftByUnit,
            description: "Drifted or out-of-band nodes per unit in the fleet's latest drift check.");
        Meter.CreateObservableGauge("snapstone.incidents.open", ObserveIncidents,
            description: "Incidents not yet resolved, by severity.");
        Meter.CreateObservableGauge("snapstone.silo.ready", ObserveReady,
            description: "1 while this silo is active in membership, storage answers and no shutdown has begun (what /readyz says); else 0.");
    }

    /// <summary>The latest fleet-wide sample; null stops the fleet gauges (no sample is better than a stale one).</summary>
    internal static FleetSample? Fleet
    {
        get => _fleet;
        set => _fleet = value;
    }

    /// <summary>Where <c>snapstone.silo.ready</c> reads this silo's readiness (the server sets it).</summary>
    public static void ObserveReadiness(Func<bool>? ready) => _ready = ready;

    private static IEnumerable<Measurement<long>> ObserveEnrolled() =>
        _fleet?.Pops.Select(p => new Measurement<long>(p.Nodes, new("pop", p.Pop), new("region", p.Region))) ?? [];

    private static IEnumerable<Measurement<long>> ObserveDrift()
    {
        if (_fleet?.Drift is not { } drift)
        {
            return [];
        }
        return
        [
            new(drift.Drifted, new KeyValuePair<string, object?>("state", "drifted")),
            new(drift.OutOfBand, new KeyValuePair<string, object?>("state", "out_of_band")),
            new(drift.Stale, new KeyValuePair<string, object?>("state", "stale")),
            new(drift.Excluded, new KeyValuePair<string, object?>("state", "excluded")),
            new(drift.Nodes, new KeyValuePair<string, object?>("state", "scanned")),
        ];
    }

    private static IEnumerable<Measurement<long>> ObserveDriftByUnit() =>
        _fleet?.Drift?.Units.Select(u => new Measurement<long>(u.Value, new KeyValuePair<string, object?>("unit", u.Key))) ?? [];

    private static IEnumerable<Measurement<long>> ObserveIncidents() =>
        _fleet?.OpenIncidents.Select(i => new Measurement<long>(i.Value, new KeyValuePair<string, object?>("severity", i.Key))) ?? [];

    private static IEnumerable<Measurement<long>> ObserveReady() =>
        _ready is { } ready ? [new Measurement<long>(ready() ? 1 : 0)] : [];
}

/// <summary>One sample of the cluster-wide figures: enrolled nodes per PoP, the latest drift check, open incidents per severity.</summary>
internal sealed record FleetSample(
    IReadOnlyList<PopSummary> Pops,
    Domain.Drift.DriftCounts? Drift,
    IReadOnlyDictionary<string, int> OpenIncidents);
