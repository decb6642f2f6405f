using Snapstone.Domain.Drift;

namespace Snapstone;

/// <summary>
/// One PoP's drift scanner, keyed by PoP id: asks the PoP's nodes for their drift facts on a reminder (and a
/// timer while active, for intervals shorter than a reminder's minimum) and keeps the latest result.
/// </summary>
[Alias("snapstone.IDriftGrain")]
public interface IDriftGrain : IGrainWithStringKey
{
    /// <summary>Makes sure the periodic scan is scheduled (idempotent). Interleaves: it never waits behind a scan.</summary>
    [Alias("Start"), Orleans.Concurrency.AlwaysInterleave]
    Task Start();

    /// <summary>The latest scan, scanning first when it is older than the scan interval (or there is none).</summary>
    [Alias("Latest")]
    Task<DriftScan> Latest();

    /// <summary>Scans now.</summary>
    [Alias("Scan")]
    Task<DriftScan> Scan();

    /// <summary>The latest scan in numbers (scanning first as <see cref="Latest"/> does): what the fleet's drift adds up.</summary>
    [Alias("Counts")]
    Task<DriftCounts> Counts();
}

/// <summary>
/// The fleet's drift in numbers and its one drift incident. Singleton, key <see cref="Key"/>: adds up every PoP
/// drift grain's counts each scan interval (never a node list) and opens, updates or settles the incident as
/// <see cref="DriftIncidentPolicy"/> decides.
/// </summary>
[Alias("snapstone.IFleetDriftGrain")]
public interface IFleetDriftGrain : IGrainWithStringKey
{
    public const string Key = "fleet";

    /// <summary>Makes sure the periodic check is scheduled (idempotent). Interleaves: a PoP's drift grain may call it mid-check.</summary>
    [Alias("Start"), Orleans.Concurrency.AlwaysInterleave]
    Task Start();

    /// <summary>The latest check, checking first when it is older than the scan interval (or there is none).</summary>
    [Alias("Latest")]
    Task<FleetDrift> Latest();

    /// <summary>Counts every PoP now and applies the incident step.</summary>
    [Alias("Check")]
    Task<FleetDrift> Check();
}

/// <summary>The fleet's drift counts, the thresholds they are held to, and the open drift incident, if any.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.FleetDrift")]
public sealed record FleetDrift
{
    [Id(0)] public required DriftCounts Counts { get; init; }
    /// <summary>PoPs counted; fewer than the fleet's when some could not answer (such a check decides nothing).</summary>
    [Id(1)] public int Pops { get; init; }
    [Id(2)] public double IncidentShare { get; init; }
    [Id(3)] public int IncidentMinNodes { get; init; }
    /// <summary>The drift incident being followed (open, possibly monitoring); null when there is none.</summary>
    [Id(4)] public string? Incident { get; init; }
}

/// <summary>One scan of one PoP: its drifted, stale and out-of-band (node, unit) pairs.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.DriftScan")]
public sealed record DriftScan
{
    [Id(0)] public required string Pop { get; init; }
    [Id(1)] public required DateTimeOffset ScannedAt { get; init; }
    /// <summary>Nodes the scan asked.</summary>
    [Id(2)] public int Nodes { get; init; }
    [Id(3)] public IReadOnlyList<DriftEntry> Drifted { get; init; } = new List<DriftEntry>();
}

/// <summary>The fleet's drift: every PoP's latest scan merged. <see cref="ScannedAt"/> is the oldest of them (null with no PoPs).</summary>
[GenerateSerializer, Immutable, Alias("snapstone.DriftReport")]
public sealed record DriftReport
{
    [Id(0)] public DateTimeOffset? ScannedAt { get; init; }
    [Id(1)] public int Pops { get; init; }
    [Id(2)] public int Nodes { get; init; }
    [Id(3)] public IReadOnlyList<DriftEntry> Drifted { get; init; } = new List<DriftEntry>();
}
