using Snapstone.Domain.Plans;
using static Snapstone.Domain.Health.Statistics;

namespace Snapstone.Domain.Health;

/// <summary>One node's own health: its state for the wave's counts, and whether it must tell the rollout at once.</summary>
internal static class NodeBreach
{
    public static NodeHealth Assess(NodeSample sample, Gates gates, double? controlRate)
    {
        if (sample.Crashes > 0 || sample.Rejected)
        {
            return NodeHealth.Unhealthy;
        }
        if (!sample.Reported || sample.Requests <= 0)
        {
            return NodeHealth.Unknown;
        }
        if (OutlierRules.IsUnchangedFlaky(sample, gates))
        {
            return NodeHealth.Healthy;
        }
        var (errors, requests) = Counts(sample);
        var t = gates.Thresholds;
        var outcome = ErrorOutcome(errors, requests, gates.MaxErrorRate, t);
        if (controlRate is { } rate)
        {
            outcome = Worst(outcome, ErrorOutcome(errors, requests, gates.MaxErrorRateRatio * Math.Max(rate, t.ErrorRateFloor), t));
        }
        return outcome switch
        {
            CheckOutcome.Fail => NodeHealth.Unhealthy,
            CheckOutcome.Unsure => NodeHealth.Unknown,
            _ => NodeHealth.Healthy,
        };
    }

    public static NodeSignal? Breach(NodeSample sample, Gates gates)
    {
        if (sample.Crashes > 0)
        {
            return NodeSignal.Of(sample.NodeId, SignalKind.Crash, new Finding.NodeCrashed(sample.NodeId, sample.Crashes));
        }
        if (sample.Rejected)
        {
            return NodeSignal.Of(sample.NodeId, SignalKind.Rejected, new Finding.NodeRejected(sample.NodeId));
        }
        var (errors, requests) = Counts(sample);
        var t = gates.Thresholds;
        if (!sample.Reported || requests < t.MinBreachRequests || sample.BaselineErrorRate > gates.MaxErrorRate)
        {
            return null;
        }
        var limit = Math.Max(gates.MaxErrorRate, gates.MaxErrorRateRatio * (sample.BaselineErrorRate ?? 0));
        var rate = (double)errors / requests;
        if (rate <= t.BreachFactor * limit || Poisson.UpperTail(errors, limit * requests) >= t.BreachSignificance)
        {
            return null;
        }
        return NodeSignal.Of(sample.NodeId, SignalKind.Breach,
            new Finding.NodeBreach(sample.NodeId, errors, requests, t.BreachFactor, limit, gates.MaxErrorRate, sample.BaselineErrorRate));
    }
}
