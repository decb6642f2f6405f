namespace Snapstone.Grains.Nodes;

/// <summary>
/// Host settings for the fleet's membership (section <c>Snapstone:Nodes</c>): how many nodes a PoP and a token may
/// enrol, how many PoPs the fleet may hold, and how long a silent node keeps its place in its PoP. Each limit is a
/// refusal naming it; the PoP limit is capped so that a PoP's membership row stays far below a table row's 1 MB
/// whatever the configuration (docs/security.md, "Agents and node identity").
/// </summary>
public sealed class NodeOptions
{
    /// <summary>The most a PoP may be configured to hold: at most about 560 KB of membership at the identity limits.</summary>
    public const int MaxPerPopCeiling = 1500;

    /// <summary>Nodes one PoP may hold; at most <see cref="MaxPerPopCeiling"/>.</summary>
    public int MaxPerPop { get; set; } = 1000;

    /// <summary>Nodes one agent token may have enrolled at once, unless the token sets its own <c>MaxNodes</c>.</summary>
    public int MaxPerToken { get; set; } = 10000;

    /// <summary>PoPs the fleet may hold: bounds the fleet's PoP index and each token's count per PoP.</summary>
    public int MaxPops { get; set; } = 1000;

    /// <summary>A node silent this long leaves its PoP (it enrols again, with the same identity, when it reports).</summary>
    public int ForgetSilentSeconds { get; set; } = 86400;

    public int PopLimit => Math.Clamp(MaxPerPop, 1, MaxPerPopCeiling);

    public int PopsLimit => Math.Max(1, MaxPops);

    public TimeSpan ForgetAfter => TimeSpan.FromSeconds(Math.Max(60, ForgetSilentSeconds));
}
