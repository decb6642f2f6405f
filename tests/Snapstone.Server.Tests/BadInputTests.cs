using Snapstone.Testing;

namespace Snapstone.Server.Tests;

/// <summary>Every user mistake gets a 4xx problem that names the problem, and leaves nothing behind.</summary>
[Collection(ServerCollection.Name)]
public sealed class BadInputTests(ServerFixture fixture)
{
    private readonly HttpClient _ci = fixture.Server.Client("ci");

    public static TheoryData<string, string, int, string> UnitBodies => new()
    {
        { "malformed JSON", "{\"owner\": \"a\",", 400, "malformed JSON" },
        { "missing owner", "{}", 400, "missing required field(s) at $: owner" },
        { "unknown field", "{\"owner\": \"a\", \"validatorz\": {}}", 400, "unknown field 'validatorz'" },
        { "wrong type", "{\"owner\": 5}", 400, "$.owner has the wrong type" },
        { "unknown enum value", "{\"owner\": \"a\", \"failureMode\": \"explode\"}", 400, "$.failureMode must be one of fail-stale, fail-open, fail-closed" },
        { "nested wrong type", "{\"owner\": \"a\", \"validators\": {\"maxBytes\": \"big\"}}", 400, "$.validators.maxBytes has the wrong type" },
        { "bad limit", "{\"owner\": \"a\", \"validators\": {\"maxBytes\": 0}}", 400, "validators.maxBytes must be between 1 and" },
        { "bad path", "{\"owner\": \"a\", \"validators\": {\"maxItems\": {\"path\": \"features\", \"max\": 1}}}", 400, "validators.maxItems.path must start with '$'" },
        { "bad schema", "{\"owner\": \"a\", \"validators\": {\"jsonSchema\": {\"type\": 12}}}", 400, "validators.jsonSchema is not a usable JSON Schema" },
        { "unknown plan", "{\"owner\": \"a\", \"plan\": \"nope\"}", 400, "plan 'nope' is not defined" },
        { "bad target label", "{\"owner\": \"a\", \"targets\": {\"labels\": {\"Bad Key\": \"x\"}}}", 400, "targets.labels key 'Bad Key' must match" },
        { "null body", "null", 400, "must be a JSON object" },
    };

    [Theory]
    [MemberData(nameof(UnitBodies))]
    public async Task A_bad_unit_definition_is_refused_with_a_named_problem_and_nothing_is_stored(string _, string body, int status, string detail)
    {
        var unit = TestStorage.Unique("bad");
        using var response = await _ci.PutAsync($"/v1/units/{unit}", Http.Json(body));
        var problem = await response.ReadJson();

        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains(detail, (string?)problem["detail"]);
        var (missing, _) = await _ci.Get($"/v1/units/{unit}");
        Assert.Equal(404, missing);
    }

    [Theory]
    [InlineData("Bot-Features")]
    [InlineData("-leading-dash")]
    [InlineData("has space")]
    [InlineData("a12345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901")]
    public async Task Invalid_unit_names_are_400_and_quote_the_rule(string name)
    {
        var (status, problem) = await _ci.Put($"/v1/units/{Uri.EscapeDataString(name)}", Http.FeatureUnit());
        Assert.Equal(400, status);
        Assert.Contains("^[a-z0-9][a-z0-9._-]{0,99}$", (string?)problem["detail"]);
    }

    [Fact]
    public async Task A_package_for_an_unknown_unit_is_404_naming_it()
    {
        var (status, problem) = await _ci.Post("/v1/units/no-such-unit-anywhere/packages", new { content = "{}" });
        Assert.Equal(404, status);
        Assert.StartsWith("unit 'no-such-unit-anywhere' is not defined", (string?)problem["detail"]);
    }

    [Theory]
    [InlineData("{\"message\": \"no content\"}", "exactly one of content and contentBase64 is required")]
    [InlineData("{\"content\": \"a\", \"contentBase64\": \"YQ==\"}", "exactly one of content and contentBase64 is required")]
    [InlineData("{\"contentBase64\": \"***\"}", "contentBase64 is not valid base64")]
    [InlineData("{\"content\": \"{}\", \"mesage\": \"typo\"}", "unknown field 'mesage'")]
    public async Task Bad_package_bodies_are_400_and_take_no_version(string body, string detail)
    {
        var unit = TestStorage.Unique("unit");
        await _ci.Put($"/v1/units/{unit}", Http.FeatureUnit());
        using var response = await _ci.PostAsync($"/v1/units/{unit}/packages", Http.Json(body));
        Assert.Equal(400, (int)response.StatusCode);
        Assert.Contains(detail, (string?)(await response.ReadJson())["detail"]);
        var (_, unitView) = await _ci.Get($"/v1/units/{unit}");
        Assert.Null(unitView["latestVersion"]);
    }

    [Fact]
    public async Task A_body_over_the_configured_limit_is_413_and_stores_nothing()
    {
        var unit = TestStorage.Unique("unit");
        await _ci.Put($"/v1/units/{unit}", new { owner = "edge" });
        var big = new string('x', ServerFixture.MaxRequestBytes + 1024);
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/units/{unit}/packages") { Content = Http.Json(new { content = big }) };
        request.Headers.ExpectContinue = true;
        using var response = await _ci.SendAsync(request);
        var status = (int)response.StatusCode;
        var problem = await response.ReadJson();

        Assert.Equal(413, status);
        Assert.Contains($"exceeds the limit of {ServerFixture.MaxRequestBytes} bytes", (string?)problem["detail"]);
        var (_, unitView) = await _ci.Get($"/v1/units/{unit}");
        Assert.Null(unitView["latestVersion"]);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-3")]
    [InlineData("seven")]
    public async Task Bad_version_numbers_are_400(string version)
    {
        var unit = TestStorage.Unique("unit");
        await _ci.Put($"/v1/units/{unit}", new { owner = "edge" });
        var (status, problem) = await _ci.Get($"/v1/units/{unit}/packages/{version}");
        Assert.Equal(400, status);
        Assert.Contains("version must be a whole number of 1 or more", (string?)problem["detail"]);
    }

    [Fact]
    public async Task Unknown_routes_and_wrong_content_types_are_problems_too()
    {
        var (status, problem) = await _ci.Get("/v1/nothing-here");
        Assert.Equal(404, status);
        Assert.Contains("no endpoint", (string?)problem["detail"]);

        using var form = await _ci.PutAsync("/v1/units/x", new StringContent("owner=a", System.Text.Encoding.UTF8, "application/x-www-form-urlencoded"));
        Assert.Equal(415, (int)form.StatusCode);
        Assert.Contains("Content-Type: application/json", (string?)(await form.ReadJson())["detail"]);
    }
}
