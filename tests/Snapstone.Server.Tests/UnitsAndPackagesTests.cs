using System.Security.Cryptography;
using System.Text;
using Snapstone.Testing;

namespace Snapstone.Server.Tests;

[Collection(ServerCollection.Name)]
public sealed class UnitsAndPackagesTests(ServerFixture fixture)
{
    private readonly HttpClient _ci = fixture.Server.Client("ci");

    [Fact]
    public async Task A_defined_unit_reads_back_as_stored_with_the_token_name_as_actor()
    {
        var unit = TestStorage.Unique("unit");
        var (status, body) = await _ci.Put($"/v1/units/{unit}", Http.FeatureUnit());
        Assert.Equal(200, status);
        Assert.Equal(unit, (string?)body["name"]);
        Assert.Equal("ci", (string?)body["updatedBy"]);

        var (getStatus, read) = await _ci.Get($"/v1/units/{unit}");
        Assert.Equal(200, getStatus);
        Assert.Equal("fail-stale", (string?)read["failureMode"]);
        Assert.Equal(200, (int?)read["validators"]!["maxItems"]!["max"]);
        Assert.Null(read["lkgVersion"]);
        Assert.Null(read["latestVersion"]);
        Assert.Empty(read["quarantined"]!.AsArray());

        var (_, list) = await _ci.Get("/v1/units");
        Assert.Contains(list["units"]!.AsArray(), u => (string?)u!["name"] == unit);
    }

    [Fact]
    public async Task Packages_get_monotonic_versions_their_sha256_and_exact_content()
    {
        var unit = TestStorage.Unique("unit");
        await _ci.Put($"/v1/units/{unit}", Http.FeatureUnit());
        var first = Http.Features(3);
        var (status1, p1) = await _ci.Post($"/v1/units/{unit}/packages", new { content = first, message = "three features", source = "ci/run/1" });
        var (status2, p2) = await _ci.Post($"/v1/units/{unit}/packages", new { content = Http.Features(4), message = "four" });

        Assert.Equal(201, status1);
        Assert.Equal(201, status2);
        Assert.Equal(1, (long?)p1["version"]);
        Assert.Equal(2, (long?)p2["version"]);
        Assert.Equal(Sha(Encoding.UTF8.GetBytes(first)), (string?)p1["sha256"]);
        Assert.Equal(first.Length, (long?)p1["sizeBytes"]);
        Assert.Equal("ci", (string?)p1["author"]);
        Assert.True((bool?)p1["validation"]!["passed"]);
        Assert.NotNull(p1["risk"]!["level"]);

        using var content = await _ci.GetAsync($"/v1/units/{unit}/packages/1/content");
        Assert.Equal(first, await content.Content.ReadAsStringAsync());

        // A package reaches nodes only through a rollout, the first included: until one completes there is no LKG.
        var (_, unitView) = await _ci.Get($"/v1/units/{unit}");
        Assert.Null(unitView["lkgVersion"]);
        Assert.Equal(2, (long?)unitView["latestVersion"]);
        Assert.False((bool?)p1["lkg"]);
    }

    [Fact]
    public async Task Binary_content_round_trips_byte_for_byte()
    {
        var unit = TestStorage.Unique("bin");
        await _ci.Put($"/v1/units/{unit}", new { owner = "edge", kind = "file" });
        var bytes = Enumerable.Range(0, 4096).Select(i => (byte)(i * 7 % 256)).ToArray();
        var (status, package) = await _ci.Post($"/v1/units/{unit}/packages", new { contentBase64 = Convert.ToBase64String(bytes) });
        Assert.Equal(201, status);
        Assert.Equal(Sha(bytes), (string?)package["sha256"]);
        Assert.Equal(bytes, await _ci.GetByteArrayAsync($"/v1/units/{unit}/packages/1/content"));
    }

    [Fact]
    public async Task A_package_past_the_item_limit_is_422_names_limit_and_count_and_is_recorded_as_rejected()
    {
        var unit = TestStorage.Unique("unit");
        await _ci.Put($"/v1/units/{unit}", Http.FeatureUnit());
        var (status, package) = await _ci.Post($"/v1/units/{unit}/packages", new { content = Http.Features(201) });

        Assert.Equal(422, status);
        Assert.False((bool?)package["validation"]!["passed"]);
        var finding = package["validation"]!["findings"]!.AsArray().Single(f => (string?)f!["rule"] == "max-items")!;
        Assert.Equal("error", (string?)finding["severity"]);
        Assert.Contains("201", (string?)finding["message"]);
        Assert.Contains("200", (string?)finding["message"]);
        Assert.Equal(1, (long?)package["version"]);

        var (getStatus, stored) = await _ci.Get($"/v1/units/{unit}/packages/1");
        Assert.Equal(200, getStatus);
        Assert.Equal("rejected", (string?)stored["state"]);
        var (_, unitView) = await _ci.Get($"/v1/units/{unit}");
        Assert.Null(unitView["lkgVersion"]);
        Assert.Equal(1, (long?)unitView["latestVersion"]);
    }

    [Theory]
    [InlineData("{\"features\": [1, 2", "format", "not valid JSON")]
    [InlineData("{\"other\": []}", "max-items", "$.features must select an array")]
    public async Task Findings_name_the_rule(string content, string rule, string message)
    {
        var unit = TestStorage.Unique("unit");
        await _ci.Put($"/v1/units/{unit}", Http.FeatureUnit());
        var (status, package) = await _ci.Post($"/v1/units/{unit}/packages", new { content });
        Assert.Equal(422, status);
        var finding = package["validation"]!["findings"]!.AsArray().First(f => (string?)f!["rule"] == rule)!;
        Assert.Contains(message, (string?)finding["message"]);
    }

    [Fact]
    public async Task Growth_past_the_limit_against_the_lkg_is_rejected()
    {
        var unit = TestStorage.Unique("unit");
        await _ci.Put($"/v1/units/{unit}", new
        {
            owner = "bot-management", kind = "file", failureMode = "fail-stale",
            validators = new { maxBytes = 65536, format = "json", maxItems = new { path = "$.features", max = 200 }, maxGrowthPercent = 50 },
            targets = new { labels = new Dictionary<string, string> { ["growth-test"] = unit } },
        });
        await _ci.Post($"/v1/units/{unit}/packages", new { content = Http.Features(100) });
        await _ci.RollOutFirstAsync(unit);
        var (status, package) = await _ci.Post($"/v1/units/{unit}/packages", new { content = Http.Features(160) });
        Assert.Equal(422, status);
        var growth = package["validation"]!["findings"]!.AsArray().Where(f => (string?)f!["rule"] == "max-growth").ToList();
        Assert.Contains(growth, f => ((string?)f!["message"])!.Contains("items at $.features grew 60%"));
    }

    [Fact]
    public async Task A_json_schema_validator_reports_where_the_content_breaks_it()
    {
        var unit = TestStorage.Unique("flag");
        var schema = new { type = "object", required = new[] { "killswitch" }, properties = new { killswitch = new { type = "boolean" } } };
        var (defined, _) = await _ci.Put($"/v1/units/{unit}", new { owner = "edge", kind = "flag", riskTier = "high", validators = new { jsonSchema = schema } });
        Assert.Equal(200, defined);
        var (bad, package) = await _ci.Post($"/v1/units/{unit}/packages", new { content = "{\"killswitch\": \"yes\"}" });
        Assert.Equal(422, bad);
        Assert.Contains(package["validation"]!["findings"]!.AsArray(), f => (string?)f!["rule"] == "json-schema" && ((string?)f["message"])!.Contains("/killswitch"));
        var (good, _) = await _ci.Post($"/v1/units/{unit}/packages", new { content = "{\"killswitch\": false}" });
        Assert.Equal(201, good);
    }

    [Fact]
    public async Task The_validate_dry_run_answers_like_create_and_stores_nothing()
    {
        var unit = TestStorage.Unique("unit");
        await _ci.Put($"/v1/units/{unit}", Http.FeatureUnit());
        var (ok, passed) = await _ci.Post($"/v1/units/{unit}/packages:validate", new { content = Http.Features(10) });
        var (bad, failed) = await _ci.Post($"/v1/units/{unit}/packages:validate", new { content = Http.Features(250) });

        Assert.Equal(200, ok);
        Assert.True((bool?)passed["validation"]!["passed"]);
        Assert.Equal(0, (long?)passed["version"]);
        Assert.Equal(422, bad);
        Assert.False((bool?)failed["validation"]!["passed"]);
        Assert.NotNull(failed["risk"]!["score"]);
        var (_, unitView) = await _ci.Get($"/v1/units/{unit}");
        Assert.Null(unitView["latestVersion"]);
        var (missing, _) = await _ci.Get($"/v1/units/{unit}/packages/1");
        Assert.Equal(404, missing);
    }

    [Fact]
    public async Task Packages_are_listed_newest_first()
    {
        var unit = TestStorage.Unique("unit");
        await _ci.Put($"/v1/units/{unit}", Http.FeatureUnit());
        for (var i = 1; i <= 3; i++)
        {
            await _ci.Post($"/v1/units/{unit}/packages", new { content = Http.Features(10 + i) });
        }
        var (status, list) = await _ci.Get($"/v1/units/{unit}/packages?limit=2");
        Assert.Equal(200, status);
        Assert.Equal([3L, 2L], list["packages"]!.AsArray().Select(p => (long)p!["version"]!).ToArray());
    }

    [Fact]
    public async Task Plans_can_be_defined_and_built_ins_cannot_be_replaced()
    {
        var plan = TestStorage.Unique("plan");
        var waves = new object[]
        {
            new { name = "canary", select = new { tier = "canary" }, bakeSeconds = 5 },
            new { name = "all", select = new { percent = 100 }, bakeSeconds = 5, gates = new { maxErrorRate = 0.02 } },
        };
        var (status, stored) = await _ci.Put($"/v1/plans/{plan}", new { waves });
        Assert.Equal(200, status);
        Assert.Equal(0.02, (double?)stored["waves"]![1]!["gates"]!["maxErrorRate"]);
        Assert.Equal(2.0, (double?)stored["waves"]![1]!["gates"]!["maxErrorRateRatio"]);

        var (builtIn, standard) = await _ci.Get("/v1/plans/standard");
        Assert.Equal(200, builtIn);
        Assert.Equal(5, standard["waves"]!.AsArray().Count);
        var (conflict, problem) = await _ci.Put("/v1/plans/standard", new { waves });
        Assert.Equal(409, conflict);
        Assert.Contains("built in", (string?)problem["detail"]);
    }

    private static string Sha(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));
}
