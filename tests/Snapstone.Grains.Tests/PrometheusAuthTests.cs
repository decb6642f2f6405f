using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Snapstone.Grains.Metrics;
using Snapstone.Testing;

namespace Snapstone.Grains.Tests;

/// <summary>
/// The Prometheus client, wired as the server wires it (<see cref="PrometheusClient.AddPrometheus"/> from configuration),
/// against a real Prometheus whose API requires basic auth (<c>--web.config.file</c> with <c>basic_auth_users</c>):
/// the right user and password read the values; a wrong password, none, or a bearer token (which Prometheus itself does
/// not serve: it is for a proxy in front of it, or a hosted store) are refused, and the answer is an error, never a value.
/// </summary>
public sealed class PrometheusAuthTests : IAsyncLifetime
{
    private const string User = "snapstone";
    private const string Password = "snapstone-prom-pass";
    /// <summary>bcrypt of <see cref="Password"/> at cost 4 (the least Prometheus takes, so each request checks it quickly).</summary>
    private const string Hash = "$2b$04$BgACnP1aG3vYrP4Se1ddJeFD1mILGScFBj/2GT7HlT6MpCFOip/K.";
    /// <summary>One value for one node, with no scrape target needed.</summary>
    private const string Query = "label_replace(vector(0.25), \"node\", \"n-1\", \"\", \"\")";

    private PrometheusProcess _prometheus = null!;

    public async Task InitializeAsync() =>
        _prometheus = await PrometheusProcess.StartAsync([], basicAuth: new PrometheusBasicAuth(User, Password, Hash));

    public async Task DisposeAsync() => await _prometheus.DisposeAsync();

    private PrometheusClient Client(params (string Key, string Value)[] settings)
    {
        var values = settings.Select(s => KeyValuePair.Create($"{PrometheusOptions.Section}:{s.Key}", (string?)s.Value))
            .Append(KeyValuePair.Create($"{PrometheusOptions.Section}:Url", (string?)_prometheus.BaseAddress.ToString()));
        var services = new ServiceCollection()
            .AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(values).Build())
            .AddSingleton(TimeProvider.System)
            .AddLogging();
        PrometheusClient.AddPrometheus(services);
        return services.BuildServiceProvider().GetRequiredService<PrometheusClient>();
    }

    [Fact]
    public async Task The_configured_user_and_password_read_the_values()
    {
        var answer = await Client(("Username", User), ("Password", Password)).QueryAsync(Query);
        Assert.True(answer.Error is null, answer.Error);
        Assert.Equal([("n-1", 0.25)], answer.Series.Select(s => (s.Node, s.Value)));
    }

    public static TheoryData<string, (string, string)[]> Refused => new()
    {
        { "a wrong password", [("Username", User), ("Password", "not-the-password")] },
        { "no credentials", [] },
        { "a bearer token, which Prometheus itself does not serve", [("BearerToken", "some-token")] },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public async Task Without_the_right_credentials_the_answer_is_an_error_naming_401_never_a_value(string because, (string, string)[] settings)
    {
        var answer = await Client(settings).QueryAsync(Query);
        Assert.True(answer.Error?.Contains("401", StringComparison.Ordinal) == true, $"{because}: {answer.Error ?? "no error"}");
        Assert.Empty(answer.Series);
    }
}
