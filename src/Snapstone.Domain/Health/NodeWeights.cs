using Snapstone.Domain.Plans;

namespace Snapstone.Domain.Health;

/// <summary>
/// No node's traffic may outweigh the rest of its side: in pooled figures each node counts for at most
/// <see cref="GateThresholds.MaxNodeWeight"/> × its side's median node, its errors scaled alike, so a node that claims
/// huge clean traffic cannot dilute a regression into a pass (nor swamp a control into a false halt).
/// </summary>
/// <example>
/// Ten canaries at 1,000 requests (16 errors each: +1.5%) and three liars at 9×10¹⁵ requests, 0 errors. The lower
/// median of the thirteen is 1,000, so each liar counts as 3,000 clean requests: the cohort is 160 / 19,000 = 0.84%,
/// still far over twice a 0.1% control — where, uncapped, it would be 160 / 2.7×10¹⁶.
/// </example>
internal static class NodeWeights
{
    /// <summary>
    /// <paramref name="nodes"/> with every node over the cap replaced by a scaled copy (requests at the cap, errors and its
    /// series scaled alike), and the note naming them; the list itself when none is over.
    /// </summary>
    public static List<NodeSample> Cap(List<NodeSample> nodes, Side side, GateThresholds t, List<Finding> notes)
    {
        var serving = nodes.Where(s => s.Requests > 0).Select(s => s.Requests).Order().ToList();
        if (serving.Count < 2)
        {
            return nodes;
        }
        var median = serving[(serving.Count - 1) / 2];
        var cap = t.MaxNodeWeight * median;
        var over = nodes.Where(s => s.Requests > cap).ToList();
        if (over.Count == 0)
        {
            return nodes;
        }
        notes.Add(new Finding.WeightCapped(side, over.Count, median, cap, t.MaxNodeWeight, [.. over.Take(FindingText.MaxNamedNodes).Select(s => s.NodeId)]));
        var set = over.ToHashSet(ReferenceEqualityComparer.Instance);
        return [.. nodes.Select(s => set.Contains(s) ? Scaled(s, cap / s.Requests) : s)];
    }

    private static NodeSample Scaled(NodeSample s, double factor)
    {
        var (errors, requests) = Statistics.Counts(s);
        return s with
        {
            Requests = Scale(requests, factor),
            Errors = Scale(errors, factor),
            Series = s.Series is { } series ? series with
            {
                Requests = [.. series.Requests.Select(r => Scale(Math.Max(0, r), factor))],
                Errors = [.. series.Errors.Select(e => Scale(Math.Max(0, e), factor))],
            } : null,
        };
    }

    private static long Scale(long value, double factor) => (long)Math.Round(value * factor, MidpointRounding.AwayFromZero);
}
