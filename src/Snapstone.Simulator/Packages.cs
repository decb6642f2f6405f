namespace Snapstone.Simulator;

/// <summary>One package of a unit as a node knows it: its version and content hash.</summary>
public sealed record PackageRef(long Version, string Sha256)
{
    public override string ToString() => $"v{Version} ({Sha256[..Math.Min(12, Sha256.Length)]})";
}

/// <summary>A package a node refused, and why.</summary>
public sealed record Refusal(PackageRef Package, string Error);
