using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Snapstone.Domain.Nodes;
using Snapstone.Domain.Plans;

namespace Snapstone.Domain.Rollouts;

/// <summary>
/// Which nodes belong to which wave of a plan. Deterministic in every process and on every .NET version:
/// percentages come from SHA-256, never from <see cref="string.GetHashCode()"/>, so a PoP grain on one silo
/// and a rollout grain on another agree on every cohort, and a silo restart never reshuffles a rollout.
/// </summary>
/// <remarks>
/// The salt is the unit's name. A unit's 1% is therefore the same nodes in every rollout of that unit
/// (familiar canaries), while another unit's 1% is a different slice of the fleet.
/// </remarks>
public static class WaveSelector
{
    private const int StackLimit = 512;
    private const double Scale = 100.0 / (1UL << 53);
    private static readonly double JustBelowHundred = Math.BitDecrement(100.0);

    /// <summary>
    /// A node's stable position in [0, 100): the first 8 bytes of SHA-256(UTF-8 of <c>salt + "/" + nodeId</c>),
    /// read big-endian, keeping the top 53 bits, scaled to 100.
    /// </summary>
    /// <example>
    /// SHA-256("bot-features/node-1") starts with <c>22 1a 7e 5a ...</c>; the top 53 bits of
    /// <c>0x221a7e5a...</c> over 2^53 are 0.13321... so the bucket is 13.32: the node is outside the 1%
    /// and 10% waves and inside the 50% wave.
    /// </example>
    public static double Bucket(string nodeId, string salt)
    {
        var length = Encoding.UTF8.GetByteCount(salt) + 1 + Encoding.UTF8.GetByteCount(nodeId);
        byte[]? rented = null;
        Span<byte> buffer = length <= StackLimit ? stackalloc byte[StackLimit] : (rented = ArrayPool<byte>.Shared.Rent(length));
        try
        {
            var written = Encoding.UTF8.GetBytes(salt, buffer);
            buffer[written++] = (byte)'/';
            written += Encoding.UTF8.GetBytes(nodeId, buffer[written..]);
            Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
            SHA256.HashData(buffer[..written], hash);
            var top = BinaryPrimitives.ReadUInt64BigEndian(hash) >> 11;
            return Math.Min(top * Scale, JustBelowHundred);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>
    /// Whether one wave's <c>select</c> takes the node: the tier equals, the PoP is listed, the region
    /// equals, or the node's <see cref="Bucket"/> is below the percentage (so percent 100 takes everyone).
    /// </summary>
    public static bool Selects(WaveSelect select, string nodeId, NodeIdentity node, string salt) =>
        Selects(select, node, () => Bucket(nodeId, salt));

    /// <summary>
    /// The index of the first wave that selects the node. Waves are cumulative: the node is in the cohort of
    /// wave k exactly when <c>FirstWave &lt;= k</c>, and it receives the package when wave <c>FirstWave</c> opens.
    /// A valid plan ends with percent 100, so every node gets an index; for a plan that selects nobody in the
    /// end the answer is <c>plan.Waves.Count</c> (in no cohort).
    /// </summary>
    /// <example>
    /// Standard plan (canary tier, 1%, 10%, 50%, 100%) and a node of tier <c>standard</c> with bucket 13.32:
    /// not canary, 13.32 ≥ 1, 13.32 ≥ 10, 13.32 &lt; 50 → 3, so it receives the package when the "half" wave opens
    /// and stays in every later wave's cohort. A canary-tier node is 0 whatever its bucket.
    /// </example>
    public static int FirstWave(Plan plan, string nodeId, NodeIdentity node, string salt)
    {
        double? bucket = null;
        double BucketOnce() => bucket ??= Bucket(nodeId, salt);
        for (var i = 0; i < plan.Waves.Count; i++)
        {
            if (Selects(plan.Waves[i].Select, node, BucketOnce))
            {
                return i;
            }
        }
        return plan.Waves.Count;
    }

    /// <summary>Whether the node is in the cohort of wave <paramref name="wave"/> (it runs the package once that wave has opened).</summary>
    public static bool InCohort(Plan plan, int wave, string nodeId, NodeIdentity node, string salt) =>
        FirstWave(plan, nodeId, node, salt) <= wave;

    private static bool Selects(WaveSelect select, NodeIdentity node, Func<double> bucket)
    {
        if (select.Tier is { } tier)
        {
            return string.Equals(node.Tier, tier, StringComparison.Ordinal);
        }
        if (select.Pops is { } pops)
        {
            foreach (var pop in pops)
            {
                if (string.Equals(node.Pop, pop, StringComparison.Ordinal))
                {
                    return true;
                }
            }
            return false;
        }
        if (select.Region is { } region)
        {
            return string.Equals(node.Region, region, StringComparison.Ordinal);
        }
        if (select.Percent is { } percent)
        {
            return percent >= 100 || bucket() < percent;
        }
        return false;
    }
}
