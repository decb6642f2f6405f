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
        // The node grain stores the enrolment with its audit intent.
        return await grains.ByKey<INodeHealthGrain>(node).Enrol(identity, actor);
    }
}
