using System.Diagnostics.Metrics;

namespace Snapstone.Grains.Nodes;

/// <summary>Counters of what agents tried and were refused, and of the fleet's membership changes (the Snapstone meter, exported at /metrics).</summary>
internal static class NodeTelemetry
{
    private static Meter Meter => Telemetry.SnapstoneMetrics.Meter;
    private static readonly Counter<long> RefusedCounter = Meter.CreateCounter<long>("snapstone.nodes.reports.refused",
        description: "node reports refused for who sent them or what they claimed, by reason: identity (a change of pop, region, tier or labels), binding, pop-limit, token-limit, fleet-pop-limit");
    private static readonly Counter<long> ForgottenCounter = Meter.CreateCounter<long>("snapstone.nodes.forgotten",
        description: "nodes that left their PoP after staying silent for Snapstone:Nodes:ForgetSilentSeconds, by PoP");
    private static readonly Counter<long> EnrolledCounter = Meter.CreateCounter<long>("snapstone.nodes.enrolments",
        description: "nodes enrolled, by how: report (its first) or operator (PUT /v1/nodes/{node})");

    private static readonly Counter<long> RowsLoadedCounter = Meter.CreateCounter<long>("snapstone.nodes.rows.loaded",
        description: "node grains' rows loaded, by how: read (a node its PoP knows, or a call other than a report), unread (a report's node its PoP does not know: taken as fresh), checked (read later: its insert found a stored row, or a call needed it)");

    public static void RowLoaded(string how) => RowsLoadedCounter.Add(1, new KeyValuePair<string, object?>("how", how));

    public static void IdentityRefused(string fields) =>
        RefusedCounter.Add(1, new KeyValuePair<string, object?>("reason", "identity"), new KeyValuePair<string, object?>("fields", fields));

    public static void Refused(string reason) => RefusedCounter.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public static void Forgotten(string pop, int nodes) => ForgottenCounter.Add(nodes, new KeyValuePair<string, object?>("pop", pop));

    public static void Enrolled(string how) => EnrolledCounter.Add(1, new KeyValuePair<string, object?>("how", how));
}
