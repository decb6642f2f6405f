using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Snapstone.Grains.Metrics;

namespace Snapstone.Grains.Tests;

/// <summary>
/// The Prometheus client against raw HTTP servers on loopback that answer what a real Prometheus rarely does: nothing at
/// all (a hung store), a proxy's HTML error page, samples of every kind. What it sends (the form, the credentials) is
/// read off the wire. The well-behaved path runs against a real Prometheus in the server tests.
/// </summary>
public sealed class PrometheusClientTests
{
    /// <summary>One HTTP exchange at a time on a free loopback port; <see cref="Requests"/> keeps what came in.</summary>
    private sealed class RawServer : IDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();

        public RawServer(Func<string, string?> answer)
        {
            _listener.Start();
            _ = Task.Run(async () =>
            {
                while (!_stop.IsCancellationRequested)
                {
                    var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                    _ = Task.Run(async () =>
                    {
                        using var _ = client;
                        var stream = client.GetStream();
                        var buffer = new byte[65536];
                        var read = 0;
                        string text;
                        while (true)
                        {
                            read += await stream.ReadAsync(buffer.AsMemory(read), _stop.Token);
                            text = Encoding.UTF8.GetString(buffer, 0, read);
                            var head = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
                            var length = text.Split("\r\n").FirstOrDefault(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))?.Split(':')[1].Trim();
                            if (head >= 0 && read - head - 4 >= int.Parse(length ?? "0"))
                            {
                                break;
                            }
                        }
                        Requests.Add(text);
                        var response = answer(text);
                        if (response is null)
                        {
                            await Task.Delay(Timeout.Infinite, _stop.Token); // a hung store: never answers
                            return;
                        }
                        await stream.WriteAsync(Encoding.UTF8.GetBytes(response), _stop.Token);
                    });
                }
            });
        }

        public List<string> Requests { get; } = [];

        public string Url => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/prefix";

        public void Dispose()
        {
            _stop.Cancel();
            _listener.Stop();
        }
    }

    private static string Http(int status, string contentType, string body) =>
        $"HTTP/1.1 {status} X\r\nContent-Type: {contentType}\r\nContent-Length: {Encoding.UTF8.GetByteCount(body)}\r\nConnection: close\r\n\r\n{body}";

    private static PrometheusClient Client(PrometheusOptions options)
    {
        var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
        if (options.Username is { } user)
        {
            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{options.Password}")));
        }
        return new PrometheusClient(http, Options.Create(options), TimeProvider.System, NullLogger<PrometheusClient>.Instance);
    }

    [Fact]
    public async Task A_store_that_never_answers_is_a_timeout_within_the_configured_limit()
    {
        using var server = new RawServer(_ => null);
        var client = Client(new PrometheusOptions { Url = server.Url, TimeoutSeconds = 0.5 });
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var answer = await client.QueryAsync("up");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
        Assert.Equal($"Prometheus at {server.Url} did not answer within 0.5 s", answer.Error);
        Assert.False(answer.Refused);
    }

    [Fact]
    public async Task Values_of_every_kind_are_read_with_the_configured_node_label_and_the_query_is_posted_under_the_prefix()
    {
        const string body = """
            {"status":"success","data":{"resultType":"vector","result":[
              {"metric":{"instance_id":"a"},"value":[1764590400.1,"0.25"]},
              {"metric":{"instance_id":"b"},"value":[1764590400.1,"NaN"]},
              {"metric":{"instance_id":"c"},"value":[1764590400.1,"+Inf"]},
              {"metric":{"pop":"ams01"},"value":[1764590400.1,"-Inf"]}]}}
            """;
        using var server = new RawServer(_ => Http(200, "application/json", body));
        var client = Client(new PrometheusOptions { Url = server.Url + "/", NodeLabel = "instance_id", Username = "snap", Password = "s3cret" });
        var answer = await client.QueryAsync("sum by (instance_id) (rate(x[1m]))");
        Assert.Null(answer.Error);
        Assert.Equal([("a", 0.25), ("b", double.NaN), ("c", double.PositiveInfinity), (null, double.NegativeInfinity)],
            answer.Series.Select(s => (s.Node, s.Value)));
        var request = Assert.Single(server.Requests);
        Assert.StartsWith("POST /prefix/api/v1/query HTTP/1.1", request);
        Assert.Contains("Authorization: Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("snap:s3cret")), request);
        Assert.EndsWith("query=sum+by+%28instance_id%29+%28rate%28x%5B1m%5D%29%29&timeout=5000ms", request);
    }

    public static TheoryData<string, string, string, bool> Failures => new()
    {
        { "a proxy's error page", Http(502, "text/html", "<html><body>Bad Gateway</body></html>"),
            "Prometheus at {url} answered 502 BadGateway with a body that is not its API's JSON (\"<html><body>Bad Gateway</body></html>\"): is the URL the API's base (where /api/v1/query is)?", false },
        { "a parse error", Http(400, "application/json", """{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected end of input"}"""),
            "Prometheus refused the query: bad_data: 1:5: parse error: unexpected end of input", true },
        { "the store's own timeout", Http(503, "application/json", """{"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"}"""),
            "Prometheus at {url} could not answer: timeout: query timed out in expression evaluation", false },
        { "a scalar", Http(200, "application/json", """{"status":"success","data":{"resultType":"scalar","result":[1764590400,"1"]}}"""),
            "the query gives a scalar, not an instant vector with one value per node: group it by node, e.g. sum by (node) (…)", true },
        { "a range vector", Http(200, "application/json", """{"status":"success","data":{"resultType":"matrix","result":[]}}"""),
            "the query gives a matrix, not an instant vector with one value per node: take a rate or an *_over_time of the range", true },
    };

    [Theory]
    [MemberData(nameof(Failures))]
    public async Task What_the_store_answers_instead_of_a_vector_is_an_error_never_a_value(string because, string response, string error, bool refused)
    {
        using var server = new RawServer(_ => response);
        var answer = await Client(new PrometheusOptions { Url = server.Url }).QueryAsync("up");
        Assert.True(error.Replace("{url}", server.Url) == answer.Error, $"{because}: {answer.Error}");
        Assert.Equal(refused, answer.Refused);
        Assert.Empty(answer.Series);
    }

    [Fact]
    public async Task A_store_nobody_listens_on_could_not_be_reached()
    {
        var port = new TcpListener(IPAddress.Loopback, 0);
        port.Start();
        var url = $"http://127.0.0.1:{((IPEndPoint)port.LocalEndpoint).Port}";
        port.Stop();
        var answer = await Client(new PrometheusOptions { Url = url }).QueryAsync("up");
        Assert.StartsWith($"Prometheus at {url} could not be reached: ", answer.Error);
    }

    public static TheoryData<PrometheusOptions, string?> Settings => new()
    {
        { new PrometheusOptions(), null },
        { new PrometheusOptions { Url = "http://prometheus:9090" }, null },
        { new PrometheusOptions { Url = "https://thanos.example/prometheus", BearerToken = "t" }, null },
        { new PrometheusOptions { Url = "prometheus:9090" }, "Snapstone:Metrics:Prometheus:Url must be an absolute http or https URL such as http://prometheus:9090 (got 'prometheus:9090')" },
        { new PrometheusOptions { Url = "http://u:p@prometheus:9090" }, "Snapstone:Metrics:Prometheus:Url must not carry credentials: set Snapstone:Metrics:Prometheus:Username and Password instead" },
        { new PrometheusOptions { Url = "http://p:9090", BearerToken = "t", Username = "u", Password = "p" }, "Snapstone:Metrics:Prometheus: set BearerToken or Username and Password, not both" },
        { new PrometheusOptions { Url = "http://p:9090", Username = "u" }, "Snapstone:Metrics:Prometheus:Username and Password go together (basic auth)" },
        { new PrometheusOptions { Url = "http://p:9090", TimeoutSeconds = 0 }, "Snapstone:Metrics:Prometheus:TimeoutSeconds must be between 0.1 and 60 (got 0)" },
        { new PrometheusOptions { Url = "http://p:9090", NodeLabel = "node-id" }, "Snapstone:Metrics:Prometheus:NodeLabel must be a Prometheus label name matching ^[a-zA-Z_][a-zA-Z0-9_]*$ (got 'node-id')" },
        { new PrometheusOptions { BearerToken = "t" }, "Snapstone:Metrics:Prometheus:BearerToken or Username is set without Snapstone:Metrics:Prometheus:Url" },
    };

    [Theory]
    [MemberData(nameof(Settings))]
    public void Settings_name_the_key_that_is_wrong(PrometheusOptions options, string? problem) => Assert.Equal(problem, options.Problem());
}
