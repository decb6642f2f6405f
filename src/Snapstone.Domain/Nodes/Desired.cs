using Snapstone.Domain.Units;

// These records are the node's desired state and what it is computed from. They sit in the root namespace,
// as they did in Snapstone.Abstractions, so that every caller reads them as before; they live here because
// the node's pure decisions (Snapstone.Domain.Nodes.Node) compute them.
namespace Snapstone;

/// <summary>The package a node should run for one unit.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.DesiredPackage")]
public sealed record DesiredPackage([property: Id(0)] long Version, [property: Id(1)] string Sha256);

/// <summary>What a node should run, per unit, and a stamp that changes whenever that does (<see cref="Domain.Nodes.DesiredStamp"/>).</summary>
[GenerateSerializer, Immutable, Alias("snapstone.DesiredState")]
public sealed record DesiredState([property: Id(0)] IReadOnlyDictionary<string, DesiredPackage> Units, [property: Id(1)] long Stamp);

/// <summary>What every node needs to know about a unit to compute its desired state.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.CatalogEntry")]
public sealed record CatalogEntry(
    [property: Id(0)] string Unit,
    [property: Id(1)] UnitTargets Targets,
    [property: Id(2)] DesiredPackage? Lkg);

/// <summary>All units, stamped with a version that grows on every change.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.Catalog")]
public sealed record Catalog([property: Id(0)] IReadOnlyDictionary<string, CatalogEntry> Units, [property: Id(1)] long Version)
{
    public static readonly Catalog Empty = new(new Dictionary<string, CatalogEntry>(), 0);
}
