using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Snapstone.Testing;

namespace Snapstone.Server.Tests;

/// <summary>One running server shared by the tests of the <see cref="ServerCollection"/>.</summary>
public sealed class ServerFixture : IAsyncLifetime
{
    /// <summary>The body limit of the shared server, small so a test can exceed it cheaply.</summary>
    public const int MaxRequestBytes = 1024 * 1024;

    public ServerProcess Server { get; private set; } = null!;

    public async Task InitializeAsync() =>
        Server = await ServerProcess.StartAsync(new Dictionary<string, string>
        {
            ["Snapstone__Gateway__MaxRequestBytes"] = MaxRequestBytes.ToString(),
        });

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

[CollectionDefinition(Name)]
public sealed class ServerCollection : ICollectionFixture<ServerFixture>
{
    public const string Name = "server";
}

/// <summary>Small conveniences for JSON over HTTP in tests.</summary>
public static class Http
{
    public static StringContent Json(string json) => new(json, System.Text.Encoding.UTF8, "application/json");

    public static StringContent Json(object body) => Json(JsonSerializer.Serialize(body, SnapstoneJson.Options));

    public static async Task<JsonNode> ReadJson(this HttpResponseMessage response) =>
        JsonNode.Parse(await response.Content.ReadAsStringAsync()) ?? throw new InvalidOperationException("empty body");

    public static async Task<(int Status, JsonNode Body)> Send(this HttpClient client, HttpMethod method, string path, object? body = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = body as HttpContent ?? (body is string s ? Json(s) : Json(body));
        }
        using var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        var json = response.Content.Headers.ContentType?.MediaType?.Contains("json") == true;
        return ((int)response.StatusCode, json && text.Length > 0 ? JsonNode.Parse(text) ?? new JsonObject() : new JsonObject { ["text"] = text });
    }

    public static Task<(int Status, JsonNode Body)> Get(this HttpClient client, string path) => client.Send(HttpMethod.Get, path);

    public static Task<(int Status, JsonNode Body)> Put(this HttpClient client, string path, object body) => client.Send(HttpMethod.Put, path, body);

    public static Task<(int Status, JsonNode Body)> Post(this HttpClient client, string path, object body) => client.Send(HttpMethod.Post, path, body);

    /// <summary>A unit definition with a feature-file shape: at most 200 features, JSON.</summary>
    public static object FeatureUnit(string owner = "bot-management", int maxItems = 200, string plan = "standard") => new
    {
        owner,
        description = "ML feature file for the bot score",
        kind = "file",
        riskTier = "standard",
        failureMode = "fail-stale",
        plan,
        validators = new { maxBytes = 65536, format = "json", maxItems = new { path = "$.features", max = maxItems }, maxGrowthPercent = 50 },
    };

    public static string Features(int count) =>
        JsonSerializer.Serialize(new { features = Enumerable.Range(0, count).Select(i => $"f{i}").ToArray() });
}
