using System.Text;

namespace Snapstone.Domain.Nodes;

/// <summary>
/// A node's identity (PoP, region, tier, labels) is fixed when it enrols, by its first report or by an operator
/// (<c>PUT /v1/nodes/{node}</c>). A later report must describe that identity; one that would change any of it is
/// refused whole, so an agent cannot move a node into a canary PoP or tier, or relabel it into the units and
/// segments another label picks. A report that leaves region, tier or labels out keeps the enrolled ones.
/// </summary>
public static class Enrolment
{
    /// <summary>
    /// Null when <paramref name="report"/> describes <paramref name="enrolled"/>; else the refusal naming each
    /// field it would change and how an operator changes it. Allocates nothing when the identity is the same.
    /// </summary>
    /// <example>
    /// Enrolled ams01 / eu-west / canary / proxy=fl2. A report with pop ams01, tier left out, labels { proxy: fl2 }
    /// → null. A report with pop fra01, tier edge → "node 'n1' is enrolled with pop 'ams01', tier 'canary'; this
    /// report says pop 'fra01', tier 'edge': a report cannot change a node's identity (an operator re-enrols it
    /// with PUT /v1/nodes/n1)".
    /// </example>
    public static string? Refusal(string node, NodeIdentity enrolled, NodeReport report)
    {
        var pop = report.Pop != enrolled.Pop;
        var region = report.Region is { } r && r != enrolled.Region;
        var tier = report.Tier is { } t && t != enrolled.Tier;
        var labels = report.Labels is { } l && !NodeIdentity.SameLabels(enrolled.Labels, l);
        if (!(pop || region || tier || labels))
        {
            return null;
        }
        var known = new List<string>();
        var said = new List<string>();
        if (pop)
        {
            known.Add($"pop '{enrolled.Pop}'");
            said.Add($"pop '{report.Pop}'");
        }
        if (region)
        {
            known.Add($"region '{enrolled.Region}'");
            said.Add($"region '{report.Region}'");
        }
        if (tier)
        {
            known.Add($"tier '{enrolled.Tier}'");
            said.Add($"tier '{report.Tier}'");
        }
        if (labels)
        {
            known.Add($"labels {Render(enrolled.Labels)}");
            said.Add($"labels {Render(report.Labels!)}");
        }
        return $"node '{node}' is enrolled with {string.Join(", ", known)}; this report says {string.Join(", ", said)}: " +
               $"a report cannot change a node's identity (an operator re-enrols it with PUT /v1/nodes/{node})";
    }

    /// <summary>The fields a refusal names, for the counter: <c>pop</c>, <c>region</c>, <c>tier</c>, <c>labels</c>, comma-separated.</summary>
    public static string ChangedFields(NodeIdentity enrolled, NodeReport report)
    {
        var fields = new List<string>(4);
        if (report.Pop != enrolled.Pop) fields.Add("pop");
        if (report.Region is { } r && r != enrolled.Region) fields.Add("region");
        if (report.Tier is { } t && t != enrolled.Tier) fields.Add("tier");
        if (report.Labels is { } l && !NodeIdentity.SameLabels(enrolled.Labels, l)) fields.Add("labels");
        return string.Join(",", fields);
    }

    /// <summary><c>{proxy=fl2, rack=r1}</c>, keys in order; <c>{}</c> for none.</summary>
    public static string Render(IReadOnlyDictionary<string, string> labels)
    {
        var text = new StringBuilder("{");
        foreach (var (key, value) in labels.OrderBy(l => l.Key, StringComparer.Ordinal))
        {
            text.Append(text.Length > 1 ? ", " : "").Append(key).Append('=').Append(value);
        }
        return text.Append('}').ToString();
    }
}
