namespace Snapstone;

/// <summary>
/// Grain references by string key without Orleans working out the interface's grain type on every call.
/// <c>IGrainFactory.GetGrain&lt;T&gt;(key)</c> resolves <typeparamref name="T"/> to its grain interface type by reading
/// the interface's attributes each time; on the report path (one reference per report) that was a tenth of the
/// server's CPU. The two types are resolved once per interface here, then each reference is built from its id.
/// </summary>
public static class GrainReferences
{
    public static T ByKey<T>(this IGrainFactory factory, string key) where T : IGrainWithStringKey
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(key);
        var types = Types<T>.Resolved ??= Types<T>.Resolve(factory);
        return (T)factory.GetGrain(GrainId.Create(types.Grain, key), types.Interface);
    }

    private sealed record TypePair(GrainType Grain, GrainInterfaceType Interface);

    private static class Types<T> where T : IGrainWithStringKey
    {
        /// <summary>Set once (a reference assignment, so readers never see half of it); a race resolves the same pair twice.</summary>
        public static TypePair? Resolved;

        public static TypePair Resolve(IGrainFactory factory)
        {
            var probe = (GrainReference)(object)factory.GetGrain<T>("type-probe");
            return new TypePair(probe.GrainId.Type, probe.InterfaceType);
        }
    }
}
