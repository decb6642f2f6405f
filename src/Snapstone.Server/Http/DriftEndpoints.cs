using Snapstone.Client;
using Snapstone.Domain.Drift;

namespace Snapstone.Server.Http;

/// <summary>The drift half of the gateway: which nodes do not run what Snapstone wants them to.</summary>
public static class DriftEndpoints
{
    public static void MapDrift(RouteGroupBuilder v1) =>
        v1.MapGet("/drift", async (SnapstoneClient client) => TypedResults.Ok(DriftResponse.From(await client.GetDriftAsync())))
            .RequireAuthorization(Scopes.Read).Produces<DriftResponse>().WithTags("Drift");
}

/// <summary><c>GET /v1/drift</c>: <see cref="ScannedAt"/> is the oldest PoP scan merged into the answer.</summary>
public sealed record DriftResponse(DateTimeOffset? ScannedAt, int Pops, int Nodes, IReadOnlyList<DriftLine> Drifted)
{
    public static DriftResponse From(DriftReport report) =>
        new(report.ScannedAt, report.Pops, report.Nodes, [.. report.Drifted.Select(DriftLine.From)]);
}

/// <summary>One drifted, stale or out-of-band (node, unit); <see cref="Kind"/> is <c>drifted</c>, <c>stale</c> or <c>out-of-band</c>.</summary>
public sealed record DriftLine(
    string Node, string Unit, long? DesiredVersion, long? AppliedVersion, DateTimeOffset Since,
    DriftKind Kind, string Pop, string? AppliedSha256, int Attempts, bool Excluded)
{
    public static DriftLine From(DriftEntry e) =>
        new(e.Node, e.Unit, e.DesiredVersion, e.AppliedVersion, e.Since, e.Kind, e.Pop, e.AppliedSha256, e.Attempts, e.Excluded);
}
