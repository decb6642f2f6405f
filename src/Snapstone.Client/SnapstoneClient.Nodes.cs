using Snapstone.Domain.Nodes;

namespace Snapstone.Client;

public sealed partial class SnapstoneClient
{
    /// <summary>
    /// An operator enrols <paramref name="node"/> with <paramref name="identity"/>, or re-enrols it: a node's reports
    /// cannot change its PoP, region, tier or labels once it is enrolled. Audited as <c>node.enrol</c>.
    /// </summary>
    public async Task<NodeView> EnrolNodeAsync(string node, NodeIdentity identity, string actor)
    {
        SnapstoneException.ThrowIfBadName("node", node);
        if (ReportRules.CheckIdentity(identity.Pop, identity.Region, identity.Tier, identity.Labels) is { } error)
        {
            throw SnapstoneException.Invalid(error);
        }
        var view = await grains.ByKey<INodeHealthGrain>(node).Enrol(identity, actor);
        await AuditAsync(actor, "node.enrol", $"node/{node}",
            $"pop {identity.Pop}, region {identity.Region}, tier {identity.Tier}, labels {Enrolment.Render(identity.Labels)}");
        return view;
    }
}
