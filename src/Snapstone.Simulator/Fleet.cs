using System.Collections.Concurrent;
using System.Net.Http.Json;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Snapstone.Simulator.Consumers;
using Snapstone.Simulator.Exposition;
using Snapstone.Simulator.Shape;
using Snapstone.Simulator.Traffic;
using Snapstone.Simulator.Wire;

namespace Snapstone.Simulator;

/// <summary>
/// A fleet of simulated edge nodes that report to Snapstone over HTTP, learn their desired packages from
/// the answers, fetch and consume them, and report what they now run.
/// <para>
/// One <see cref="TickAsync(CancellationToken)"/> is one report round: every node reports the interval
/// that just ended (its first report carries identity and metrics only), the reports go one batch per
/// PoP in chunks of at most <see cref="FleetOptions.MaxReportsPerBatch"/>, concurrently over the given
/// HttpClient; every node whose desired package differs from its own fetches the content (once per hash
/// for the whole fleet), consumes it, and says what happened in its next report. HTTP failures are
/// logged and counted, never thrown: a node that learnt nothing this tick simply tries again next tick.
/// </para>
/// <para>
/// With several <see cref="FleetOptions.Gateways"/> a batch (or a content fetch) that fails with a connection error,
/// a timeout, a 5xx or a 429 is sent again to the next gateway after a short backoff
/// (<see cref="FleetOptions.RetryBackoff"/>), each gateway at most once per batch unless
/// <see cref="FleetOptions.MaxAttemptsPerBatch"/> says otherwise; the failing gateway is avoided for a while
/// (<see cref="Simulator.Gateways"/>). Any other answer ends the request where it is: a 4xx would fail the same way
/// everywhere, and a 2xx means the reports were taken. <see cref="FleetCounters"/> counts batches retried and lost.
/// </para>
/// </summary>
public sealed class Fleet
{
    private readonly FleetOptions _options;
    private readonly HttpClient _http;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly SimulatedNode[] _nodes;
    private readonly Dictionary<string, SimulatedNode> _byId;
    private readonly SimulatedNode[][] _batches;
    private readonly ConcurrentDictionary<string, byte[]> _content = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string Unit, string Sha256), ConsumerOutcome> _outcomes = new();
    private readonly ConcurrentDictionary<string, bool> _units = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _oneTickAtATime = new(1, 1);
    private TickTotals? _lastTick;
    private DisturbanceWindow? _disturbance;

    /// <summary>
    /// A fleet that reports to <see cref="FleetOptions.Gateways"/> through <paramref name="http"/>, or, when none are
    /// given, to <paramref name="http"/>'s <see cref="HttpClient.BaseAddress"/>.
    /// </summary>
    public Fleet(FleetOptions options, HttpClient http, TimeProvider time, ILogger? logger = null)
    {
        options.Check();
        _options = options;
        _http = http;
        _time = time;
        _log = logger ?? NullLogger.Instance;
        Gateways = new Gateways(options.Gateways.Count > 0 ? options.Gateways
            : http.BaseAddress is { } baseAddress ? [baseAddress]
            : throw new ArgumentException("give the fleet a Snapstone URL: FleetOptions.Gateways is empty and the HttpClient has no BaseAddress"), time);
        Layout = FleetLayout.Lay(options.Shape);
        _nodes = Layout.Nodes
            .Select((profile, i) => new SimulatedNode(profile, unchecked(options.Shape.Seed * 1_000_003 + i), options.Shape.LatencyJitter))
            .ToArray();
        _byId = _nodes.ToDictionary(n => n.Id, StringComparer.Ordinal);
        _batches = _nodes.GroupBy(n => n.Pop).SelectMany(pop => pop.Chunk(options.MaxReportsPerBatch)).ToArray();
        Metrics = options.ExposeMetrics ? new FleetMetrics(_nodes, options.Shape.Labels, time.GetUtcNow()) : null;
        foreach (var unit in options.Consumers.Keys)
        {
            _units[unit] = true;
        }
    }

    public FleetOptions Options => _options;
    public FleetLayout Layout { get; }
    public IReadOnlyList<Pop> Pops => Layout.Pops;
    public IReadOnlyList<SimulatedNode> Nodes => _nodes;
    public FleetHistory History { get; } = new();
    public FleetCounters Counters { get; } = new();

    /// <summary>The gateways the fleet reports to, with what each answered and which it avoids now.</summary>
    public Gateways Gateways { get; }

    /// <summary>The nodes' traffic as Prometheus series, when <see cref="FleetOptions.ExposeMetrics"/> is on; else null.</summary>
    public FleetMetrics? Metrics { get; }

    /// <summary>Totals of the reports sent in the last tick; null before the first.</summary>
    public TickTotals? LastTick => Volatile.Read(ref _lastTick);

    /// <summary>Units the fleet has a consumer for or has been asked to run, in name order.</summary>
    public IReadOnlyList<string> Units => _units.Keys.Order(StringComparer.Ordinal).ToArray();

    /// <summary>The upstream disturbance started last (it may be over), null when none was.</summary>
    public DisturbanceWindow? Upstream => Volatile.Read(ref _disturbance);

    /// <summary>
    /// Starts <paramref name="disturbance"/> now, on every node alike, replacing any earlier one: from the next report
    /// round on, each node fails the disturbance's share of its requests for the part of its interval it covers.
    /// </summary>
    public DisturbanceWindow Disturb(Disturbance disturbance)
    {
        disturbance.Check();
        var window = disturbance.From(_time.GetUtcNow());
        Volatile.Write(ref _disturbance, window);
        return window;
    }

    /// <summary>Raised, on the ticking thread, for every apply, rejection and reported crash.</summary>
    public event Action<NodeChange>? Changed;

    public SimulatedNode Node(string id) =>
        _byId.TryGetValue(id, out var node) ? node : throw new KeyNotFoundException($"no node '{id}' in this fleet");

    /// <summary>Nodes that ever ran (or crashed on) this version: the blast radius.</summary>
    public IReadOnlySet<string> NodesEverApplied(string unit, long version) => History.NodesEverApplied(unit, version);

    /// <summary>Nodes running this version now.</summary>
    public IReadOnlyList<SimulatedNode> NodesOn(string unit, long version) =>
        _nodes.Where(n => n.Running(unit)?.Version == version).ToArray();

    /// <summary>Nodes that refused this version and are still asked to run it.</summary>
    public IReadOnlyList<SimulatedNode> NodesRefusing(string unit, long version) =>
        _nodes.Where(n => n.Refused(unit)?.Package.Version == version).ToArray();

    /// <summary>How many nodes run each version of <paramref name="unit"/> now (version 0: none).</summary>
    public IReadOnlyDictionary<long, int> VersionCounts(string unit) =>
        _nodes.GroupBy(n => n.Running(unit)?.Version ?? 0).OrderBy(g => g.Key).ToDictionary(g => g.Key, g => g.Count());

    /// <summary>One report round with <see cref="FleetOptions.ReportInterval"/> as the interval.</summary>
    public Task TickAsync(CancellationToken cancellationToken = default) => TickAsync(_options.ReportInterval, cancellationToken);

    /// <summary>
    /// One report round for an interval of <paramref name="interval"/>; rounds never overlap. Nodes that took,
    /// refused or crashed on a package in the round report again at once (<see cref="FleetOptions.ReportAfterChange"/>),
    /// as an agent does after applying a change, so the server hears of it without waiting an interval.
    /// </summary>
    public async Task TickAsync(TimeSpan interval, CancellationToken cancellationToken)
    {
        await _oneTickAtATime.WaitAsync(cancellationToken);
        try
        {
            Counters.Tick();
            var batches = Awake(_batches);
            for (var round = 0; round < MaxRoundsPerTick && batches.Length > 0; round++)
            {
                var now = _time.GetUtcNow();
                History.RoundStarted(now);
                var reports = Report(batches, now, round == 0 ? _ => interval.TotalSeconds : node => node.SecondsSinceReport(now, interval), interval.TotalSeconds, summarize: round == 0);
                var answers = new Answer[batches.Length];
                var failures = new ConcurrentQueue<string>();
                await Parallel.ForEachAsync(Enumerable.Range(0, batches.Length), Bounded(cancellationToken),
                    async (b, ct) => answers[b] = await SendAsync(b, batches[b], reports[b], failures, ct));
                if (failures.TryPeek(out var firstFailure))
                {
                    // One line per tick: a server that is down must not bury everything else in the log.
                    FleetLog.BatchesFailed(_log, failures.Count, batches.Length, firstFailure);
                }
                var wants = Learn(batches, answers);
                await Parallel.ForEachAsync(wants.Where(w => !_content.ContainsKey(w.Package.Sha256)).DistinctBy(w => w.Package.Sha256),
                    Bounded(cancellationToken), FetchAsync);
                var changed = Take(wants, _time.GetUtcNow());
                batches = _options.ReportAfterChange
                    ? Awake([.. changed.GroupBy(n => n.Pop).SelectMany(pop => pop.Chunk(_options.MaxReportsPerBatch))])
                    : [];
            }
        }
        finally
        {
            _oneTickAtATime.Release();
        }
    }

    /// <summary>The interval's report, then at most this many follow-ups from nodes that changed in the one before.</summary>
    private const int MaxRoundsPerTick = 3;

    /// <summary>
    /// Ticks now and then every <paramref name="interval"/> of the fleet's <see cref="TimeProvider"/> until
    /// <paramref name="cancellationToken"/> is cancelled, then returns. A tick that fails is logged and
    /// the next one runs as usual; ticks that overrun the interval are not queued up.
    /// </summary>
    public async Task RunAsync(TimeSpan interval, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(interval, _time);
        try
        {
            do
            {
                try
                {
                    await TickAsync(interval, cancellationToken);
                }
                catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    FleetLog.TickFailed(_log, e);
                }
            }
            while (await timer.WaitForNextTickAsync(cancellationToken));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>The batches without their hung nodes (which send nothing), and without batches left empty.</summary>
    private static SimulatedNode[][] Awake(SimulatedNode[][] batches) =>
        batches.Any(b => b.Any(n => n.Hung))
            ? batches.Select(b => b.Where(n => !n.Hung).ToArray()).Where(b => b.Length > 0).ToArray()
            : batches;

    private ParallelOptions Bounded(CancellationToken cancellationToken) =>
        new() { MaxDegreeOfParallelism = _options.MaxConcurrentRequests, CancellationToken = cancellationToken };

    private NodeReport[][] Report(SimulatedNode[][] batches, DateTimeOffset now, Func<SimulatedNode, double> seconds, double cadence, bool summarize)
    {
        var reports = new NodeReport[batches.Length][];
        long requests = 0, errors = 0;
        var crashes = 0;
        var latencies = new List<double>(_nodes.Length);
        var disturbance = Upstream;
        for (var b = 0; b < batches.Length; b++)
        {
            var batch = batches[b];
            reports[b] = new NodeReport[batch.Length];
            for (var i = 0; i < batch.Length; i++)
            {
                var covers = seconds(batch[i]);
                var upstream = disturbance?.ErrorShareOver(now - TimeSpan.FromSeconds(covers), now) ?? 0;
                var report = batch[i].Report(now, covers, _options.CrashLoopPeriod, out var crashedOn, cadence, upstream);
                var served = report.Metrics!;
                Metrics?.Served(batch[i], served, now);
                reports[b][i] = _options.ReportMetrics ? report : report with { Metrics = null };
                requests += served.Requests;
                errors += served.Errors;
                if (served.Requests > 0)
                {
                    latencies.Add(served.P99LatencyMs);
                }
                if (served.Crashes > 0 && crashedOn is var (unit, package))
                {
                    crashes += served.Crashes;
                    Counters.Crashed(served.Crashes);
                    Record(new NodeChange(now, batch[i].Id, unit, NodeChangeKind.Crashed, package.Version, package.Sha256, null));
                }
            }
        }
        if (!summarize)
        {
            return reports;
        }
        latencies.Sort();
        Volatile.Write(ref _lastTick, new TickTotals(now, batches.Sum(b => b.Length), requests, errors, crashes,
            latencies.Count == 0 ? 0 : latencies[latencies.Count / 2]));
        return reports;
    }

    /// <summary>Sends batch <paramref name="index"/> of a round, homed on gateway <c>index mod n</c>, failing over as the type's summary says.</summary>
    private async Task<Answer> SendAsync(
        int index, SimulatedNode[] batch, NodeReport[] reports, ConcurrentQueue<string> failures, CancellationToken cancellationToken)
    {
        var pop = batch[0].Pop;
        Counters.BatchSent(reports.Length);
        var exchange = await ExchangeAsync(
            Gateways.Order(index % Gateways.Count),
            gateway => new HttpRequestMessage(HttpMethod.Post, new Uri(Gateways[gateway], _options.ReportsPath))
            {
                Content = JsonContent.Create(new ReportBatch(reports), WireJson.Default.ReportBatch),
            },
            async (response, ct) => await response.Content.ReadFromJsonAsync(WireJson.Default.ReportBatchAnswer, ct) is { Results: not null } answer
                ? answer
                : throw new InvalidDataException("the answer has no results"),
            _options.MaxAttemptsPerBatch ?? Gateways.Count, $"report batch for {pop}", countOnGateways: true, cancellationToken);
        Counters.BatchDone(exchange.Attempts, exchange.Value is not null);
        if (exchange.Value is null)
        {
            Counters.BatchFailed();
            FleetLog.BatchFailed(_log, pop, reports.Length, exchange.Attempts, exchange.Failure!);
            failures.Enqueue($"{pop} ({reports.Length} reports, {exchange.Attempts} attempt{(exchange.Attempts == 1 ? "" : "s")}): {exchange.Failure}");
        }
        return new Answer(exchange.Value, exchange.Gateway);
    }

    /// <summary>
    /// One request, tried on the gateways of <paramref name="order"/> in turn until one gives an answer that ends it,
    /// at most <paramref name="maxAttempts"/> times (cycling through the order when that is more than its length),
    /// with a backoff before every retry. <paramref name="read"/> turns a 2xx into the value; when it throws, the
    /// request ends there as failed (the gateway took the request, so sending it again would repeat it).
    /// </summary>
    private async Task<Exchange<T>> ExchangeAsync<T>(
        int[] order, Func<int, HttpRequestMessage> request, Func<HttpResponseMessage, CancellationToken, Task<T>> read,
        int maxAttempts, string what, bool countOnGateways, CancellationToken cancellationToken) where T : class
    {
        string failure = "not sent";
        var attempt = 0;
        while (attempt < maxAttempts)
        {
            var gateway = order[attempt % order.Length];
            if (attempt > 0)
            {
                await Task.Delay(Backoff(attempt), _time, cancellationToken);
            }
            attempt++;
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(_options.RequestTimeout);
            TimeSpan? retryAfter = null;
            using var message = request(gateway);
            Authorize(message);
            var where = message.RequestUri!.GetLeftPart(UriPartial.Authority);
            try
            {
                using var response = await _http.SendAsync(message, timeout.Token);
                var status = (int)response.StatusCode;
                if (response.IsSuccessStatusCode || (status < 500 && status != 429))
                {
                    if (countOnGateways && Gateways.Answered(gateway))
                    {
                        FleetLog.GatewayBack(_log, Gateways[gateway]);
                    }
                    if (!response.IsSuccessStatusCode)
                    {
                        return new(null, gateway, attempt, $"HTTP {status} from {where}: {await ShortBodyAsync(response, timeout.Token)}");
                    }
                    try
                    {
                        return new(await read(response, timeout.Token), gateway, attempt, null);
                    }
                    catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                    {
                        return new(null, gateway, attempt, $"unreadable answer from {where}: {e.GetType().Name}: {e.Message}");
                    }
                }
                retryAfter = RetryAfter(response);
                failure = $"HTTP {status} from {where}{(retryAfter is { } wait ? $" (Retry-After {wait.TotalSeconds:0.#} s)" : "")}: {await ShortBodyAsync(response, timeout.Token)}";
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                failure = $"no answer from {where} within {_options.RequestTimeout.TotalSeconds:0.#} s";
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                failure = $"{where}: {e.GetType().Name}: {e.Message}";
            }
            if (countOnGateways)
            {
                var (cooldown, first) = Gateways.Failed(gateway, retryAfter);
                if (first)
                {
                    FleetLog.GatewayAvoided(_log, Gateways[gateway], cooldown.TotalSeconds, failure);
                }
            }
            FleetLog.AttemptFailed(_log, what, attempt, failure);
        }
        return new(null, order[(attempt - 1) % order.Length], attempt, failure);
    }

    /// <summary>The wait before retry <paramref name="retry"/> (1, 2, …): the backoff doubling each time, at most 2 s, less up to half at random.</summary>
    private TimeSpan Backoff(int retry)
    {
        var full = Math.Min(MaxRetryBackoff.Ticks, _options.RetryBackoff.Ticks << Math.Min(retry - 1, 16));
        return TimeSpan.FromTicks(full - (long)(Random.Shared.NextDouble() * full / 2));
    }

    private static readonly TimeSpan MaxRetryBackoff = TimeSpan.FromSeconds(2);

    private TimeSpan? RetryAfter(HttpResponseMessage response) => response.Headers.RetryAfter switch
    {
        { Delta: { } delta } => delta,
        { Date: { } date } => date - _time.GetUtcNow() is var wait && wait > TimeSpan.Zero ? wait : TimeSpan.Zero,
        _ => null,
    };

    /// <summary>Reads the answers: who must fetch which package of which unit.</summary>
    private List<Want> Learn(SimulatedNode[][] batches, Answer[] answers)
    {
        var wants = new List<Want>();
        var refused = 0;
        (string Node, string Error)? firstRefusal = null;
        var ignored = 0;
        for (var b = 0; b < answers.Length; b++)
        {
            if (answers[b].Value?.Results is not { } results)
            {
                continue;
            }
            var batch = batches[b];
            for (var i = 0; i < results.Count; i++)
            {
                var result = results[i];
                var node = result.Node is null || (i < batch.Length && result.Node == batch[i].Id)
                    ? i < batch.Length ? batch[i] : null
                    : _byId.GetValueOrDefault(result.Node);
                if (node is null)
                {
                    continue;
                }
                if (result.Error is { } error)
                {
                    refused++;
                    firstRefusal ??= (node.Id, error);
                    Counters.ReportRefused();
                }
                foreach (var (unit, desired) in result.Desired ?? new Dictionary<string, DesiredPackage>())
                {
                    if (_options.ConsumerOf(unit) is null)
                    {
                        continue;
                    }
                    _units.TryAdd(unit, true);
                    if (Problem(desired) is { } problem)
                    {
                        if (ignored++ == 0)
                        {
                            FleetLog.DesiredIgnored(_log, node.Id, unit, problem);
                        }
                        continue;
                    }
                    var package = new PackageRef(desired.Version, desired.Sha256.ToLowerInvariant());
                    if (node.Wants(unit, package))
                    {
                        wants.Add(new Want(node, unit, package, desired.ContentUrl, answers[b].Gateway));
                    }
                }
            }
        }
        if (firstRefusal is var (refusedNode, refusal))
        {
            FleetLog.ReportsRefused(_log, refused, refusedNode, refusal);
        }
        return wants;
    }

    private static string? Problem(DesiredPackage desired)
    {
        if (desired.Version < 1)
        {
            return $"version must be 1 or more (got {desired.Version})";
        }
        if (desired.Sha256 is not { Length: 64 } sha || !sha.All(char.IsAsciiHexDigit))
        {
            return "sha256 must be 64 hex characters";
        }
        return string.IsNullOrWhiteSpace(desired.ContentUrl) ? "contentUrl is missing" : null;
    }

    /// <summary>
    /// Fetches a package's content from the gateway that told the node about it, failing over to the others as a
    /// report batch does. An absolute content URL is fetched where it points, once.
    /// </summary>
    private async ValueTask FetchAsync(Want want, CancellationToken cancellationToken)
    {
        var (_, unit, package, url, gateway) = want;
        Counters.ContentFetched();
        var absolute = Uri.TryCreate(url, UriKind.Absolute, out var fixedUrl) && fixedUrl.Scheme is "http" or "https";
        var exchange = await ExchangeAsync(
            absolute ? [gateway] : Gateways.Order(gateway),
            g => new HttpRequestMessage(HttpMethod.Get, absolute ? fixedUrl : new Uri(Gateways[g], url)),
            async (response, ct) =>
            {
                var bytes = await response.Content.ReadAsByteArrayAsync(ct);
                var actual = Convert.ToHexStringLower(SHA256.HashData(bytes));
                return actual == package.Sha256 ? bytes : throw new InvalidDataException($"content hashes to {actual}, not the desired {package.Sha256}");
            },
            absolute ? 1 : _options.MaxAttemptsPerBatch ?? Gateways.Count, $"content of {unit} v{package.Version}", countOnGateways: !absolute, cancellationToken);
        if (exchange.Value is { } content)
        {
            _content[package.Sha256] = content;
            FleetLog.ContentFetched(_log, unit, package.Version, content.Length, package.Sha256);
            return;
        }
        Counters.ContentFetchFailed();
        FleetLog.ContentFailed(_log, unit, package.Version, url, exchange.Failure!);
    }

    /// <summary>Every node with content at hand consumes its package; the rest try again next tick. Answers the nodes that did.</summary>
    private HashSet<SimulatedNode> Take(List<Want> wants, DateTimeOffset now)
    {
        var changed = new HashSet<SimulatedNode>();
        foreach (var group in wants.GroupBy(w => (w.Unit, w.Package)))
        {
            var (unit, package) = group.Key;
            if (!_content.TryGetValue(package.Sha256, out var content))
            {
                continue;
            }
            var consumer = _options.ConsumerOf(unit)!;
            var outcome = _outcomes.GetOrAdd((unit, package.Sha256), _ => consumer.Consume(content));
            var count = 0;
            foreach (var want in group)
            {
                Record(want.Node.Take(unit, package, outcome, now, _options.CrashLoopPeriod));
                changed.Add(want.Node);
                count++;
                if (outcome.Verdict == ConsumerVerdict.Rejected)
                {
                    Counters.Rejected();
                }
                else
                {
                    Counters.Applied();
                }
            }
            FleetLog.Consumed(_log, count, outcome.Verdict switch
            {
                ConsumerVerdict.Rejected => "rejected",
                ConsumerVerdict.Crashed => "crashed on",
                _ => "applied",
            }, unit, package.Version, outcome.Error ?? consumer.Describe());
        }
        return changed;
    }

    private void Record(NodeChange change)
    {
        History.Record(change);
        Changed?.Invoke(change);
    }

    private void Authorize(HttpRequestMessage request)
    {
        if (_options.Token is { } token)
        {
            request.Headers.Authorization = new("Bearer", token);
        }
    }

    private static async Task<string> ShortBodyAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        return body.Length <= 300 ? body : body[..300] + "...";
    }

    /// <summary>Node <paramref name="Node"/> must fetch <paramref name="Url"/>, learnt from gateway <paramref name="Gateway"/>.</summary>
    private sealed record Want(SimulatedNode Node, string Unit, PackageRef Package, string Url, int Gateway);

    /// <summary>A batch's answer (null when it got none) and the gateway that gave it, or the last one tried.</summary>
    private readonly record struct Answer(ReportBatchAnswer? Value, int Gateway);

    /// <summary>How a request ended: its value, or null and why not; where it ended, and after how many attempts.</summary>
    private sealed record Exchange<T>(T? Value, int Gateway, int Attempts, string? Failure) where T : class;
}

/// <summary>What the whole fleet reported in one tick. <see cref="MedianP99LatencyMs"/> is over nodes that served traffic.</summary>
public sealed record TickTotals(DateTimeOffset At, int Reports, long Requests, long Errors, int Crashes, double MedianP99LatencyMs)
{
    public double ErrorRate => Requests == 0 ? 0 : (double)Errors / Requests;
}
