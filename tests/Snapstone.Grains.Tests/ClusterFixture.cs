using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Orleans.TestingHost;
using Snapstone.Domain.Nodes;
using Snapstone.Domain.Units;
using Snapstone.Server.Hosting;
using Snapstone.Testing;

namespace Snapstone.Grains.Tests;

/// <summary>
/// One in-process silo per test collection with the production storage setup (Azure Tables and Blobs on the
/// test Azurite) and fake time. Tests use unique grain keys, so they never see each other's state.
/// </summary>
public class ClusterFixture : IAsyncLifetime
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
            silo.Services.Configure<Snapstone.Grains.Nodes.NodeOptions>(ConfigureNodes);
        });
        Cluster = builder.Build();
        await Cluster.DeployAsync();
    }

    public async Task DisposeAsync() => await Cluster.DisposeAsync();

    /// <summary>The fleet's membership limits of this cluster (the defaults, unless a fixture for those limits says otherwise).</summary>
    protected virtual void ConfigureNodes(Snapstone.Grains.Nodes.NodeOptions options)
    {
    }

    /// <summary>
    /// A unit only nodes carrying its own label consume, with v1 (the LKG: rolled out before any node consumes the unit,
    /// so every wave is empty and passes at once) and v2 (valid, never rolled out).
    /// </summary>
    public async Task<TwoPackages> UnitWithTwoPackages(string labelKey)
    {
        var name = TestStorage.Unique("unit");
        var labels = new Dictionary<string, string> { [labelKey] = name };
        var unit = Client.GetGrain<IUnitRolloutsGrain>(name);
        await unit.Define(new UnitDefinition { Owner = "edge", Targets = new UnitTargets(labels) }, "ci");
        var v1 = await unit.CreatePackage(new PackageDraft { Content = Encoding.UTF8.GetBytes("one") }, "ci");
        await CompleteRollout(name, 1);
        var v2 = await unit.CreatePackage(new PackageDraft { Content = Encoding.UTF8.GetBytes("two") }, "ci");
        return new TwoPackages(name, new DesiredPackage(1, v1.Record.Sha256), new DesiredPackage(2, v2.Record.Sha256), labels);
    }

    /// <summary>Rolls <paramref name="version"/> out on the unit's plan through the unit's own start, waking it until it completes (its waves must be empty).</summary>
    public async Task CompleteRollout(string unit, long version)
    {
        var (started, _) = await Client.GetGrain<IUnitGrain>(unit).StartRollout(new RolloutRequest { Unit = unit, Version = version, Reason = "first package" }, "ci");
        var rollout = Client.GetGrain<IRolloutRunnerGrain>(started.Spec.Id);
        for (var i = 0; i < 40 && (await rollout.Get())!.Status.State != Domain.Rollouts.RolloutState.Completed; i++)
        {
            await rollout.Wake();
        }
        var done = (await rollout.Get())!.Status;
        Assert.True(done.State == Domain.Rollouts.RolloutState.Completed, $"the first rollout of {unit} ended {done.State}: {done.Timeline[^1].Message}");
    }
}

public static class RolloutStarts
{
    /// <summary>Reserves the unit for a rollout of <paramref name="to"/> over <paramref name="from"/> and starts it on <paramref name="plan"/>.</summary>
    public static async Task<IRolloutRunnerGrain> StartRollout(this ClusterFixture fixture, string unit, DesiredPackage from, DesiredPackage to, Domain.Plans.Plan plan)
    {
        var id = "r-" + Guid.NewGuid().ToString("N")[..16];
        var ticket = await fixture.Client.GetGrain<IUnitRolloutsGrain>(unit).ReserveRollout(id, to.Version);
        var rollout = fixture.Client.GetGrain<IRolloutRunnerGrain>(id);
        await rollout.Start(new Domain.Rollouts.RolloutSpec
        {
            Id = id, Unit = unit, Version = to.Version, Sha256 = to.Sha256, PreviousVersion = from.Version, PreviousSha256 = from.Sha256,
            Plan = plan, PlanName = "two-waves", CreatedBy = "ci",
        }, ticket.Targets);
        return rollout;
    }
}

public sealed record TwoPackages(string Unit, DesiredPackage V1, DesiredPackage V2, Dictionary<string, string> Labels);

[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "cluster";
}
