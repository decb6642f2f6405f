using Microsoft.Extensions.Options;
using Orleans.TestingHost;
using Snapstone.Domain.Health;
using Snapstone.Domain.Nodes;
using Snapstone.Client;
using Snapstone.Grains.Fleet;
using Snapstone.Server.Hosting;
using Snapstone.Testing;

namespace Snapstone.Grains.Tests;

/// <summary>Which silo a PoP lives on: the same on every silo, spread over the silos, and moved only as little as a silo's coming or going needs.</summary>
public sealed class PopSilosTests
{
    private static readonly string[] Three = ["silo-a", "silo-b", "silo-c"];
    private static readonly string[] Pops = [.. Enumerable.Range(0, 300).Select(i => $"pop{i:000}")];

    private static string On(string pop, IReadOnlyList<string> silos) => PopSilos.Pick(pop, silos, s => s);

    [Fact]
    public void Every_silo_picks_the_same_silo_for_a_pop_whatever_order_it_lists_the_silos_in()
    {
        foreach (var pop in Pops)
        {
            Assert.Equal(On(pop, Three), On(pop, [.. Three.Reverse()]));
            Assert.Equal(On(pop, Three), On(pop, ["silo-b", "silo-c", "silo-a"]));
        }
    }

    [Fact]
    public void The_pops_are_spread_over_the_silos()
    {
        var counts = Pops.GroupBy(pop => On(pop, Three)).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(Three.Order(), counts.Keys.Order());
        Assert.All(counts.Values, count => Assert.InRange(count, 70, 130));
    }

    [Theory]
    [InlineData("silo-a")]
    [InlineData("silo-b")]
    [InlineData("silo-c")]
    public void A_silo_leaving_moves_only_its_own_pops_and_one_joining_takes_pops_only_for_itself(string leaving)
    {
        var remaining = Three.Where(s => s != leaving).ToArray();
        var four = Three.Append("silo-d").ToArray();
        foreach (var pop in Pops)
        {
            var before = On(pop, Three);
            if (before != leaving)
            {
                Assert.Equal(before, On(pop, remaining));
            }
            Assert.Contains(On(pop, four), new[] { before, "silo-d" });
        }
        Assert.Contains(Pops, pop => On(pop, four) == "silo-d");
    }

    [Fact]
    public void One_silo_takes_every_pop_and_none_is_refused()
    {
        Assert.All(Pops, pop => Assert.Equal("silo-a", On(pop, ["silo-a"])));
        Assert.Throws<ArgumentException>(() => On("pop000", []));
    }
}

/// <summary>
/// On three silos, a node's grain lives on its PoP's silo whichever silo or client its report came through, so a wave's
/// fan-out from a PoP to its nodes does not cross silos.
/// </summary>
public sealed class PopPlacementTests
{
    [Fact]
    public async Task Nodes_reporting_through_a_client_are_placed_on_their_pops_silo_and_the_pops_are_spread_over_the_silos()
    {
        var connection = await TestStorage.ConnectionStringAsync();
        var builder = new InProcessTestClusterBuilder(3);
        builder.Options.ServiceId = TestStorage.Unique("pop-placement");
        builder.ConfigureSilo((_, silo) => silo.AddSnapstoneStorage(connection, new StorageOptions()));
        await using var cluster = builder.Build();
        await cluster.DeployAsync();
        var client = new SnapstoneClient(cluster.Client, TimeProvider.System, Options.Create(new ReportOptions()));
        var pops = Enumerable.Range(0, 12).Select(_ => TestStorage.Unique("pop")).ToList();
        var nodes = pops.SelectMany(pop => Enumerable.Range(0, 3).Select(i => (Pop: pop, Node: $"{pop}-n{i}"))).ToList();

        await Task.WhenAll(nodes.Select(n => client.ReportAsync(new NodeReport
        {
            Node = n.Node, Pop = n.Pop, Tier = "edge",
            Metrics = new NodeMetrics { Requests = 100, Errors = 0, P99LatencyMs = 10 },
        })));

        var management = cluster.Client.GetGrain<IManagementGrain>(0);
        var popSilos = new Dictionary<string, SiloAddress?>();
        foreach (var pop in pops)
        {
            popSilos[pop] = await management.GetActivationAddress(cluster.Client.GetGrain<IPopFanOutGrain>(pop));
        }
        var misplaced = new List<string>();
        foreach (var (pop, node) in nodes)
        {
            var silo = await management.GetActivationAddress(cluster.Client.GetGrain<INodeFanOutGrain>(node));
            if (silo is null || !silo.Equals(popSilos[pop]))
            {
                misplaced.Add($"{node} on {silo?.ToString() ?? "no silo"}, its PoP on {popSilos[pop]?.ToString() ?? "no silo"}");
            }
        }

        Assert.All(popSilos.Values, Assert.NotNull);
        Assert.Empty(misplaced);
        Assert.True(popSilos.Values.Distinct().Count() > 1, "every PoP is on one silo of three");
    }
}
