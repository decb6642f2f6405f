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

/// <summary><c>GET /v1/fleet</c>: nodes per PoP, region and tier, and the fleet's drift.</summary>
public sealed record FleetResponse(int Nodes, IReadOnlyList<PopSummary> Pops, IReadOnlyDictionary<string, int> ByRegion,
    IReadOnlyDictionary<string, int> ByTier, FleetDriftResponse? Drift)
{
    public static FleetResponse From(FleetSummary s) =>
        new(s.Nodes, s.Pops, s.ByRegion, s.ByTier, s.Drift is { } drift ? FleetDriftResponse.From(drift) : null);
}

/// <summary>
/// The fleet's drift in nodes. <see cref="Share"/> is <see cref="Affected"/> (drifted or out of band) over
/// <see cref="Nodes"/>; <see cref="Stale"/> is apart from it; <see cref="Excluded"/> counts nodes excluded for at least one unit.
/// </summary>
public sealed record FleetDriftResponse(
    DateTimeOffset? ScannedAt, int Pops, int Nodes, int Drifted, int Stale, int OutOfBand, int Excluded, int Affected, double Share,
    IReadOnlyDictionary<string, int> Units, double IncidentShare, int IncidentMinNodes, string? Incident)
{
    public static FleetDriftResponse From(FleetDrift d) =>
        new(d.Counts.ScannedAt, d.Pops, d.Counts.Nodes, d.Counts.Drifted, d.Counts.Stale, d.Counts.OutOfBand, d.Counts.Excluded,
            d.Counts.Affected, d.Counts.Share, d.Counts.Units, d.IncidentShare, d.IncidentMinNodes, d.Incident);
}
