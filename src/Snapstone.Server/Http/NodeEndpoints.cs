using Snapstone.Client;
using Snapstone.Domain.Nodes;

namespace Snapstone.Server.Http;

/// <summary>The operator's side of node identity: <c>PUT /v1/nodes/{node}</c> enrols or re-enrols a node (<c>admin</c>).</summary>
public static class NodeEndpoints
{
    public static void MapNodeEnrolment(this RouteGroupBuilder v1)
    {
        v1.MapPut("/nodes/{node}", async (string node, HttpContext http, SnapstoneClient client) =>
        {
            var body = await JsonBody.ReadAsync<NodeEnrolmentBody>(http.Request, JsonBody.Strict);
            return TypedResults.Ok(NodeResponse.From(await client.EnrolNodeAsync(node, body.ToIdentity(), http.Actor())));
        }).RequireAuthorization(Scopes.Admin).Accepts<NodeEnrolmentBody>("application/json").Produces<NodeResponse>().WithTags("Nodes");
    }
}

/// <summary>A node's identity as an operator enrols it; region and tier left out are the same defaults a first report gets.</summary>
public sealed record NodeEnrolmentBody
{
    public string? Pop { get; init; }
    public string? Region { get; init; }
    public string? Tier { get; init; }
    public IReadOnlyDictionary<string, string>? Labels { get; init; }

    /// <summary>Checked by the client (<see cref="ReportRules.CheckIdentity"/>), which names a missing pop.</summary>
    public NodeIdentity ToIdentity() =>
        new(Pop ?? "", Region ?? NodeReport.DefaultRegion, Tier ?? NodeReport.DefaultTier, Labels ?? new Dictionary<string, string>());
}
