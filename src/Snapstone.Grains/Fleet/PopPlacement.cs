using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Orleans.Placement;
using Orleans.Runtime.Placement;

namespace Snapstone.Grains.Fleet;

/// <summary>
/// A PoP's grain goes to the silo its name hashes to (<see cref="PopSilos.Pick{T}"/>), so that the nodes placed with it
/// (<see cref="WithPopPlacement"/>) are on the same silo and a wave's second fan-out level (PoP → nodes), a node's pushes
/// to its PoP and a rollback's confirmations never cross silos.
/// </summary>
[Serializable, GenerateSerializer, Immutable, SuppressReferenceTracking, Alias("snapstone.PopKeyPlacement")]
public sealed class PopKeyPlacement : PlacementStrategy
{
    internal static readonly PopKeyPlacement Instance = new();
}

/// <summary>
/// A node's grain goes to its PoP's silo: the PoP is the one the activating call names in its request context
/// (<see cref="PopContext"/>: a report names it, a PoP's own calls to its nodes carry it). A call
/// that names none (a view or long-poll before any report) places the node on the silo that called, as
/// <c>PreferLocalPlacement</c> does.
/// </summary>
[Serializable, GenerateSerializer, Immutable, SuppressReferenceTracking, Alias("snapstone.WithPopPlacement")]
public sealed class WithPopPlacement : PlacementStrategy
{
    internal static readonly WithPopPlacement Instance = new();
}

[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class PopKeyPlacementAttribute() : PlacementAttribute(PopKeyPlacement.Instance);

[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class WithPopPlacementAttribute() : PlacementAttribute(WithPopPlacement.Instance);

/// <summary>Places PoP grains by their key and node grains by the PoP their activating call names.</summary>
public sealed class PopPlacementDirector : IPlacementDirector
{
    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        var silos = context.GetCompatibleSilos(target);
        var pop = strategy is PopKeyPlacement
            ? target.GrainIdentity.Key.ToString()
            : target.RequestContextData?.GetValueOrDefault(PopContext.Key) as string;
        if (pop is null)
        {
            return Task.FromResult(silos.Contains(context.LocalSilo) ? context.LocalSilo : silos[Random.Shared.Next(silos.Length)]);
        }
        return Task.FromResult(PopSilos.Pick(pop, silos, silo => silo.ToParsableString()));
    }
}

/// <summary>Which silo a PoP lives on: rendezvous (highest random weight) hashing of the PoP's name and each silo's.</summary>
public static class PopSilos
{
    /// <summary>
    /// The silo with the highest hash of (<paramref name="pop"/>, silo name). Every silo that sees the same silos picks
    /// the same one, and a silo joining or leaving moves only the PoPs it gains or had (about 1/n of them).
    /// </summary>
    public static T Pick<T>(string pop, IReadOnlyList<T> silos, Func<T, string> name)
    {
        if (silos.Count == 0)
        {
            throw new ArgumentException("no silo to place on", nameof(silos));
        }
        var best = silos[0];
        var bestWeight = 0UL;
        for (var i = 0; i < silos.Count; i++)
        {
            var weight = Weight(pop, name(silos[i]));
            if (i == 0 || weight > bestWeight)
            {
                (best, bestWeight) = (silos[i], weight);
            }
        }
        return best;
    }

    private static ulong Weight(string pop, string silo)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes($"{pop}\n{silo}"), hash);
        return BinaryPrimitives.ReadUInt64BigEndian(hash);
    }
}
