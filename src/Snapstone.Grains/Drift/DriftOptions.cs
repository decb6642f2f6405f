using Snapstone.Domain.Drift;

namespace Snapstone.Grains.Drift;

/// <summary>Host settings for drift detection (section <c>Snapstone:Drift</c>).</summary>
public sealed class DriftOptions
{
    /// <summary>How often each PoP's nodes are scanned; <c>GET /v1/drift</c> rescans a PoP whose last scan is older.</summary>
    public int ScanSeconds { get; set; } = 30;
    /// <summary>How long applied may differ from desired before it is drift; empty: two of the node's report intervals.</summary>
    public double? GraceSeconds { get; set; }
    /// <summary>A node silent this long (and for at least three of its report intervals) is stale.</summary>
    public int StaleSeconds { get; set; } = 30;
    /// <summary>Reports past the grace on which a drifted node is told its desired state again before it is excluded; 0 never excludes.</summary>
    public int MaxAttempts { get; set; } = 10;
    /// <summary>Share of the fleet's nodes, drifted or out of band, above which a drift incident opens (0.05 = 5 %); 1 never opens one.</summary>
    public double IncidentShare { get; set; } = 0.05;
    /// <summary>Fewest drifted or out-of-band nodes that open a drift incident.</summary>
    public int IncidentMinNodes { get; set; } = 3;

    public TimeSpan ScanInterval => TimeSpan.FromSeconds(Math.Max(1, ScanSeconds));

    public DriftSettings Settings() => new()
    {
        Grace = GraceSeconds is { } grace && double.IsFinite(grace) ? TimeSpan.FromSeconds(Math.Max(0, grace)) : null,
        StaleAfter = TimeSpan.FromSeconds(Math.Max(1, StaleSeconds)),
        MaxAttempts = Math.Max(0, MaxAttempts),
        IncidentShare = double.IsFinite(IncidentShare) ? Math.Clamp(IncidentShare, 0, 1) : DriftSettings.Default.IncidentShare,
        IncidentMinNodes = Math.Max(1, IncidentMinNodes),
    };
}
