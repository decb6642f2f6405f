using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Snapstone.Domain.Drift;
using Snapstone.Domain.Nodes;

namespace Snapstone.Grains.Drift;

/// <summary>
/// Scans one PoP (its key) for drift: asks each member node for its drift facts, learns which packages
/// Snapstone issued for the versions nodes run, and classifies with <see cref="DriftRules"/>. Keeps only the
/// latest scan, in memory: a new activation scans again before answering.
/// </summary>
/// <remarks>A reminder drives the scans and brings the grain back after a restart, and a timer scans between its firings (<see cref="ScanCadence"/>).</remarks>
public sealed class DriftGrain(
    TimeProvider time,
    IOptions<DriftOptions> options,
    IOptions<ReminderOptions> reminderOptions,
    ILogger<DriftGrain> logger) : Grain, IDriftGrain, IRemindable
{
    private const string ReminderName = "drift-scan";
    /// <summary>Bounds the memory of what was issued; far beyond what a PoP's nodes run at once.</summary>
    internal const int MaxIssuedKnown = 10_000;

    /// <summary>(unit, version) → its hash when Snapstone issued it, null when it failed validation. Packages never change.</summary>
    private readonly Dictionary<(string Unit, long Version), string?> _issued = [];
    private DriftScan? _latest;
    private ScanCadence? _cadence;
    private bool _started;

    private string Pop => this.GetPrimaryKeyString();

    private ScanCadence Cadence => _cadence ??= new ScanCadence(this, ReminderName, options.Value.ScanInterval,
        reminderOptions.Value.MinimumReminderPeriod, time, () => _latest?.ScannedAt, Scan);

    /// <summary>Also starts the fleet's drift check, which adds this PoP's counts up with the others'.</summary>
    public async Task Start()
    {
        if (_started)
        {
            return;
        }
        await Cadence.Start();
        await GrainFactory.GetGrain<IFleetDriftGrain>(IFleetDriftGrain.Key).Start();
        _started = true;
    }

    public async Task<DriftScan> Latest()
    {
        await Start();
        return Cadence.Fresh ? _latest! : await Scan();
    }

    public async Task<DriftCounts> Counts()
    {
        var scan = await Latest();
        return DriftCounts.Of(scan.ScannedAt, scan.Nodes, scan.Drifted);
    }

    public async Task<DriftScan> Scan()
    {
        // The scan's time is taken before the nodes are asked: every fact is at least this fresh.
        var now = time.GetUtcNow();
        var members = await GrainFactory.GetGrain<IPopGrain>(Pop).Members();
        var asked = await Task.WhenAll(members.Select(Facts));
        var facts = asked.Select(a => a.Facts).OfType<NodeDriftFacts>().ToList();
        if (asked.FirstOrDefault(a => a.Error is not null) is { Error: { } first } failed)
        {
            // One line a scan, not one a node: a scan asks every member at once, and on an overloaded cluster a warning
            // with a stack trace for each of hundreds of timed-out calls every scan adds to the load that timed them out.
            logger.LogWarning(first, "Drift scan of PoP {Pop} could not ask {Failed} of {Members} node(s), e.g. {Node}; they are left out of this scan",
                Pop, asked.Count(a => a.Error is not null), members.Count, failed.Node);
        }
        var unknown = await LearnIssued(facts);
        var settings = options.Value.Settings();
        bool Issued(string unit, AppliedPackage applied) =>
            unknown.Contains((unit, applied.Version)) ||
            _issued.TryGetValue((unit, applied.Version), out var sha) && sha is not null && (applied.Sha256 is null || applied.Sha256 == sha);
        var drifted = facts.SelectMany(f => DriftRules.Entries(f, now, settings, Issued))
            .OrderBy(e => e.Node, StringComparer.Ordinal).ThenBy(e => e.Unit, StringComparer.Ordinal)
            .ToList();
        var previous = _latest;
        _latest = new DriftScan { Pop = Pop, ScannedAt = now, Nodes = members.Count, Drifted = drifted };
        if (previous is null || previous.Drifted.Count != drifted.Count)
        {
            logger.LogInformation("Drift scan of PoP {Pop}: {Entries} drifted, stale or out-of-band unit(s) on {Nodes} node(s)",
                Pop, drifted.Count, drifted.Select(e => e.Node).Distinct().Count());
        }
        DriftMetrics.Scanned(Pop, drifted.Count);
        return _latest;
    }

    public Task ReceiveReminder(string reminderName, TickStatus status) => Cadence.Remind();

    /// <summary>One node's facts; a node that cannot answer is left out of this scan rather than blinding the whole PoP.</summary>
    private async Task<(string Node, NodeDriftFacts? Facts, Exception? Error)> Facts(string node)
    {
        try
        {
            return (node, await GrainFactory.ByKey<INodeFanOutGrain>(node).DriftFacts(), null);
        }
        catch (Exception e)
        {
            return (node, null, e);
        }
    }

    /// <summary>
    /// Looks up the packages nodes run instead of their desired one, once per (unit, version). Answers the
    /// lookups that failed: those count as issued for this scan, since an outage is not evidence of tampering.
    /// </summary>
    private async Task<HashSet<(string, long)>> LearnIssued(IReadOnlyList<NodeDriftFacts> facts)
    {
        var wanted = facts.SelectMany(f => f.Units).Where(DriftRules.NeedsIssueCheck)
            .Select(u => (u.Unit, u.Applied!.Version)).Distinct().Where(k => !_issued.ContainsKey(k)).ToList();
        var unknown = new HashSet<(string, long)>();
        if (wanted.Count == 0)
        {
            return unknown;
        }
        if (_issued.Count + wanted.Count > MaxIssuedKnown)
        {
            _issued.Clear();
        }
        var views = await Task.WhenAll(wanted.Select(async key =>
        {
            try
            {
                return (key, View: await GrainFactory.GetGrain<IUnitGrain>(key.Unit).GetPackage(key.Version), Failed: false);
            }
            catch (Exception e)
            {
                logger.LogWarning(e, "Drift scan of PoP {Pop} could not look up {Unit} v{Version}", Pop, key.Unit, key.Version);
                return (key, View: (PackageView?)null, Failed: true);
            }
        }));
        foreach (var (key, view, failed) in views)
        {
            if (failed)
            {
                unknown.Add(key);
            }
            else if (view is not null)
            {
                _issued[key] = view.State == PackageState.Rejected ? null : view.Record.Sha256;
            }
        }
        return unknown;
    }
}
