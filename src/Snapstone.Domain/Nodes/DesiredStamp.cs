namespace Snapstone.Domain.Nodes;

/// <summary>
/// The stamp of a desired state, which a long-poll hands back to wait for a change. It is a function of the
/// units and packages alone: 64-bit FNV-1a over each unit's name, version and hash in ordinal order of the
/// names, so the same desired state has the same stamp in every process, on every silo and after every
/// restart (<see cref="HashCode"/> is seeded per process and would tell a poller "changed" after each one).
/// </summary>
/// <example>
/// No units → 0. <c>{ "bot-features": v8, sha256 "aa…a" (64 × 'a') }</c> → <c>0x7700911c7355c357</c>, the
/// same everywhere; v9 of it, or another hash, or a second unit gives another stamp. A stamp is never 0 for a
/// non-empty state and is always positive, so it never collides with the "no stamp" of the long-poll (-1).
/// </example>
public static class DesiredStamp
{
    private const ulong Offset = 14695981039346656037;
    private const ulong Prime = 1099511628211;

    /// <summary>The stamp of <paramref name="units"/>, which must be ordered by <see cref="StringComparer.Ordinal"/>.</summary>
    public static long Of(SortedDictionary<string, DesiredPackage> units)
    {
        if (!ReferenceEquals(units.Comparer, StringComparer.Ordinal))
        {
            throw new ArgumentException("a desired state is stamped in ordinal order of its unit names", nameof(units));
        }
        if (units.Count == 0)
        {
            return 0;
        }
        var hash = Offset;
        foreach (var (unit, package) in units)
        {
            hash = Add(hash, unit);
            hash = Add(hash, (ulong)package.Version);
            hash = Add(hash, package.Sha256);
        }
        // 62 bits of the hash under a set bit 62: positive, never 0, never -1.
        return (long)(hash >> 2) | 1L << 62;
    }

    /// <summary>Each UTF-16 code unit as two bytes, then a 0 code unit, which no name or hash contains, so "ab"+"c" ≠ "a"+"bc".</summary>
    private static ulong Add(ulong hash, string text)
    {
        foreach (var c in text)
        {
            hash = (hash ^ (byte)c) * Prime;
            hash = (hash ^ (byte)(c >> 8)) * Prime;
        }
        // The separator: one 0 code unit, two 0 bytes.
        return hash * Prime * Prime;
    }

    private static ulong Add(ulong hash, ulong value)
    {
        for (var i = 0; i < 8; i++)
        {
            hash = (hash ^ (byte)(value >> (8 * i))) * Prime;
        }
        return hash;
    }
}
