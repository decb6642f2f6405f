using System.Diagnostics.Metrics;
using Snapstone.Grains.Telemetry;

namespace Snapstone.Grains.Fleet;

/// <summary>
/// What a rollout's observations cost the PoPs (on the <c>Snapstone</c> meter): per kind (<c>wave</c>: a wave's cohort
/// and control; <c>rollback</c>: a rollback's confirmations), how many PoP observations there were, the cohort (or
/// touched) nodes they covered and the node grains they called. Calls over cohort is a tick's cost against its size.
/// </summary>
internal static class PopTelemetry
{
    private static readonly Counter<long> Observations = SnapstoneMetrics.Meter.CreateCounter<long>("snapstone.pop.observations",
        description: "PoP observations for rollouts, by kind: wave (cohort and control samples) or rollback (confirmations)");
    private static readonly Counter<long> Covered = SnapstoneMetrics.Meter.CreateCounter<long>("snapstone.pop.observed_nodes",
        description: "cohort (wave) or touched (rollback) nodes the PoP observations covered, by kind");
    private static readonly Counter<long> Calls = SnapstoneMetrics.Meter.CreateCounter<long>("snapstone.pop.observe_calls",
        description: "node grains the PoP observations called, by kind: a rollback asks only the nodes not yet confirmed");

    private static readonly KeyValuePair<string, object?> Wave = new("kind", "wave");
    private static readonly KeyValuePair<string, object?> Rollback = new("kind", "rollback");

    public static void Observed(string kind, int covered, int calls)
    {
        var tag = kind == "wave" ? Wave : Rollback;
        Observations.Add(1, tag);
        Covered.Add(covered, tag);
        Calls.Add(calls, tag);
    }
}
