using Snapstone.Domain.Nodes;

namespace Snapstone.Domain.Health;

/// <summary>A node's traffic summed over a stretch of time.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.HealthTotals")]
public sealed record HealthTotals
{
    [Id(0)] public long Requests { get; init; }
    [Id(1)] public long Errors { get; init; }
    /// <summary>The worst reported p99 in the stretch; 0 when nothing was served.</summary>
    [Id(2)] public double P99LatencyMs { get; init; }
    [Id(3)] public int Crashes { get; init; }
    /// <summary>How many reports were summed.</summary>
    [Id(4)] public int Reports { get; init; }

    public double ErrorRate => Requests > 0 ? (double)Errors / Requests : 0;

    public static readonly HealthTotals Empty = new();
}

/// <summary>
/// The last <see cref="Span"/> of one node's reports, in memory only (a node grain holds one per node, so it
/// must stay small): <see cref="Slots"/> time slots, each <c>Span / 64</c> long, where reports landing in the same
/// slot are summed. Only slots a report landed in are held, oldest first (a node reporting every 5 s fills 13 of the
/// 64, and holds 16 — 0.7 KB instead of 2.6 KB); memory is bounded by the 64 however often a node reports.
/// </summary>
/// <example>
/// With the default 60 s span a slot is 60 / 64 = 0.9375 s. Reports at 10:00:00.2 (100 requests, 1 error,
/// p99 40 ms) and 10:00:00.5 (80 requests, 0 errors, p99 55 ms) share a slot; the totals at 10:00:30 are
/// 180 requests, 1 error, p99 55 ms. At 10:01:01 that slot has left the window and the totals are empty.
/// </example>
public sealed class HealthWindow
{
    public const int Slots = 64;
    public static readonly TimeSpan DefaultSpan = TimeSpan.FromSeconds(60);
    /// <summary>A baseline with fewer requests than this gives no baseline rate: 1 error in 20 is not a node's "normal" 5%.</summary>
    public const long MinBaselineRequests = 100;

    private readonly long _slotTicks;
    /// <summary>The slots with a report, by slot number, oldest first; every one within <see cref="Slots"/> of the newest.</summary>
    private Slot[] _slots = [];
    private int _count;

    public HealthWindow(TimeSpan? span = null)
    {
        var chosen = span ?? DefaultSpan;
        if (chosen < TimeSpan.FromTicks(Slots))
        {
            throw new ArgumentOutOfRangeException(nameof(span), chosen, $"a health window spans at least {Slots} ticks");
        }
        Span = chosen;
        _slotTicks = chosen.Ticks / Slots;
    }

    public TimeSpan Span { get; }

    /// <summary>How long one slot is: <see cref="Span"/> / <see cref="Slots"/>, in ticks.</summary>
    public long SlotTicks => _slotTicks;

    /// <summary>The window's totals when the node was last assigned a new package: its "before the change".</summary>
    public HealthTotals? Baseline { get; private set; }

    /// <summary>The baseline's error rate, or null when there is none or it rests on fewer than <see cref="MinBaselineRequests"/> requests.</summary>
    public double? BaselineErrorRate => Baseline is { Requests: >= MinBaselineRequests } b ? b.ErrorRate : null;

    /// <summary>The baseline's p99, on the same terms as <see cref="BaselineErrorRate"/>.</summary>
    public double? BaselineP99LatencyMs => Baseline is { Requests: >= MinBaselineRequests } b ? b.P99LatencyMs : null;

    /// <summary>
    /// Adds one report's metrics at <paramref name="at"/>. A report older than what its slot already holds
    /// (more than a window late) is dropped; negative or impossible numbers are clamped, never trusted.
    /// </summary>
    public void Add(DateTimeOffset at, NodeMetrics metrics)
    {
        var position = Place(at.UtcTicks / _slotTicks);
        if (position < 0)
        {
            return;
        }
        ref var slot = ref _slots[position];
        var requests = Math.Max(0, metrics.Requests);
        slot.Requests += requests;
        slot.Errors += Math.Clamp(metrics.Errors, 0, requests);
        if (requests > 0 && double.IsFinite(metrics.P99LatencyMs) && metrics.P99LatencyMs > slot.P99LatencyMs)
        {
            slot.P99LatencyMs = metrics.P99LatencyMs;
        }
        slot.Crashes += Math.Max(0, metrics.Crashes);
        slot.Reports++;
    }

    /// <summary>
    /// The node changed package at <paramref name="at"/>: what the slot holding that moment has summed so far
    /// belongs to the package it left, so it moves to the slot before, and totals since <paramref name="at"/> start
    /// clean. Without it a crash reported on a bad package earlier in the same slot would count against the good
    /// one the node reports next. Call before adding the first report on the new package.
    /// </summary>
    /// <example>
    /// Slot 0.9375 s. A crash report at 10:00:00.10 (on v3), the node's first report on v4 at 10:00:00.60: Split at
    /// 10:00:00.60 moves the crash to the slot before, so totals since 10:00:00.60 hold only v4's report.
    /// </example>
    /// <returns>Whether anything moved.</returns>
    public bool Split(DateTimeOffset at)
    {
        var index = at.UtcTicks / _slotTicks;
        if (Find(index) is not (>= 0 and var found))
        {
            return false;
        }
        var slot = _slots[found];
        Remove(found);
        var position = Place(index - 1);
        if (position < 0)
        {
            return false; // the slot before is out of the window: what moved there would never be judged
        }
        ref var before = ref _slots[position];
        before.Requests += slot.Requests;
        before.Errors += slot.Errors;
        before.P99LatencyMs = Math.Max(before.P99LatencyMs, slot.P99LatencyMs);
        before.Crashes += slot.Crashes;
        before.Reports += slot.Reports;
        return true;
    }

    /// <summary>Where slot <paramref name="index"/> is, or the complement of where it would go (<see cref="Array.BinarySearch(Array, object)"/>).</summary>
    private int Find(long index)
    {
        int lo = 0, hi = _count - 1;
        while (lo <= hi)
        {
            var mid = (lo + hi) >>> 1;
            var at = _slots[mid].Index;
            if (at == index)
            {
                return mid;
            }
            if (at < index)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }
        return ~lo;
    }

    /// <summary>
    /// The position of slot <paramref name="index"/>, made (empty) if it has no report yet; -1 for a slot a whole
    /// window or more older than the newest, which no total can reach. Making a newer slot drops those that leave
    /// the window with it, so the array never holds more than <see cref="Slots"/>.
    /// </summary>
    private int Place(long index)
    {
        if (_count > 0 && index <= _slots[_count - 1].Index - Slots)
        {
            return -1;
        }
        var found = Find(index);
        if (found >= 0)
        {
            return found;
        }
        var leaving = 0;
        while (leaving < _count && _slots[leaving].Index <= index - Slots)
        {
            leaving++;
        }
        if (leaving > 0)
        {
            Array.Copy(_slots, leaving, _slots, 0, _count - leaving);
            _count -= leaving;
            found = Find(index);
        }
        var position = ~found;
        if (_count == _slots.Length)
        {
            Array.Resize(ref _slots, Math.Min(Slots, Math.Max(4, _slots.Length * 2)));
        }
        Array.Copy(_slots, position, _slots, position + 1, _count - position);
        _slots[position] = new Slot { Index = index };
        _count++;
        return position;
    }

    private void Remove(int position)
    {
        Array.Copy(_slots, position + 1, _slots, position, _count - position - 1);
        _count--;
        _slots[_count] = default;
    }

    /// <summary>
    /// Totals of the slots inside the window ending at <paramref name="now"/>; with <paramref name="since"/>,
    /// only from the slot holding that moment on (e.g. since the node first reported the new package, so the
    /// old package's traffic is not judged as the new one's).
    /// </summary>
    public HealthTotals Totals(DateTimeOffset now, DateTimeOffset? since = null)
    {
        var (first, last) = Range(now, since);
        long requests = 0, errors = 0;
        var crashes = 0;
        var reports = 0;
        double p99 = 0;
        foreach (var slot in _slots.AsSpan(0, _count))
        {
            if (slot.Reports == 0 || slot.Index < first || slot.Index > last)
            {
                continue;
            }
            requests += slot.Requests;
            errors += slot.Errors;
            crashes += slot.Crashes;
            reports += slot.Reports;
            p99 = Math.Max(p99, slot.P99LatencyMs);
        }
        return reports == 0
            ? HealthTotals.Empty
            : new HealthTotals { Requests = requests, Errors = errors, P99LatencyMs = p99, Crashes = crashes, Reports = reports };
    }

    /// <summary>
    /// The same slots <see cref="Totals"/> sums, one by one: from the first slot with a report (at or after
    /// <paramref name="since"/>) to the last, zeros where no report landed. Null when no slot has a report.
    /// </summary>
    /// <example>
    /// Reports at 10:00:00.2 (100 requests), 10:00:00.5 (80) and 10:00:02.0 (50), since 10:00:00: three slots of
    /// 0.9375 s from the one holding 10:00:00 — requests [180, 0, 50].
    /// </example>
    public SlotSeries? Series(DateTimeOffset now, DateTimeOffset? since = null)
    {
        var (first, last) = Range(now, since);
        long lo = long.MaxValue, hi = long.MinValue;
        foreach (var slot in _slots.AsSpan(0, _count))
        {
            if (slot.Reports > 0 && slot.Index >= first && slot.Index <= last)
            {
                lo = Math.Min(lo, slot.Index);
                hi = Math.Max(hi, slot.Index);
            }
        }
        if (lo > hi)
        {
            return null;
        }
        var count = (int)(hi - lo + 1);
        var requests = new long[count];
        var errors = new long[count];
        var p99 = new double[count];
        foreach (var slot in _slots.AsSpan(0, _count))
        {
            if (slot.Reports > 0 && slot.Index >= lo && slot.Index <= hi)
            {
                var i = (int)(slot.Index - lo);
                requests[i] = slot.Requests;
                errors[i] = slot.Errors;
                p99[i] = slot.P99LatencyMs;
            }
        }
        return new SlotSeries { SlotTicks = _slotTicks, FirstSlot = lo, Requests = requests, Errors = errors, P99 = p99 };
    }

    /// <summary>The slot numbers inside the window ending at <paramref name="now"/>, from <paramref name="since"/>'s slot on.</summary>
    private (long First, long Last) Range(DateTimeOffset now, DateTimeOffset? since)
    {
        var last = now.UtcTicks / _slotTicks;
        var first = last - Slots + 1;
        if (since is { } from)
        {
            first = Math.Max(first, from.UtcTicks / _slotTicks);
        }
        return (first, last);
    }

    /// <summary>Records the window's totals at <paramref name="now"/> as the baseline; call when a new package is assigned.</summary>
    public HealthTotals CaptureBaseline(DateTimeOffset now)
    {
        Baseline = Totals(now);
        return Baseline;
    }

    /// <summary>
    /// The node's <see cref="NodeSample"/> for a verdict: totals since <paramref name="since"/> (and not before
    /// <paramref name="from"/>, the start of the stretch the rollout judges) with their slot-by-slot
    /// <see cref="NodeSample.Series"/>, plus the baseline. A node that does not run the package
    /// (<paramref name="reported"/> false) carries no traffic at all: whatever it served, or crashed on, was another
    /// package's doing, and must not count against this one. <paramref name="applies"/> says when the node applied each
    /// unit's package, for <see cref="Attribution"/>; <paramref name="pop"/> is the node's PoP.
    /// </summary>
    public NodeSample Sample(string nodeId, DateTimeOffset now, DateTimeOffset? since, bool reported, bool rejected,
        IReadOnlyDictionary<string, string> labels, DateTimeOffset? from = null, IReadOnlyList<UnitApply>? applies = null, string? pop = null)
    {
        var start = since is { } s && from is { } f ? (s > f ? s : f) : since ?? from;
        var totals = reported ? Totals(now, start) : HealthTotals.Empty;
        return new NodeSample
        {
            NodeId = nodeId,
            Requests = totals.Requests,
            Errors = totals.Errors,
            P99LatencyMs = totals.P99LatencyMs,
            Crashes = totals.Crashes,
            Rejected = rejected,
            Reported = reported,
            Labels = labels,
            BaselineErrorRate = BaselineErrorRate,
            BaselineP99LatencyMs = BaselineP99LatencyMs,
            Series = reported ? Series(now, start) : null,
            Applies = applies ?? [],
            Pop = pop,
        };
    }

    private struct Slot
    {
        public long Index;
        public long Requests;
        public long Errors;
        public double P99LatencyMs;
        public int Crashes;
        public int Reports;
    }
}
