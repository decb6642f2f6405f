namespace Snapstone.Simulator.Wire;

// The agent side of the "Agents and nodes" contract in docs/API.md, kept as small records of its own
// so that the simulator checks the JSON contract rather than sharing types with the server.

/// <summary>Body of <c>POST /v1/reports</c>: one report per node, answered in the same order.</summary>
public sealed record ReportBatch(IReadOnlyList<NodeReport> Reports);

/// <summary>
/// One node's report. <see cref="Applied"/> is left out of a node's first report, which carries only
/// identity and metrics and so registers the node. <see cref="Metrics"/> is left out by a fleet that does not
/// push metrics (<see cref="FleetOptions.ReportMetrics"/>).
/// </summary>
public sealed record NodeReport
{
    public required string Node { get; init; }
    public required string Pop { get; init; }
    public required string Region { get; init; }
    public required string Tier { get; init; }
    public required IReadOnlyDictionary<string, string> Labels { get; init; }
    public IReadOnlyDictionary<string, AppliedEntry>? Applied { get; init; }
    public ReportMetrics? Metrics { get; init; }
    public double IntervalSeconds { get; init; } = 1;
}

/// <summary>
/// What a node says about one unit. With <see cref="Status"/> <c>ok</c> it runs this package; with
/// <c>rejected</c> it refused this package (named by version and hash, with the reason in
/// <see cref="Error"/>) and kept whatever it ran before. <see cref="Crashes"/>: of the report's crashes, those this
/// unit's package caused (the agent saw the process die loading or running it); absent when none did.
/// </summary>
public sealed record AppliedEntry(long Version, string Sha256, string Status, string? Error = null, int? Crashes = null)
{
    public const string Ok = "ok";
    public const string Rejected = "rejected";
}

/// <summary>Traffic served during one report interval.</summary>
public sealed record ReportMetrics(long Requests, long Errors, double P99LatencyMs, int Crashes);

/// <summary>Answer to <c>POST /v1/reports</c>.</summary>
public sealed record ReportBatchAnswer(IReadOnlyList<ReportResult>? Results);

/// <summary>One slot of the answer: the node's desired packages per unit, or why its report was refused.</summary>
public sealed record ReportResult(string? Node, IReadOnlyDictionary<string, DesiredPackage>? Desired, string? Error);

/// <summary>The package a node should run for one unit, and where to fetch its exact bytes.</summary>
public sealed record DesiredPackage(long Version, string Sha256, string ContentUrl);
