using System.Diagnostics.Metrics;
using Snapstone.Grains.Telemetry;

namespace Snapstone.Grains.Drift;

/// <summary>Drift as numbers, on the <c>Snapstone</c> meter: exclusions and readmissions as they happen, and what each PoP scan found.</summary>
internal static class DriftMetrics
{
    private static Meter Meter => SnapstoneMetrics.Meter;
    private static readonly Counter<long> ExcludedCounter = Meter.CreateCounter<long>("snapstone.drift.excluded", description: "nodes excluded for a unit after exhausting their remediation attempts");
    private static readonly Counter<long> ReadmittedCounter = Meter.CreateCounter<long>("snapstone.drift.readmitted", description: "excluded nodes that converged or were given a new desired package");
    private static readonly Histogram<long> EntriesHistogram = Meter.CreateHistogram("snapstone.drift.entries", unit: null, "drifted, stale and out-of-band (node, unit) pairs found by one PoP scan",
        advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = [0, 1, 5, 10, 50, 100, 500, 1000, 5000] });

    private static readonly Counter<long> IncidentCounter = Meter.CreateCounter<long>("snapstone.drift.incident.updates", description: "drift incidents opened and automatic updates posted to them, by status");
    private static readonly Histogram<double> ShareHistogram = Meter.CreateHistogram("snapstone.drift.share", unit: null, "share of the fleet's nodes drifted or out of band, once per fleet check",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0, 0.001, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1] });

    public static void Excluded(string unit) => ExcludedCounter.Add(1, new KeyValuePair<string, object?>("unit", unit));

    public static void Readmitted(string unit) => ReadmittedCounter.Add(1, new KeyValuePair<string, object?>("unit", unit));

    public static void Scanned(string pop, int entries) => EntriesHistogram.Record(entries, new KeyValuePair<string, object?>("pop", pop));

    public static void Incident(string status) => IncidentCounter.Add(1, new KeyValuePair<string, object?>("status", status));

    public static void Checked(double share) => ShareHistogram.Record(share);
}
