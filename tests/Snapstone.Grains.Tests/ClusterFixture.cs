using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Orleans.TestingHost;
using Snapstone.Server.Hosting;
using Snapstone.Testing;

namespace Snapstone.Grains.Tests;

/// <summary>
/// One in-process silo per test collection with the production storage setup (Azure Tables and Blobs on the
/// test Azurite) and fake time. Tests use unique grain keys, so they never see each other's state.
/// </summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 11, 1, 12, 0, 0, TimeSpan.Zero));

    public InProcessTestCluster Cluster { get; private set; } = null!;

    public IClusterClient Client => Cluster.Client;

    public async Task InitializeAsync()
    {
        var connection = await TestStorage.ConnectionStringAsync();
        var builder = new InProcessTestClusterBuilder(1);
        builder.Options.ServiceId = TestStorage.Unique("grains");
        builder.ConfigureSilo((_, silo) =>
        {
            silo.AddSnapstoneStorage(connection, new StorageOptions());
            silo.Services.AddSingleton<TimeProvider>(Time);
        });
        Cluster = builder.Build();
        await Cluster.DeployAsync();
    }

    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}

[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "cluster";
}
