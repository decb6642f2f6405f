using Orleans.Concurrency;
using Snapstone.Grains.Storage;

namespace Snapstone.Grains.Units;

/// <summary>
/// Content is immutable, so every silo may keep its own copy: agents of a whole fleet fetching one new
/// package read storage once per silo, not once per node.
/// </summary>
[StatelessWorker]
public sealed class PackageContentGrain(IPackageStore store) : Grain, IPackageContentGrain
{
    private const long MaxCachedBytes = 64L * 1024 * 1024;
    private readonly Dictionary<long, byte[]> _cache = [];
    private long _cachedBytes;

    public async Task<byte[]?> Get(long version)
    {
        if (_cache.TryGetValue(version, out var cached))
        {
            return cached;
        }
        var unit = this.GetPrimaryKeyString();
        var record = await GrainFactory.GetGrain<IUnitGrain>(unit).GetPackage(version);
        if (record is null)
        {
            return null;
        }
        var content = await store.GetContentAsync(unit, record.Record.Sha256);
        if (content is not null && _cachedBytes + content.Length <= MaxCachedBytes)
        {
            _cache[version] = content;
            _cachedBytes += content.Length;
        }
        return content;
    }
}
