using Snapstone.Domain.Plans;
using static Snapstone.Domain.Health.Statistics;

namespace Snapstone.Domain.Health;

/// <summary>Traffic summed over nodes; p99 is the request-weighted mean of the nodes' p99s.</summary>
internal readonly record struct Traffic(long Requests, long Errors, double? P99)
{
    public static Traffic Of(IEnumerable<NodeSample> nodes)
    {
        long requests = 0, errors = 0;
        double weighted = 0;
        foreach (var s in nodes)
        {
            var (e, r) = Counts(s);
            requests += r;
            errors += e;
            weighted += Latency(s) * r;
        }
        return new Traffic(requests, errors, requests > 0 ? weighted / requests : null);
    }
}

/// <summary>What the cohort is compared with: the control's rate and p99, or else the cohort's own baselines.</summary>
internal sealed record Reference(string Name, double Rate, double Floored, double? P99, ReferenceFigures Figures)
{
    public static Reference? Of(Traffic control, IReadOnlyList<NodeSample> cohort, string name, GateThresholds t)
    {
        if (control.Requests >= t.MinControlRequests)
        {
            var rate = (double)control.Errors / control.Requests;
            var floored = Math.Max(rate, Math.Max(1.0 / control.Requests, t.ErrorRateFloor));
            return new Reference(name, rate, floored, control.P99,
                new ReferenceFigures(ReferenceKind.Control, name, rate, floored, control.Errors, control.Requests));
        }
        long cohortRequests = 0, withBaseline = 0, withBaselineP99 = 0;
        double baselineErrors = 0, baselineP99 = 0;
        foreach (var s in cohort)
        {
            var (_, requests) = Counts(s);
            cohortRequests += requests;
            if (s.BaselineErrorRate is { } b && double.IsFinite(b))
            {
                withBaseline += requests;
                baselineErrors += Math.Clamp(b, 0, 1) * requests;
            }
            if (s.BaselineP99LatencyMs is { } p && double.IsFinite(p))
            {
                withBaselineP99 += requests;
                baselineP99 += Math.Max(0, p) * requests;
            }
        }
        if (withBaseline < t.MinControlRequests || withBaseline * 2 < cohortRequests)
        {
            return null;
        }
        var baselineRate = baselineErrors / withBaseline;
        var baselineFloored = Math.Max(baselineRate, t.ErrorRateFloor);
        return new Reference("baseline", baselineRate, baselineFloored, withBaselineP99 > 0 ? baselineP99 / withBaselineP99 : null,
            new ReferenceFigures(ReferenceKind.Baseline, "baseline", baselineRate, baselineFloored));
    }
}
