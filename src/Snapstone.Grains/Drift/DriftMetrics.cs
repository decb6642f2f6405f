using System.Diagnostics.Metrics;

namespace Snapstone.Grains.Drift;

/// <summary>Drift as numbers: exclusions and readmissions as they happen, and what each PoP scan found.</summary>
internal static class DriftMetrics
{
    private static readonly Meter Meter = new("Snapstone.Drift");
    private static readonly Counter<long> ExcludedCounter = Meter.CreateCounter<long>("snapstone.drift.excluded", description: "nodes excluded for a unit after exhausting their remediation attempts");
    private static readonly Counter<long> ReadmittedCounter = Meter.CreateCounter<long>("snapstone.drift.readmitted", description: "excluded nodes that converged or were given a new desired package");
    private static readonly Histogram<long> EntriesHistogram = Meter.CreateHistogram<long>("snapstone.drift.entries", description: "drifted, stale and out-of-band (node, unit) pairs found by one PoP scan");

    private static readonly Counter<long> IncidentCounter = Meter.CreateCounter<long>("snapstone.drift.incident.updates", description: "drift incidents opened and automatic updates posted to them, by status");
    private static readonly Histogram<double> ShareHistogram = Meter.CreateHistogram<double>("snapstone.drift.share", description: "share of the fleet's nodes drifted or out of band, once per fleet check");

    public static void Excluded(string unit) => ExcludedCounter.Add(1, new KeyValuePair<string, object?>("unit", unit));

    public static void Readmitted(string unit) => ReadmittedCounter.Add(1, new KeyValuePair<string, object?>("unit", unit));

    public static void Scanned(string pop, int entries) => EntriesHistogram.Record(entries, new KeyValuePair<string, object?>("pop", pop));

    public static void Incident(string status) => IncidentCounter.Add(1, new KeyValuePair<string, object?>("status", status));

    public static void Checked(double share) => ShareHistogram.Record(share);
}
