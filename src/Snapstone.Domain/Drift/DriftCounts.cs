namespace Snapstone.Domain.Drift;

/// <summary>
/// The drift of some nodes (one PoP's scan, or the fleet's PoPs added up) in nodes, not (node, unit) pairs.
/// A node with one drifted and one out-of-band unit counts once in each of <see cref="Drifted"/> and
/// <see cref="OutOfBand"/>, and once in <see cref="Affected"/>.
/// </summary>
[GenerateSerializer, Immutable, Alias("snapstone.DriftCounts")]
public sealed record DriftCounts
{
    public static readonly DriftCounts None = new();

    /// <summary>The oldest scan counted: every count is at least this fresh. Null when nothing was scanned.</summary>
    [Id(0)] public DateTimeOffset? ScannedAt { get; init; }
    /// <summary>Nodes scanned: the share's denominator.</summary>
    [Id(1)] public int Nodes { get; init; }
    /// <summary>Nodes with at least one drifted or out-of-band unit: what the share counts.</summary>
    [Id(2)] public int Affected { get; init; }
    [Id(3)] public int Drifted { get; init; }
    [Id(4)] public int OutOfBand { get; init; }
    /// <summary>Nodes excluded from new wave cohorts for at least one unit, whatever they are now (a silent one stays excluded).</summary>
    [Id(5)] public int Excluded { get; init; }
    /// <summary>Silent nodes: counted apart, never in the share, since nothing they said can be trusted either way.</summary>
    [Id(6)] public int Stale { get; init; }
    /// <summary>Unit → its drifted or out-of-band nodes.</summary>
    [Id(7)] public IReadOnlyDictionary<string, int> Units { get; init; } = new Dictionary<string, int>();

    /// <summary>Affected nodes over scanned nodes; 0 with no nodes.</summary>
    public double Share => Nodes == 0 ? 0 : (double)Affected / Nodes;

    /// <summary>Whether a line of the drift list counts towards the share: drifted past the grace, or out of band.</summary>
    public static bool Counts(DriftKind kind) => kind is DriftKind.Drifted or DriftKind.OutOfBand;

    /// <summary>
    /// Counts one scan of <paramref name="nodes"/> nodes. Worked example: n1 drifted for a and out of band for b,
    /// n2 stale, n3 drifted and excluded for a, of 10 nodes → affected 2 (share 0.2), drifted 2, out of band 1,
    /// excluded 1, stale 1, units { a: 2, b: 1 }.
    /// </summary>
    public static DriftCounts Of(DateTimeOffset scannedAt, int nodes, IReadOnlyCollection<DriftEntry> entries)
    {
        int NodesWith(Func<DriftEntry, bool> test) => entries.Where(test).Select(e => e.Node).Distinct().Count();
        return new DriftCounts
        {
            ScannedAt = scannedAt,
            Nodes = nodes,
            Affected = NodesWith(e => Counts(e.Kind)),
            Drifted = NodesWith(e => e.Kind == DriftKind.Drifted),
            OutOfBand = NodesWith(e => e.Kind == DriftKind.OutOfBand),
            Excluded = NodesWith(e => e.Excluded),
            Stale = NodesWith(e => e.Kind == DriftKind.Stale),
            Units = entries.Where(e => Counts(e.Kind)).GroupBy(e => e.Unit, StringComparer.Ordinal)
                .ToDictionary(g => g.Key, g => g.Select(e => e.Node).Distinct().Count(), StringComparer.Ordinal),
        };
    }

    /// <summary>Adds the counts of disjoint node sets (a node belongs to one PoP); the older scan time wins.</summary>
    public DriftCounts Plus(DriftCounts other)
    {
        var units = new Dictionary<string, int>(Units, StringComparer.Ordinal);
        foreach (var (unit, count) in other.Units)
        {
            units[unit] = units.GetValueOrDefault(unit) + count;
        }
        return new DriftCounts
        {
            ScannedAt = ScannedAt is { } mine && other.ScannedAt is { } theirs ? (mine < theirs ? mine : theirs) : ScannedAt ?? other.ScannedAt,
            Nodes = Nodes + other.Nodes,
            Affected = Affected + other.Affected,
            Drifted = Drifted + other.Drifted,
            OutOfBand = OutOfBand + other.OutOfBand,
            Excluded = Excluded + other.Excluded,
            Stale = Stale + other.Stale,
            Units = units,
        };
    }
}
