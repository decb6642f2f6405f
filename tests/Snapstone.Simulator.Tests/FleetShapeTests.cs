using System.Text.RegularExpressions;
using Snapstone.Simulator.Shape;

namespace Snapstone.Simulator.Tests;

public sealed class FleetShapeTests
{
    [Fact]
    public void Same_seed_lays_out_the_same_fleet()
    {
        var first = FleetLayout.Lay(new FleetShape { Seed = 42 });
        var second = FleetLayout.Lay(new FleetShape { Seed = 42 });

        Assert.Equal(first.Pops, second.Pops);
        Assert.Equal(first.Nodes.Select(n => n.ToString()), second.Nodes.Select(n => n.ToString()));
    }

    [Fact]
    public void Another_seed_lays_out_another_fleet()
    {
        var first = FleetLayout.Lay(new FleetShape { Seed = 1 });
        var second = FleetLayout.Lay(new FleetShape { Seed = 2 });

        Assert.NotEqual(first.Nodes.Select(n => n.ToString()), second.Nodes.Select(n => n.ToString()));
    }

    [Fact]
    public void Default_fleet_has_the_asked_sizes_and_valid_unique_names()
    {
        var layout = FleetLayout.Lay(new FleetShape());

        Assert.Equal(2000, layout.Nodes.Count);
        Assert.Equal(20, layout.Pops.Count);
        Assert.Equal(2000, layout.Pops.Sum(p => p.NodeCount));
        Assert.Equal(2000, layout.Nodes.Select(n => n.Id).Distinct().Count());
        Assert.Equal(20, layout.Pops.Select(p => p.Site).Distinct().Count());
        Assert.Equal(Enumerable.Range(1, 20).Select(i => $"pop-{i:000}"), layout.Pops.Select(p => p.Id));
        Assert.Equal(("pop-001", "ams01", "eu-west"), (layout.Pops[0].Id, layout.Pops[0].Site, layout.Pops[0].Region));
        Assert.Equal(("pop-005", "fra01", "eu-west"), (layout.Pops[4].Id, layout.Pops[4].Site, layout.Pops[4].Region));
        Assert.Equal("n-ams01-0001", layout.Nodes[0].Id);
        Assert.All(layout.Nodes, n =>
        {
            Assert.Matches(@"^n-[a-z]{3}\d{2}-\d{4}$", n.Id);
            Assert.True(FleetShape.IsName(n.Pop) && FleetShape.IsName(n.Region) && FleetShape.IsName(n.Tier), n.ToString());
            Assert.All(n.Labels, l => Assert.True(FleetShape.IsName(l.Key) && FleetShape.IsName(l.Value), n.ToString()));
            var pop = layout.Pops.Single(p => p.Id == n.Pop);
            Assert.Equal(pop.Region, n.Region);
            Assert.StartsWith($"n-{pop.Site}-", n.Id, StringComparison.Ordinal);
        });
        Assert.All(layout.Pops, p => Assert.True(p.NodeCount >= 1));
    }

    [Fact]
    public void One_percent_of_each_region_is_canary_and_every_region_has_one()
    {
        var layout = FleetLayout.Lay(new FleetShape { Nodes = 2000, Pops = 20, CanaryShare = 0.01 });

        foreach (var region in layout.Nodes.GroupBy(n => n.Region))
        {
            var canaries = region.Count(n => n.IsCanary);
            Assert.Equal((int)Math.Round(region.Count() * 0.01), canaries);
        }
        Assert.InRange(layout.Nodes.Count(n => n.IsCanary), 18, 22);
        Assert.All(layout.Nodes, n => Assert.Contains(n.Tier, new[] { "canary", "standard" }));
    }

    [Fact]
    public void A_small_region_still_gets_a_canary()
    {
        var layout = FleetLayout.Lay(new FleetShape { Nodes = 12, Pops = 3, Regions = ["eu-west", "us-east", "sa-east"], CanaryShare = 0.01 });

        Assert.Equal(3, layout.Nodes.Count(n => n.IsCanary));
        Assert.Equal(["eu-west", "sa-east", "us-east"], layout.Nodes.Where(n => n.IsCanary).Select(n => n.Region).Order());
    }

    [Fact]
    public void No_canary_share_means_no_canaries()
    {
        Assert.DoesNotContain(FleetLayout.Lay(new FleetShape { CanaryShare = 0 }).Nodes, n => n.IsCanary);
    }

    [Fact]
    public void Labels_split_by_weight()
    {
        var layout = FleetLayout.Lay(new FleetShape
        {
            Labels = [new LabelSplit("proxy", [new LabelShare("fl1", 1), new LabelShare("fl2", 3)]), LabelSplit.Even("cpu", "amd")],
        });

        var fl1 = layout.Nodes.Count(n => n.Labels["proxy"] == "fl1");
        Assert.InRange(fl1, 450, 550);
        Assert.Equal(2000 - fl1, layout.Nodes.Count(n => n.Labels["proxy"] == "fl2"));
        Assert.All(layout.Nodes, n => Assert.Equal("amd", n.Labels["cpu"]));
    }

    [Fact]
    public void Noise_is_there_before_any_change_low_traffic_pops_and_flaky_nodes()
    {
        var shape = new FleetShape();
        var layout = FleetLayout.Lay(shape);

        var lowPops = layout.Pops.Where(p => p.LowTraffic).Select(p => p.Id).ToHashSet();
        Assert.Equal(3, lowPops.Count);
        Assert.All(layout.Nodes.Where(n => lowPops.Contains(n.Pop)), n => Assert.InRange(n.RequestsPerSecond, 1, 6));
        Assert.All(layout.Nodes.Where(n => !lowPops.Contains(n.Pop)), n => Assert.InRange(n.RequestsPerSecond, 200, 1200));

        var flaky = layout.Nodes.Where(n => n.Flaky).ToArray();
        Assert.Equal(10, flaky.Length);
        Assert.All(flaky, n => Assert.InRange(n.ErrorRate, 0.03, 0.12));
        Assert.All(layout.Nodes.Where(n => !n.Flaky), n => Assert.InRange(n.ErrorRate, 0.0005, 0.0015));
        Assert.All(layout.Nodes, n => Assert.InRange(n.P99LatencyMs, 15 * 0.85, 60 * 1.15));
    }

    [Theory]
    [InlineData(10, new[] { 1.0, 1.0, 2.0 }, new[] { 3, 3, 4 })]
    [InlineData(3, new[] { 1.0, 100.0, 1.0 }, new[] { 1, 1, 1 })]
    [InlineData(7, new[] { 1.0, 1.0 }, new[] { 4, 3 })]
    public void Nodes_spread_over_pops_by_weight_with_one_each_first(int total, double[] weights, int[] expected)
    {
        Assert.Equal(expected, FleetLayout.Spread(total, weights));
    }

    [Fact]
    public void Unknown_regions_get_site_codes_from_their_own_name_without_clashing()
    {
        var layout = FleetLayout.Lay(new FleetShape { Nodes = 4, Pops = 4, Regions = ["moon-1", "moon-2"] });

        Assert.Equal(["moo01", "moo02", "moo03", "moo04"], layout.Pops.Select(p => p.Site));
    }

    [Theory]
    [InlineData(0, 1, "nodes must be 1 or more (got 0)")]
    [InlineData(5, 6, "pops (6) must not exceed nodes (5): every PoP holds at least one node")]
    public void Impossible_shapes_are_refused_with_the_field_named(int nodes, int pops, string message)
    {
        var e = Assert.Throws<ArgumentException>(() => FleetLayout.Lay(new FleetShape { Nodes = nodes, Pops = pops }));
        Assert.Equal(message, e.Message);
    }

    [Fact]
    public void Names_that_Snapstone_would_refuse_are_refused_up_front()
    {
        var e = Assert.Throws<ArgumentException>(() => FleetLayout.Lay(new FleetShape { Regions = ["EU West"] }));
        Assert.Equal($"region 'EU West' must match {FleetShape.NamePattern}", e.Message);
        Assert.Matches(new Regex(FleetShape.NamePattern), "n-ams01-0042");
    }
}
