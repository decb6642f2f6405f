using Snapstone.Simulator.Consumers;
using Snapstone.Simulator.Shape;

namespace Snapstone.Simulator;

/// <summary>How a <see cref="Fleet"/> is laid out, what its nodes consume, and how it talks to Snapstone.</summary>
public sealed record FleetOptions
{
    public FleetShape Shape { get; init; } = new();

    /// <summary>How nodes consume each unit, e.g. <c>bot-features</c> → fail-closed feature file.</summary>
    public IReadOnlyDictionary<string, IConsumer> Consumers { get; init; } = new Dictionary<string, IConsumer>();

    /// <summary>The consumer for units not in <see cref="Consumers"/>; null makes nodes ignore such units.</summary>
    public IConsumer? OtherUnits { get; init; } = new PlainConsumer();

    /// <summary>Bearer token with the <c>agent</c> scope; null sends no Authorization header.</summary>
    public string? Token { get; init; }

    /// <summary>
    /// Snapstone gateways (base URLs) to report to, e.g. the HTTP address of every silo of a cluster. Batches spread
    /// over them and fail over from one to the next (see <see cref="Simulator.Gateways"/>). Empty: the HttpClient's
    /// base address alone.
    /// </summary>
    public IReadOnlyList<Uri> Gateways { get; init; } = [];

    /// <summary>The batch report endpoint, relative to each gateway.</summary>
    public string ReportsPath { get; init; } = "/v1/reports";

    /// <summary>
    /// How many times one batch (or content fetch) is tried in a round before it counts as lost; null: once per
    /// gateway, so a single gateway is tried once and the nodes report afresh next tick.
    /// </summary>
    public int? MaxAttemptsPerBatch { get; init; }

    /// <summary>The wait before the first retry of a batch on the next gateway; it doubles for every further retry, to at most 2 s.</summary>
    public TimeSpan RetryBackoff { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>The interval one <see cref="Fleet.TickAsync(CancellationToken)"/> reports for.</summary>
    public TimeSpan ReportInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Reports go one batch per PoP, split into chunks of at most this many.</summary>
    public int MaxReportsPerBatch { get; init; } = 500;

    /// <summary>HTTP requests in flight at once, for reports and for content.</summary>
    public int MaxConcurrentRequests { get; init; } = 8;

    /// <summary>A batch or content fetch that takes longer is abandoned for this tick.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Nodes that took, refused or crashed on a package report again at once, within the same tick, instead of
    /// at the next interval: what Snapstone expects of an agent (see docs/failure-modes.md).
    /// </summary>
    public bool ReportAfterChange { get; init; } = true;

    /// <summary>
    /// Whether reports carry <c>metrics</c> (requests, errors, p99, crashes). False: agents report identity and applied
    /// state only, so a rollout can be judged from Prometheus alone (see <see cref="ExposeMetrics"/>).
    /// </summary>
    public bool ReportMetrics { get; init; } = true;

    /// <summary>
    /// Whether the fleet keeps its nodes' traffic as Prometheus series (<see cref="Fleet.Metrics"/>), for a
    /// <see cref="Exposition.MetricsEndpoint"/> to serve.
    /// </summary>
    public bool ExposeMetrics { get; init; }

    /// <summary>How often a node that crashes on its package crashes again after restarting.</summary>
    public TimeSpan CrashLoopPeriod { get; init; } = TimeSpan.FromSeconds(5);

    public IConsumer? ConsumerOf(string unit) => Consumers.TryGetValue(unit, out var consumer) ? consumer : OtherUnits;

    internal void Check()
    {
        Shape.Check();
        foreach (var unit in Consumers.Keys)
        {
            if (!FleetShape.IsName(unit))
            {
                throw new ArgumentException($"consumer unit '{unit}' must match {FleetShape.NamePattern}");
            }
        }
        if (ReportInterval <= TimeSpan.Zero)
        {
            throw new ArgumentException($"reportInterval must be positive (got {ReportInterval})");
        }
        if (MaxReportsPerBatch is < 1 or > 10_000)
        {
            throw new ArgumentException($"maxReportsPerBatch must be between 1 and 10000 (got {MaxReportsPerBatch})");
        }
        if (MaxConcurrentRequests < 1)
        {
            throw new ArgumentException($"maxConcurrentRequests must be 1 or more (got {MaxConcurrentRequests})");
        }
        foreach (var gateway in Gateways)
        {
            if (!gateway.IsAbsoluteUri || gateway.Scheme is not ("http" or "https"))
            {
                throw new ArgumentException($"gateway '{gateway}' must be an absolute http or https URL like http://127.0.0.1:5080");
            }
        }
        if (Gateways.Distinct().Count() != Gateways.Count)
        {
            throw new ArgumentException("gateways must not repeat");
        }
        if (MaxAttemptsPerBatch is < 1 or > 100)
        {
            throw new ArgumentException($"maxAttemptsPerBatch must be between 1 and 100 (got {MaxAttemptsPerBatch})");
        }
        if (RetryBackoff < TimeSpan.Zero || RetryBackoff > TimeSpan.FromSeconds(2))
        {
            throw new ArgumentException($"retryBackoff must be between 0 and 2 s (got {RetryBackoff})");
        }
        if (RequestTimeout <= TimeSpan.Zero || CrashLoopPeriod <= TimeSpan.Zero)
        {
            throw new ArgumentException("requestTimeout and crashLoopPeriod must be positive");
        }
    }
}
