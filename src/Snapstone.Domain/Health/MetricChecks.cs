using Snapstone.Domain.Plans;

namespace Snapstone.Domain.Health;

/// <summary>
/// A metric gate judged like pushed metrics: the cohort's value (the mean over its nodes with a value) against an
/// absolute limit and against <see cref="MetricGate.MaxRatio"/> × the control's, in the metric's direction. No reading,
/// a failed query or too few cohort nodes with a value is unsure (the wave waits), never a pass; an absolute limit the
/// control breaches as well at the same time is an ambient disturbance, which waits too.
/// </summary>
/// <example>
/// <c>edge-error-rate</c>, higher-is-worse, max 0.01, maxRatio 2, minNodes 3: cohort values 0.012, 0.015, 0.012 (mean
/// 0.013) and control mean 0.001 → fails both the max and the ratio (13×). Cohort mean 0.013 with the control at 0.012
/// → the max is breached by both (ambient: waits), and the ratio (1.08×) passes. Two cohort nodes with a value → unsure.
/// </example>
internal static class MetricChecks
{
    /// <param name="controlExists">
    /// False when the wave has no control nodes at all (its cohort is every consumer: the last wave, or a unit's first
    /// package): then <see cref="MetricGate.MaxRatio"/> has nothing to be taken against and is skipped, said in its finding,
    /// and <see cref="MetricGate.Max"/> alone judges. Control nodes that exist but gave no value are missing data (unsure).
    /// </param>
    public static IEnumerable<Check> Evaluate(MetricGate gate, MetricReading? reading, bool controlExists = true)
    {
        var reportOnly = gate.Mode == GateMode.ReportOnly;
        Check Unsure(string problem, int cohortNodes = 0) => new(CheckKind.Metric, CheckOutcome.Unsure,
            new Finding.Metric(CheckOutcome.Unsure, gate.Name, gate.Query, gate.Direction, null, null, null, null, cohortNodes, 0, reportOnly, problem));

        if (reading is null)
        {
            yield return Unsure("no reading");
            yield break;
        }
        if (reading.Error is { } error)
        {
            yield return Unsure($"query failed: {Shorten(error)}");
            yield break;
        }
        var cohort = Finite(reading.Cohort);
        var control = Finite(reading.Control);
        if (cohort.Count < gate.MinNodes)
        {
            // NaN is what 0/0 gives for a node that served nothing in the query's range; ±Inf a division by 0: neither is a value.
            var without = reading.Cohort.Count(v => v is not null && !double.IsFinite(v.Value));
            var note = without > 0 ? $" ({without} more answered NaN or ±Inf, which is no value)" : "";
            yield return Unsure($"{cohort.Count} cohort node(s) with a value{note}, {gate.MinNodes} needed", cohort.Count);
            yield break;
        }
        var ours = cohort.Average();
        double? theirs = control.Count > 0 ? control.Average() : null;
        var higher = gate.Direction == MetricDirection.HigherIsWorse;
        if (gate.Max is { } max)
        {
            var over = higher ? ours > max : ours < max;
            var ambient = over && theirs is { } t && (higher ? t > max : t < max);
            var outcome = !over ? CheckOutcome.Pass : ambient ? CheckOutcome.Unsure : CheckOutcome.Fail;
            yield return new Check(CheckKind.Metric, outcome, new Finding.Metric(outcome, gate.Name, gate.Query, gate.Direction, MetricLimit.Max, max, ours, theirs,
                cohort.Count, control.Count, reportOnly, ambient ? "the control is over it too at the same time: an ambient disturbance, waiting for it to clear" : null));
        }
        if (gate.MaxRatio is { } ratio)
        {
            if (theirs is null && !controlExists)
            {
                yield return new Check(CheckKind.Metric, CheckOutcome.Pass, new Finding.Metric(CheckOutcome.Pass, gate.Name, gate.Query, gate.Direction, MetricLimit.Ratio, ratio, ours, null,
                    cohort.Count, 0, reportOnly, NoControl));
                yield break;
            }
            if (theirs is not { } reference)
            {
                yield return Unsure("no control node has a value to take the ratio against", cohort.Count);
                yield break;
            }
            // How many times worse the cohort is: ours / theirs when more is worse, theirs / ours when less is. A control at 0
            // gives no ratio for a higher-is-worse metric (any cohort value would be "infinitely worse"); a cohort at 0 of a
            // lower-is-worse metric whose control is above 0 is as bad as it gets.
            double? observed = higher
                ? reference > 0 ? ours / reference : ours <= 0 ? 1 : null
                : ours > 0 ? reference / ours : reference <= 0 ? 1 : double.PositiveInfinity;
            var outcome = observed is not { } times ? CheckOutcome.Unsure : times > ratio ? CheckOutcome.Fail : CheckOutcome.Pass;
            yield return new Check(CheckKind.Metric, outcome, new Finding.Metric(outcome, gate.Name, gate.Query, gate.Direction, MetricLimit.Ratio, ratio, ours, reference,
                cohort.Count, control.Count, reportOnly, observed is null ? "the control is 0, so no ratio can be taken" : null) { Observed = observed });
        }
    }

    /// <summary>Why a ratio was not taken on a wave whose cohort is every consumer.</summary>
    public const string NoControl = "no node is left outside the cohort to compare with, so the ratio is not taken";

    private static List<double> Finite(IReadOnlyList<NodeValue> values) => [.. values.Where(v => v is not null && double.IsFinite(v.Value)).Select(v => v.Value)];

    private static string Shorten(string text) => text.Length <= 300 ? text : text[..297] + "...";
}
