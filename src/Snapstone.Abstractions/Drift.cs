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
