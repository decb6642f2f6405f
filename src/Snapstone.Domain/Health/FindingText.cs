using System.Globalization;

namespace Snapstone.Domain.Health;

/// <summary>
/// A finding as one line of text, with its numbers: what the timeline, the HTTP gateway and the CLI show.
/// </summary>
/// <example>
/// <c>new Finding.ErrorRate(CheckOutcome.Fail, "cohort", 310, 10000, 0.01, null, null, 1e-40, 0.001)</c> →
/// <c>cohort error rate 3.10% (310/10000) &gt; ceiling 1.00%</c>.
/// </example>
public static class FindingText
{
    /// <summary>How many node ids a line names before it says "and N more".</summary>
    public const int MaxNamedNodes = 5;

    public static string Render(Finding finding) => finding switch
    {
        Finding.EmptyWave => "no nodes selected: an empty wave adds no risk",
        Finding.Crashed c => $"{c.Count} crash(es) on {c.Nodes} node(s) > max {c.Max} ({Named(c.Named, c.Nodes)})",
        Finding.Rejected r => $"{r.Nodes} node(s) rejected the package > max {r.Max} ({Named(r.Named, r.Nodes)})",
        Finding.Reporting r => Reporting(r),
        Finding.TooLittleTraffic t => $"cohort served {Count(t.Requests)} requests < {t.Min} needed for a verdict",
        Finding.CeilingOnly c => $"no control traffic (≥ {c.MinControlRequests} requests) and no baselines: judged against the ceiling only",
        Finding.BaselineOnly b =>
            $"no control traffic at the same time (≥ {b.MinControlRequests} requests): compared with the cohort's own baselines from before the change",
        Finding.ErrorRate e => ErrorRate(e),
        Finding.Latency l => Latency(l),
        Finding.LatencyCeiling l => LatencyCeiling(l),
        Finding.Ambient a => Ambient(a),
        Finding.Metric m => Metric(m),
        Finding.MetricsOnly => "no traffic in the cohort's reports: judged on its metric queries alone",
        Finding.FlakySetAside f =>
            $"set aside {Side(f.Side)} node {f.Node}: error rate {RateText(f.Errors, f.Requests)} matches its own baseline {Percent(f.Baseline)} from before the change",
        Finding.FlakyMore f => $"set aside {f.Count} more {Side(f.Side)} node(s) that were as flaky before the change",
        Finding.FlakyTooMany f =>
            $"{f.Count} of {f.Total} {Side(f.Side)} nodes were above the ceiling before the change too: too many to set aside, all are judged",
        Finding.Outlier o =>
            $"set aside outlier node {o.Node}: error rate {RateText(o.Errors, o.Requests)}, p99 {Ms(o.P99)}, " +
            (o.BaselineErrorRate is { } b ? $"already {Percent(b)} before the change" : $"p99 already {Ms(o.BaselineP99 ?? 0)} before the change") +
            $"; the other {o.Others} nodes are within the gates",
        Finding.WeightCapped w =>
            $"counted {w.Nodes} {Side(w.Side)} node(s) as {Count(w.Cap)} requests each, {Number(w.Multiple)}× the {Side(w.Side)}'s median node ({Count(w.Median)}), " +
            $"so no node outweighs the rest: {Named(w.Named, w.Nodes)}",
        Finding.AttributedElsewhere a =>
            $"left out {Side(a.Side)} node {a.Node}: its errors ({RateText(a.Errors, a.Requests)}) began at {Clock(a.Onset)} UTC, " +
            $"after it applied {a.Unit} v{a.Version} at {Clock(a.AppliedAt)} UTC: that change's regression, not this one's",
        Finding.AttributedMore a => $"left out {a.Count} more {Side(a.Side)} node(s) whose errors began after another unit's change",
        Finding.OneNodeSegment s =>
            $"{Render(s.Failure)}, but only because of node {s.Node} (error rate {RateText(s.Errors, s.Requests)}, p99 {Ms(s.P99)}): " +
            $"the other {s.Others} {s.Segment} node(s) are within the gates, so this is one node, not the segment; it is judged with the whole cohort and by its own breach check",
        Finding.NodeCrashed c => $"node {c.Node} crashed {c.Crashes} time(s) on the package",
        Finding.NodeRejected r => $"node {r.Node} rejected the package",
        Finding.NodeBreach b =>
            $"node {b.Node} error rate {Percent(Rate(b.Errors, b.Requests))} ({Count(b.Errors)}/{Count(b.Requests)}) > {Number(b.Factor)}× its limit {Percent(b.Limit)} " +
            $"(ceiling {Percent(b.Ceiling)}, own baseline {(b.Baseline is { } baseline ? Percent(baseline) : "unknown")})",
        Finding.Aligned a =>
            $"compared with the control over the {a.Slots} time slot(s) both reported in ({Clock(a.From)}–{Clock(a.To)} UTC): " +
            $"{Count(a.ControlLeftOut)} control requests at other times left out" + (a.CohortLeftOut > 0 ? $", and {Count(a.CohortLeftOut)} cohort requests with no control to compare with" : ""),
        Finding.BreachWeighed w => BreachWeighed(w),
        Finding.Note n => n.Text,
        _ => finding.GetType().Name,
    };

    public static IReadOnlyList<string> Render(IEnumerable<Finding> findings) => [.. findings.Select(Render)];

    private static string Reporting(Finding.Reporting r)
    {
        var line = $"{r.Reported}/{r.Targeted} nodes reported on the package ({Percent(r.Targeted > 0 ? (double)r.Reported / r.Targeted : 0, 0)})";
        return r.Enough ? line : $"{line} < required {Percent(r.Fraction, 0)} ({r.Required} nodes)";
    }

    private static string ErrorRate(Finding.ErrorRate e)
    {
        var observed = $"{e.Subject} error rate {RateText(e.Errors, e.Requests)}";
        var limit = e.Ratio is not { } ratio || e.Reference is not { } reference
            ? $"ceiling {Percent(e.Limit)}"
            : $"{Number(ratio)}× {Describe(reference)}{(reference.Floored > reference.Rate ? $", floored to {Percent(reference.Floored)}" : "")} = {Percent(e.Limit)}";
        return e.Outcome switch
        {
            CheckOutcome.Pass => $"{observed} within {limit}",
            // The always-valid evidence crossed at one slot while the whole window's figure is within the limit: the
            // figure alone would read as a contradiction, so the text says when the evidence was decided.
            CheckOutcome.Fail when e.Requests > 0 && e.Errors / e.Requests <= e.Limit =>
                $"{observed} over the window is within {limit}, but was significantly over it" +
                (e.DecidedAt is { } at ? $" by {Clock(at)} UTC" : "") +
                $" (p = {e.P.ToString("0.###", CultureInfo.InvariantCulture)}, needs < {Number(e.Significance)})",
            CheckOutcome.Fail => $"{observed} > {limit}",
            _ => $"{observed} > {limit}, but that could be chance on {Count(e.Requests)} requests " +
                 $"(p = {e.P.ToString("0.###", CultureInfo.InvariantCulture)}, needs < {Number(e.Significance)})",
        };
    }

    private static string Describe(ReferenceFigures reference) => reference switch
    {
        { Kind: ReferenceKind.Control, Errors: { } errors, Requests: { } requests } => $"{reference.Name} {Percent(reference.Rate)} ({Count(errors)}/{Count(requests)})",
        { Kind: ReferenceKind.Control } => $"{reference.Name} {Percent(reference.Rate)}",
        _ => $"the cohort's own baseline {Percent(reference.Rate)}",
    };

    private static string Latency(Finding.Latency l)
    {
        var within = l.Outcome == CheckOutcome.Pass || l.Observed <= l.Ratio;
        var line = $"{l.Subject} p99 {Ms(l.P99)} {(within ? "within" : ">")} {Number(l.Ratio)}× {l.ReferenceName} p99 {Ms(l.ReferenceP99)} " +
                   $"(ratio {l.Observed.ToString("0.00", CultureInfo.InvariantCulture)})";
        return l.Outcome switch
        {
            CheckOutcome.Fail when within =>
                $"{line} over the window, but was significantly over it" + (l.DecidedAt is { } at ? $" by {Clock(at)} UTC" : "") +
                $" (p = {l.P.ToString("0.###", CultureInfo.InvariantCulture)}, needs < {Number(l.Significance)})",
            CheckOutcome.Pass or CheckOutcome.Fail => line,
            _ => $"{line}, but that could be noise over {l.Slots} time slot(s) (p = {l.P.ToString("0.###", CultureInfo.InvariantCulture)}, needs < {Number(l.Significance)})",
        };
    }

    private static string LatencyCeiling(Finding.LatencyCeiling l)
    {
        var line = $"{l.Subject} p99 {Ms(l.P99)} {(l.Outcome == CheckOutcome.Pass ? "within" : ">")} ceiling {Ms(l.Max)}";
        return l.Outcome != CheckOutcome.Unsure
            ? line
            : $"{line}, but that could be noise over {l.Slots} time slot(s) (p = {l.P.ToString("0.###", CultureInfo.InvariantCulture)}, needs < {Number(l.Significance)})";
    }

    private static string Ambient(Finding.Ambient a)
    {
        var (what, cohort, control, max) = a.Ceiling == Ceiling.ErrorRate
            ? ("error rate", Percent(a.Cohort), Percent(a.Control), $"ceiling {Percent(a.Max)}")
            : ("p99", Ms(a.Cohort), Ms(a.Control), $"ceiling {Ms(a.Max)}");
        var when = a.From is { } from && a.To is { } to ? $" in {a.Slots} time slot(s) ({Clock(from)}–{Clock(to)} UTC)" : "";
        var p = a.P.ToString("0.###", CultureInfo.InvariantCulture);
        var reference = a.AgainstBaseline ? "its own baseline" : "the control";
        var than = a.Ratio == 1 ? reference : $"{Number(a.Ratio)}× {reference}";
        if (a.AgainstBaseline)
        {
            return a.Outcome == CheckOutcome.Fail
                ? $"{a.Subject} {what} {cohort} > {max}, which its own baseline ({control}) was over too before the change{when}, " +
                  $"and the {a.Subject} is significantly worse than {than} (p = {p}, needs < {Number(a.Significance)})"
                : $"ambient disturbance: {a.Subject} {what} {cohort} over the {max}{when}, as its own baseline {control} was before the change " +
                  $"(no control at the same time), the {a.Subject} no worse than {than} (p = {p}): " +
                  AmbientWait(a);
        }
        return a.Outcome switch
        {
            CheckOutcome.Fail =>
                $"{a.Subject} {what} {cohort} > {max} while the control was over it too ({control}){when}, " +
                $"and the {a.Subject} is significantly worse than {than} (p = {p}, needs < {Number(a.Significance)})",
            _ =>
                $"ambient disturbance: {a.Subject} {what} {cohort} and control {control} both over the {max}{when}, " +
                $"the {a.Subject} no worse than {than} (p = {p}): " +
                AmbientWait(a),
        };
    }

    private static string AmbientWait(Finding.Ambient a) =>
        a.Outcome == CheckOutcome.Pass ? "those slots are left out of the ceiling check"
        : a.Ongoing ? "waiting for it to clear"
        : a.Heard < a.Needed ? $"waiting for reports after it from {a.Needed - a.Heard} more node(s) ({a.Heard} of the {a.Needed} needed so far)"
        : "waiting for enough traffic after it";

    private static string BreachWeighed(Finding.BreachWeighed w)
    {
        var around = string.Join(" and ", new[] { w.Pop is { } pop ? $"its PoP ({Percent(pop)})" : null, w.Control is { } control ? $"the control ({Percent(control)})" : null }
            .OfType<string>());
        var node = $"node {w.Node} error rate {RateText(w.Errors, w.Requests)}";
        var p = w.P.ToString("0.###", CultureInfo.InvariantCulture);
        return (w.Standing, around) switch
        {
            (BreachStanding.Confirmed, "") => $"{node}: no same-time PoP or control traffic to weigh it against, so its own limit decides",
            (_, "") => $"{node}: the control has not reported at the node's moments yet, so it cannot be weighed now: left to the verdict",
            (BreachStanding.Confirmed, _) => $"{node} is significantly worse than {around} at the same time (p = {p}, needs < {Number(w.Significance)})",
            (BreachStanding.Ambient, _) => $"{node}, but {around} at the same time say the trouble is around it, not on it: left to the verdict",
            _ => $"{node} is worse than {around} at the same time, but that could be chance (p = {p}, needs < {Number(w.Significance)}): left to the verdict",
        };
    }

    private static string Metric(Finding.Metric m)
    {
        var head = $"metric {m.Gate} ({Shorten(m.Query, 120)})";
        var tail = m.ReportOnly && m.Outcome != CheckOutcome.Pass ? " [report-only: recorded, not acted on]" : "";
        if (m.Limit is not { } limit || m.Value is not { } value || m.Cohort is not { } cohort)
        {
            return $"{head}: {m.Problem}: inconclusive{tail}";
        }
        var ours = $"cohort {Value(cohort)} on {m.CohortNodes} node(s)";
        var theirs = m.Control is { } control ? $"control {Value(control)} on {m.ControlNodes} node(s)" : "no control value";
        var higher = m.Direction == Plans.MetricDirection.HigherIsWorse;
        var verb = m.Outcome == CheckOutcome.Pass ? "within" : higher ? ">" : "<";

        var times = m.Observed is { } observed
            ? double.IsPositiveInfinity(observed) ? "infinitely" : observed.ToString("0.00", CultureInfo.InvariantCulture) + "×"
            : null;
        if (limit == MetricLimit.Ratio && m.Control is null && m.Outcome == CheckOutcome.Pass)
        {
            return $"{head}: {ours}; the {Number(value)}× ratio: {m.Problem}{tail}";
        }
        var line = (limit, m.Outcome) switch
        {
            (MetricLimit.Max, _) => $"{head}: {ours} {verb} {(higher ? "max" : "min")} {Value(value)} ({theirs})",
            (_, CheckOutcome.Fail) => $"{head}: {ours} is {times} worse than {theirs}, more than the {Number(value)}× allowed",
            _ => $"{head}: {ours} {(m.Outcome == CheckOutcome.Pass ? "within" : "against")} {Number(value)}× {theirs}" + (times is null ? "" : $" (ratio {times})"),
        };
        return m.Problem is null ? line + tail : $"{line}, but {m.Problem}{tail}";
    }

    private static string Value(double value) => value.ToString("G4", CultureInfo.InvariantCulture);

    private static string Shorten(string text, int max) => text.Length <= max ? text : text[..(max - 3)] + "...";

    private static string Side(Side side) => side == Health.Side.Cohort ? "cohort" : "control";

    private static string Named(IReadOnlyList<string> named, int total)
    {
        var shown = named.Take(MaxNamedNodes).ToList();
        return string.Join(", ", shown) + (total > shown.Count ? $" and {total - shown.Count} more" : "");
    }

    private static double Rate(double errors, double requests) => requests > 0 ? errors / requests : 0;

    /// <summary><c>3.10% (310/10000)</c></summary>
    internal static string RateText(double errors, double requests) => $"{Percent(Rate(errors, requests))} ({Count(errors)}/{Count(requests)})";

    /// <summary>A count as a whole number when it is one (<c>310</c>), else with one decimal (<c>2999.7</c>: a capped node's share).</summary>
    internal static string Count(double value) => value.ToString(value == Math.Floor(value) ? "0" : "0.0", CultureInfo.InvariantCulture);

    internal static string Percent(double share, int decimals = 2) =>
        (share * 100).ToString(decimals == 0 ? "0" : "0." + new string('0', decimals), CultureInfo.InvariantCulture) + "%";

    internal static string Number(double value) => value.ToString("0.######", CultureInfo.InvariantCulture);

    private static string Clock(DateTimeOffset at) => at.UtcDateTime.ToString("HH:mm:ss.f", CultureInfo.InvariantCulture);

    internal static string Ms(double value) => value.ToString("0.0", CultureInfo.InvariantCulture) + " ms";
}
