using System.Diagnostics;
using Snapstone.Domain.Nodes;
using Snapstone.Domain.Plans;
using Snapstone.Domain.Rollouts;

namespace Snapstone.Domain.Tests.Rollouts;

public class WaveSelectorTests
{
    private static readonly Dictionary<string, string> NoLabels = new();

    private static NodeIdentity Node(string pop = "ams01", string region = "eu-west", string tier = "standard") =>
        new(pop, region, tier, NoLabels);

    private static readonly string[] TenThousandIds = Enumerable.Range(0, 10_000).Select(i => $"node-{i:D5}").ToArray();

    // Expected values computed independently (Python hashlib) from SHA-256 of "salt/node": they pin the
    // algorithm, so a change of hash, encoding, byte order or scaling fails here rather than reshuffling fleets.
    [Theory]
    [InlineData("node-1", "bot-features", 13.321675983582093)]
    [InlineData("node-2", "bot-features", 49.524832753943556)]
    [InlineData("n-00042", "bot-features", 20.207074397116067)]
    [InlineData("node-1", "unit-a", 96.28020740054596)]
    public void Bucket_is_the_scaled_sha256_prefix(string nodeId, string salt, double expected)
    {
        Assert.Equal(expected, WaveSelector.Bucket(nodeId, salt), 12);
    }

    [Theory]
    [InlineData("node-1", "bot-features")]
    [InlineData("", "")]
    [InlineData("edge-ams01-0042.example", "flags")]
    public void Bucket_is_the_same_on_every_call_and_in_range(string nodeId, string salt)
    {
        var first = WaveSelector.Bucket(nodeId, salt);
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(first, WaveSelector.Bucket(nodeId, salt));
        }
        Assert.InRange(first, 0.0, 100.0);
        Assert.NotEqual(100.0, first);
    }

    [Fact]
    public void Bucket_handles_ids_longer_than_the_stack_buffer()
    {
        var longId = new string('a', 2_000);
        var bucket = WaveSelector.Bucket(longId, "unit");
        Assert.Equal(bucket, WaveSelector.Bucket(longId, "unit"));
        Assert.NotEqual(bucket, WaveSelector.Bucket(longId + "b", "unit"));
    }

    [Theory]
    [InlineData("node-1", "unit-a", "unit-b")]
    [InlineData("node-2", "bot-features", "bot-features2")]
    public void Salt_changes_the_bucket(string nodeId, string saltA, string saltB)
    {
        Assert.NotEqual(WaveSelector.Bucket(nodeId, saltA), WaveSelector.Bucket(nodeId, saltB));
    }

    [Theory]
    [InlineData(1.0, 70, 130)]
    [InlineData(10.0, 900, 1100)]
    [InlineData(50.0, 4850, 5150)]
    [InlineData(100.0, 10_000, 10_000)]
    public void Percent_share_of_ten_thousand_ids_is_within_tolerance(double percent, int min, int max)
    {
        var select = new WaveSelect { Percent = percent };
        var count = TenThousandIds.Count(id => WaveSelector.Selects(select, id, Node(), "bot-features"));
        Assert.InRange(count, min, max);
    }

    [Theory]
    [InlineData("bot-features")]
    [InlineData("killswitch")]
    public void Percent_waves_nest(string salt)
    {
        var one = new WaveSelect { Percent = 1 };
        var ten = new WaveSelect { Percent = 10 };
        var half = new WaveSelect { Percent = 50 };
        var inOne = 0;
        var inTen = 0;
        foreach (var id in TenThousandIds)
        {
            var a = WaveSelector.Selects(one, id, Node(), salt);
            var b = WaveSelector.Selects(ten, id, Node(), salt);
            var c = WaveSelector.Selects(half, id, Node(), salt);
            Assert.True(!a || b, $"{id} is in 1% but not in 10%");
            Assert.True(!b || c, $"{id} is in 10% but not in 50%");
            inOne += a ? 1 : 0;
            inTen += b ? 1 : 0;
        }
        Assert.True(inOne > 0 && inTen > inOne, $"expected 0 < 1% ({inOne}) < 10% ({inTen})");
    }

    public static TheoryData<string, WaveSelect, NodeIdentity, bool> SelectCases => new()
    {
        { "tier matches", new WaveSelect { Tier = "canary" }, Node(tier: "canary"), true },
        { "tier differs", new WaveSelect { Tier = "canary" }, Node(tier: "standard"), false },
        { "tier is case-sensitive", new WaveSelect { Tier = "canary" }, Node(tier: "Canary"), false },
        { "pop listed", new WaveSelect { Pops = ["lhr01", "ams01"] }, Node(pop: "ams01"), true },
        { "pop not listed", new WaveSelect { Pops = ["lhr01", "fra02"] }, Node(pop: "ams01"), false },
        { "region matches", new WaveSelect { Region = "eu-west" }, Node(region: "eu-west"), true },
        { "region differs", new WaveSelect { Region = "us-east" }, Node(region: "eu-west"), false },
        { "percent above bucket 13.32", new WaveSelect { Percent = 13.33 }, Node(), true },
        { "percent below bucket 13.32", new WaveSelect { Percent = 13.32 }, Node(), false },
        { "percent 100 takes everyone", new WaveSelect { Percent = 100 }, Node(), true },
        { "nothing set selects nobody", new WaveSelect(), Node(), false },
    };

    [Theory]
    [MemberData(nameof(SelectCases))]
    public void Selects_by_tier_pop_region_or_percent(string because, WaveSelect select, NodeIdentity node, bool expected)
    {
        // node-1 under salt bot-features has bucket 13.3216...
        Assert.True(expected == WaveSelector.Selects(select, "node-1", node, "bot-features"), because);
    }

    // Buckets under salt bot-features: node-1 13.32, node-2 49.52, n-00042 20.21.
    [Theory]
    [InlineData("canary node is in wave 0 whatever its bucket", "node-2", "canary", "ams01", 0)]
    [InlineData("standard node at 13.32 first fits the 50% wave", "node-1", "standard", "ams01", 3)]
    [InlineData("standard node at 49.52 first fits the 50% wave", "node-2", "standard", "ams01", 3)]
    [InlineData("node in a listed PoP is in the PoP wave", "node-2", "standard", "lhr01", 2)]
    public void FirstWave_is_the_first_wave_that_selects_the_node(string because, string nodeId, string tier, string pop, int expected)
    {
        var plan = new Plan(
        [
            new WaveSpec { Name = "canary", Select = new WaveSelect { Tier = "canary" } },
            new WaveSpec { Name = "one-percent", Select = new WaveSelect { Percent = 1 } },
            new WaveSpec { Name = "london", Select = new WaveSelect { Pops = ["lhr01"] } },
            new WaveSpec { Name = "half", Select = new WaveSelect { Percent = 50 } },
            new WaveSpec { Name = "all", Select = new WaveSelect { Percent = 100 } },
        ]);
        Assert.True(expected == WaveSelector.FirstWave(plan, nodeId, Node(pop: pop, tier: tier), "bot-features"),
            $"{because}: expected {expected}, got {WaveSelector.FirstWave(plan, nodeId, Node(pop: pop, tier: tier), "bot-features")}");
    }

    [Theory]
    [InlineData(0, false)]
    [InlineData(2, false)]
    [InlineData(3, true)]
    [InlineData(4, true)]
    public void InCohort_is_cumulative_from_the_first_wave(int wave, bool expected)
    {
        // node-1 (bucket 13.32, tier standard) first fits wave 3 of the standard plan (50%).
        Assert.Equal(expected, WaveSelector.InCohort(BuiltInPlans.Standard, wave, "node-1", Node(), "bot-features"));
    }

    [Fact]
    public void FirstWave_of_a_plan_that_never_selects_the_node_is_past_the_last_wave()
    {
        var plan = new Plan([new WaveSpec { Name = "canary", Select = new WaveSelect { Tier = "canary" } }]);
        Assert.Equal(1, WaveSelector.FirstWave(plan, "node-1", Node(), "bot-features"));
    }

    [Fact]
    public void Every_node_gets_a_wave_in_the_built_in_plans_and_percent_waves_fill_in_order()
    {
        var counts = new int[BuiltInPlans.Standard.Waves.Count + 1];
        foreach (var id in TenThousandIds)
        {
            counts[WaveSelector.FirstWave(BuiltInPlans.Standard, id, Node(), "bot-features")]++;
        }
        Assert.Equal(0, counts[0]); // no canary-tier nodes here
        Assert.Equal(0, counts[^1]); // nobody left out
        Assert.Equal(10_000, counts.Sum());
        Assert.InRange(counts[1], 70, 130);            // 1%
        Assert.InRange(counts[1] + counts[2], 900, 1100); // 10% cumulative
    }
}
