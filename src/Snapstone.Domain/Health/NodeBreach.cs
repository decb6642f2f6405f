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

    /// <summary>
    /// A breach <paramref name="signal"/> of <paramref name="node"/> weighed against its PoP peers not on the package and
    /// the control, over the node's own moments. Confirmed only when the node is significantly worse (at
    /// <see cref="GateThresholds.BreachSignificance"/>) than ratio × each of them that has traffic; ambient when one of
    /// them was itself over the node's limit then. A crash or a rejection, and a breach with nothing to weigh it against,
    /// stand as they are; a breach whose moments the control has not reported in yet is left to the verdict.
    /// </summary>
    public static BreachCheck Weigh(NodeSignal signal, NodeSample node, IReadOnlyList<NodeSample> popPeers, IReadOnlyList<NodeSample> control, Gates gates)
    {
        var t = gates.Thresholds;
        var (errors, requests) = Counts(node);
        if (signal.Kind != SignalKind.Breach)
        {
            return new BreachCheck(BreachStanding.Confirmed, signal.Finding ?? new Finding.Note(signal.Reason));
        }
        var ours = Traffic.Of([node]);
        var limit = Math.Max(gates.MaxErrorRate, gates.MaxErrorRateRatio * (node.BaselineErrorRate ?? 0));
        var liveControl = Traffic.Of(control.Where(Live));
        var around = new[] { Traffic.Of(popPeers.Where(Live)), liveControl }
            .Select(theirs => theirs.Where(ours))
            .Select(theirs => theirs.Requests >= t.MinControlRequests ? theirs : null)
            .ToArray();
        if (around.All(a => a is null))
        {
            // A control that served enough, only not at the node's moments yet (the node's report opened a slot the
            // others have not reported in), cannot say the trouble is not around the node: the verdict, which compares
            // the same moments as they fill in, decides. Only without a control to speak of does the node's limit.
            var unweighed = liveControl.Requests >= t.MinControlRequests ? BreachStanding.Unconfirmed : BreachStanding.Confirmed;
            return new BreachCheck(unweighed, new Finding.BreachWeighed(node.NodeId, unweighed, errors, requests, null, null, 0, t.BreachSignificance));
        }
        var standing = BreachStanding.Confirmed;
        double p = 0;
        foreach (var theirs in around.OfType<Traffic>())
        {
            if (theirs.Total.Rate > limit)
            {
                standing = BreachStanding.Ambient;
            }
            var worse = Sequential.AgainstControl(ours.Buckets.Select(b =>
            {
                var k = theirs.Buckets.GetValueOrDefault(b.Key);
                return (b.Key, b.Value.Errors, b.Value.Requests, k.Errors, k.Requests);
            }), gates.MaxErrorRateRatio, Level.For(ours, t.BreachSignificance));
            p = Math.Max(p, worse.P);
            if (!worse.Crossed && standing == BreachStanding.Confirmed)
            {
                standing = BreachStanding.Unconfirmed;
            }
        }
        return new BreachCheck(standing,
            new Finding.BreachWeighed(node.NodeId, standing, errors, requests, around[0]?.Total.Rate, around[1]?.Total.Rate, p, t.BreachSignificance));
    }

    private static bool Live(NodeSample s) => s.Reported && !s.Rejected;

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
