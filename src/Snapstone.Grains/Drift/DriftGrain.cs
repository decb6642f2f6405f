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
/// <remarks>
/// A reminder drives the scans and brings the grain back after a restart. Reminders cannot fire more often
/// than the silo's minimum reminder period (a minute by default), so for a shorter scan interval a timer
/// scans while the grain is active and the reminder only keeps it active.
/// </remarks>
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
    private IGrainTimer? _timer;
    private bool _scheduled;

    private string Pop => this.GetPrimaryKeyString();

    private TimeSpan Interval => options.Value.ScanInterval;

    public async Task Start()
    {
        if (_scheduled)
        {
            return;
        }
        var minimum = reminderOptions.Value.MinimumReminderPeriod;
        var period = Interval > minimum ? Interval : minimum;
        await this.RegisterOrUpdateReminder(ReminderName, period, period);
        EnsureTimer();
        _scheduled = true;
    }

    public async Task<DriftScan> Latest()
    {
        await Start();
        return _latest is { } latest && time.GetUtcNow() - latest.ScannedAt < Interval ? latest : await Scan();
    }

    public async Task<DriftScan> Scan()
    {
        // The scan's time is taken before the nodes are asked: every fact is at least this fresh.
        var now = time.GetUtcNow();
        var members = await GrainFactory.GetGrain<IPopGrain>(Pop).Members();
        var facts = (await Task.WhenAll(members.Select(Facts))).OfType<NodeDriftFacts>().ToList();
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

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        _scheduled = true;
        EnsureTimer();
        await ScanIfDue();
    }

    /// <summary>One node's facts; a node that cannot answer is left out of this scan rather than blinding the whole PoP.</summary>
    private async Task<NodeDriftFacts?> Facts(string node)
    {
        try
        {
            return await GrainFactory.GetGrain<INodeHealthGrain>(node).DriftFacts();
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "Drift scan of PoP {Pop} could not ask node {Node}", Pop, node);
            return null;
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

    private async Task ScanIfDue()
    {
        // A little early counts as due: the timer and the reminder need not line up to the millisecond.
        if (_latest is null || time.GetUtcNow() - _latest.ScannedAt >= Interval * 0.9)
        {
            await Scan();
        }
    }

    private void EnsureTimer()
    {
        if (_timer is not null || Interval >= reminderOptions.Value.MinimumReminderPeriod)
        {
            return;
        }
        _timer = this.RegisterGrainTimer(async _ => await ScanIfDue(), new GrainTimerCreationOptions(Interval, Interval) { Interleave = false, KeepAlive = true });
    }
}
