using Snapstone.Simulator.Consumers;
using Snapstone.Simulator.Shape;
using Snapstone.Simulator.Traffic;
using Snapstone.Simulator.Wire;

namespace Snapstone.Simulator;

/// <summary>
/// One simulated edge server: its identity, the package it runs per unit, and the traffic it serves.
/// State changes only inside <see cref="Fleet.TickAsync(CancellationToken)"/>; the read members may be
/// called from any thread.
/// </summary>
public sealed class SimulatedNode
{
    private readonly object _sync = new();
    private readonly Random _random;
    private readonly double _latencyJitter;
    private readonly Dictionary<string, UnitSlot> _units = new(StringComparer.Ordinal);
    private int _pendingCrashes;
    private DateTimeOffset _nextCrashAt;
    private (string Unit, PackageRef Package)? _crashingOn;
    private ReportMetrics? _lastMetrics;
    private bool _hasReported;
    private bool _hung;
    private DateTimeOffset? _lastReportAt;

    internal SimulatedNode(NodeProfile profile, int seed, double latencyJitter)
    {
        Profile = profile;
        _random = new Random(seed);
        _latencyJitter = latencyJitter;
    }

    public NodeProfile Profile { get; }
    public string Id => Profile.Id;
    public string Pop => Profile.Pop;
    public string Region => Profile.Region;
    public string Tier => Profile.Tier;
    public IReadOnlyDictionary<string, string> Labels => Profile.Labels;

    /// <summary>True once the node has sent its first report (identity and metrics only).</summary>
    public bool HasReported
    {
        get { lock (_sync) { return _hasReported; } }
    }

    /// <summary>True while the node runs a package it crashes on; it serves only errors until it leaves it.</summary>
    public bool CrashLooping
    {
        get { lock (_sync) { return _crashingOn is not null; } }
    }

    /// <summary>
    /// True while the node is hung (<see cref="Hang"/>): its serving process is stuck, so it serves no traffic and its
    /// agent, in the same process, sends no reports; its metrics exporter still answers with what it counted last.
    /// </summary>
    public bool Hung
    {
        get { lock (_sync) { return _hung; } }
    }

    /// <summary>Makes the node hang from the next report round on, until <see cref="Resume"/>: a fault to inject.</summary>
    public void Hang()
    {
        lock (_sync) { _hung = true; }
    }

    /// <summary>
    /// Ends a hang. The process was stuck, not restarted: its counters go on from where they stopped, and its next
    /// report covers at most one interval, as an agent's first report after a stall would.
    /// </summary>
    public void Resume()
    {
        lock (_sync) { _hung = false; }
    }

    /// <summary>Traffic the node served in the interval it reported last (reported or not), null before it reported.</summary>
    public ReportMetrics? LastMetrics
    {
        get { lock (_sync) { return _lastMetrics; } }
    }

    /// <summary>Seconds since the node's last report, at most <paramref name="interval"/>: what a report sent out of turn covers.</summary>
    internal double SecondsSinceReport(DateTimeOffset now, TimeSpan interval)
    {
        lock (_sync)
        {
            var since = _lastReportAt is { } last ? now - last : interval;
            return Math.Clamp(since.TotalSeconds, 0, interval.TotalSeconds);
        }
    }

    /// <summary>The package the node runs for <paramref name="unit"/>, null when it runs none.</summary>
    public PackageRef? Running(string unit)
    {
        lock (_sync)
        {
            return _units.GetValueOrDefault(unit)?.Running;
        }
    }

    /// <summary>The package of <paramref name="unit"/> the node refused last, while it is still asked to run it.</summary>
    public Refusal? Refused(string unit)
    {
        lock (_sync)
        {
            return _units.GetValueOrDefault(unit)?.Refused;
        }
    }

    /// <summary>Every unit the node runs a package of.</summary>
    public IReadOnlyDictionary<string, PackageRef> Packages()
    {
        lock (_sync)
        {
            return _units.Where(u => u.Value.Running is not null).ToDictionary(u => u.Key, u => u.Value.Running!);
        }
    }

    /// <summary>
    /// The node's report for the interval ending now. A node in a crash loop crashes once when it takes
    /// the package and again every <paramref name="crashLoopPeriod"/>, and answers every request with an
    /// error in between. <paramref name="crashedOn"/> names the package it crashed on when the report
    /// counts crashes. A report out of turn covers <paramref name="seconds"/> of traffic but still gives
    /// the node's cadence (<paramref name="cadenceSeconds"/>) as its interval. <paramref name="disturbance"/> is the
    /// extra share of requests an upstream disturbance fails in the interval (<see cref="DisturbanceWindow"/>).
    /// </summary>
    internal NodeReport Report(DateTimeOffset now, double seconds, TimeSpan crashLoopPeriod, out (string Unit, PackageRef Package)? crashedOn,
        double? cadenceSeconds = null, double disturbance = 0)
    {
        lock (_sync)
        {
            if (_crashingOn is not null)
            {
                while (now >= _nextCrashAt)
                {
                    _pendingCrashes++;
                    _nextCrashAt += crashLoopPeriod;
                }
            }
            var metrics = Serve(seconds, _pendingCrashes, disturbance);
            crashedOn = _pendingCrashes > 0 ? _crashingOn : null;
            _pendingCrashes = 0;
            _lastMetrics = metrics;
            _lastReportAt = now;

            var report = new NodeReport
            {
                Node = Id,
                Pop = Pop,
                Region = Region,
                Tier = Tier,
                Labels = Labels,
                Applied = _hasReported ? Applied(crashedOn, metrics.Crashes) : null,
                Metrics = metrics,
                IntervalSeconds = cadenceSeconds ?? seconds,
            };
            _hasReported = true;
            return report;
        }
    }

    /// <summary>
    /// Compares what the server wants for <paramref name="unit"/> with what the node has. True when the
    /// node must fetch the content and consume it. A package the node refused is not retried while it
    /// stays desired; being asked for the package it already runs clears the refusal.
    /// </summary>
    internal bool Wants(string unit, PackageRef desired)
    {
        lock (_sync)
        {
            var slot = _units.GetValueOrDefault(unit);
            if (slot?.Running?.Sha256 == desired.Sha256)
            {
                if (slot.Refused is not null)
                {
                    _units[unit] = slot with { Refused = null };
                }
                return slot.Running.Version != desired.Version;
            }
            return slot?.Refused?.Package.Sha256 != desired.Sha256;
        }
    }

    /// <summary>Takes (or refuses, or crashes on) <paramref name="package"/> as the consumer decided.</summary>
    internal NodeChange Take(string unit, PackageRef package, ConsumerOutcome outcome, DateTimeOffset now, TimeSpan crashLoopPeriod)
    {
        lock (_sync)
        {
            var slot = _units.GetValueOrDefault(unit) ?? UnitSlot.Empty;
            var previous = slot.Running?.Version;
            switch (outcome.Verdict)
            {
                case ConsumerVerdict.Rejected:
                    _units[unit] = slot with { Refused = new Refusal(package, outcome.Error ?? "rejected") };
                    return new NodeChange(now, Id, unit, NodeChangeKind.Rejected, package.Version, package.Sha256, previous, outcome.Error);

                case ConsumerVerdict.Crashed:
                    _units[unit] = new UnitSlot(package, PackageEffect.None, Crashing: true, Refused: null);
                    if (_crashingOn is null)
                    {
                        _nextCrashAt = now + crashLoopPeriod;
                    }
                    _crashingOn = (unit, package);
                    _pendingCrashes++;
                    return new NodeChange(now, Id, unit, NodeChangeKind.Applied, package.Version, package.Sha256, previous, outcome.Error);

                default:
                    _units[unit] = new UnitSlot(package, outcome.Effect, Crashing: false, Refused: null);
                    if (_crashingOn?.Unit == unit)
                    {
                        // Leaving the package it crashed on ends the loop, unless another unit's package crashes it too.
                        _crashingOn = null;
                        foreach (var (other, otherSlot) in _units)
                        {
                            if (otherSlot is { Crashing: true, Running: { } crashing })
                            {
                                _crashingOn = (other, crashing);
                            }
                        }
                    }
                    return new NodeChange(now, Id, unit, NodeChangeKind.Applied, package.Version, package.Sha256, previous);
            }
        }
    }

    /// <summary>What the node runs per unit; the unit whose package crashed it this interval is named with its crashes.</summary>
    private Dictionary<string, AppliedEntry> Applied((string Unit, PackageRef Package)? crashedOn, int crashes)
    {
        var applied = new Dictionary<string, AppliedEntry>(StringComparer.Ordinal);
        foreach (var (unit, slot) in _units)
        {
            if (slot.Refused is { } refusal)
            {
                applied[unit] = new AppliedEntry(refusal.Package.Version, refusal.Package.Sha256, AppliedEntry.Rejected, refusal.Error);
            }
            else if (slot.Running is { } running)
            {
                var crashedHere = crashes > 0 && crashedOn is var (on, package) && on == unit && package.Sha256 == running.Sha256;
                applied[unit] = new AppliedEntry(running.Version, running.Sha256, AppliedEntry.Ok, Crashes: crashedHere ? crashes : null);
            }
        }
        return applied;
    }

    /// <summary>
    /// Traffic for one interval: Poisson arrivals, binomial failures, p99 jittered around the node's own. An upstream
    /// disturbance fails its share of the requests on top of what the node and its packages fail.
    /// </summary>
    private ReportMetrics Serve(double seconds, int crashes, double disturbance)
    {
        var requests = Sampling.Poisson(_random, Profile.RequestsPerSecond * seconds);
        if (_crashingOn is not null)
        {
            return new ReportMetrics(requests, requests, requests == 0 ? 0 : Math.Round(Profile.P99LatencyMs, 1), crashes);
        }

        var healthy = (1 - Profile.ErrorRate) * (1 - disturbance);
        var extraLatency = 0.0;
        foreach (var slot in _units.Values)
        {
            healthy *= 1 - slot.Effect.ErrorShareOn(Labels);
            extraLatency += slot.Effect.ExtraLatencyMs;
        }
        var errors = Sampling.Binomial(_random, requests, 1 - healthy);

        // A p99 over a handful of requests is much noisier than over thousands.
        var jitter = _latencyJitter * (requests < 20 ? 3 : 1) * Sampling.Normal(_random);
        var p99 = requests == 0 ? 0 : Profile.P99LatencyMs * Math.Max(0.3, 1 + jitter) + extraLatency;
        return new ReportMetrics(requests, errors, Math.Round(p99, 1), crashes);
    }

    private sealed record UnitSlot(PackageRef? Running, PackageEffect Effect, bool Crashing, Refusal? Refused)
    {
        public static readonly UnitSlot Empty = new(null, PackageEffect.None, false, null);
    }
}
