using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace Snapstone.Simulator.Tests;

/// <summary>A package as the fake server hands it out.</summary>
internal sealed record FakePackage(string Unit, long Version, byte[] Content)
{
    public static FakePackage Of(string unit, long version, string content) => new(unit, version, Encoding.UTF8.GetBytes(content));

    public string Sha256 => Convert.ToHexStringLower(SHA256.HashData(Content));
    public string Url => $"/v1/units/{Unit}/packages/{Version}/content";

    /// <summary>Bytes served at <see cref="Url"/> when they should differ from what the hash promises.</summary>
    public byte[]? ServedInstead { get; init; }
}

/// <summary>
/// Stands in for Snapstone's agent endpoints: answers <c>POST /v1/reports</c> with the desired packages
/// that <see cref="Desired"/> picks per report, and serves their content. It keeps every report it got,
/// as raw JSON, so tests check the wire format rather than the simulator's own types.
/// </summary>
internal sealed class FakeSnapstone : HttpMessageHandler
{
    private readonly object _sync = new();
    private readonly Dictionary<string, FakePackage> _byUrl = new();
    private readonly Dictionary<string, int> _contentGets = new();
    private readonly List<JsonObject> _reports = [];
    private readonly List<int> _batchSizes = [];
    private readonly List<string?> _authorizations = [];
    private int _batchesReceived;

    /// <summary>Which packages the node behind a report should run; none by default.</summary>
    public Func<JsonObject, IEnumerable<FakePackage>> Desired { get; set; } = _ => [];

    /// <summary>When set, report batches are answered with this status and no results.</summary>
    public HttpStatusCode? FailBatchesWith { get; set; }

    /// <summary>With <see cref="FailBatchesWith"/>: the <c>Retry-After</c> header of those answers.</summary>
    public TimeSpan? RetryAfter { get; set; }

    /// <summary>When set, content requests are answered with this status.</summary>
    public HttpStatusCode? FailContentWith { get; set; }

    /// <summary>Report batches that reached this server, answered or failed.</summary>
    public int BatchesReceived { get { lock (_sync) { return _batchesReceived; } } }

    /// <summary>When set, report batches throw as if the connection failed.</summary>
    public bool Unreachable { get; set; }

    /// <summary>When it returns a message for a report, that report's slot gets it as <c>error</c>.</summary>
    public Func<JsonObject, string?> Refuse { get; set; } = _ => null;

    public event Action? BatchAnswered;

    public int BatchesAnswered { get { lock (_sync) { return _batchSizes.Count; } } }
    public IReadOnlyList<int> BatchSizes { get { lock (_sync) { return _batchSizes.ToArray(); } } }
    public IReadOnlyList<string?> Authorizations { get { lock (_sync) { return _authorizations.ToArray(); } } }

    public int ContentGets(string url) { lock (_sync) { return _contentGets.GetValueOrDefault(url); } }
    public int AllContentGets { get { lock (_sync) { return _contentGets.Values.Sum(); } } }

    /// <summary>The reports received since the last call, keyed by node; the latest one when a node sent several.</summary>
    public Dictionary<string, JsonObject> TakeReports()
    {
        lock (_sync)
        {
            var reports = new Dictionary<string, JsonObject>();
            foreach (var report in _reports)
            {
                reports[(string)report["node"]!] = report;
            }
            _reports.Clear();
            return reports;
        }
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var path = request.RequestUri!.IsAbsoluteUri ? request.RequestUri.AbsolutePath : request.RequestUri.OriginalString;
        lock (_sync)
        {
            _authorizations.Add(request.Headers.Authorization?.ToString());
        }
        if (request.Method == HttpMethod.Post && path == "/v1/reports")
        {
            return await AnswerReportsAsync(request, cancellationToken);
        }
        if (request.Method == HttpMethod.Get)
        {
            lock (_sync)
            {
                _contentGets[path] = _contentGets.GetValueOrDefault(path) + 1;
                if (FailContentWith is { } failure)
                {
                    return new HttpResponseMessage(failure);
                }
                if (_byUrl.TryGetValue(path, out var package))
                {
                    return new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(package.ServedInstead ?? package.Content) };
                }
            }
        }
        return new HttpResponseMessage(HttpStatusCode.NotFound);
    }

    private async Task<HttpResponseMessage> AnswerReportsAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        lock (_sync)
        {
            _batchesReceived++;
        }
        if (Unreachable)
        {
            throw new HttpRequestException("Connection refused (fake)");
        }
        var body = JsonNode.Parse(await request.Content!.ReadAsStringAsync(cancellationToken))!.AsObject();
        var reports = body["reports"]!.AsArray().Select(r => r!.AsObject()).ToArray();
        if (FailBatchesWith is { } status)
        {
            var failed = new HttpResponseMessage(status) { Content = new StringContent("""{"title":"boom","detail":"storage unavailable"}""") };
            if (RetryAfter is { } wait)
            {
                failed.Headers.RetryAfter = new System.Net.Http.Headers.RetryConditionHeaderValue(wait);
            }
            return failed;
        }
        var results = new JsonArray();
        lock (_sync)
        {
            foreach (var report in reports)
            {
                _reports.Add(report.DeepClone().AsObject());
                var desired = new JsonObject();
                foreach (var package in Desired(report))
                {
                    _byUrl[package.Url] = package;
                    desired[package.Unit] = new JsonObject
                    {
                        ["version"] = package.Version,
                        ["sha256"] = package.Sha256,
                        ["contentUrl"] = package.Url,
                    };
                }
                var result = new JsonObject { ["node"] = (string)report["node"]!, ["desired"] = desired };
                if (Refuse(report) is { } error)
                {
                    result["error"] = error;
                }
                results.Add(result);
            }
            _batchSizes.Add(reports.Length);
        }
        BatchAnswered?.Invoke();
        return new HttpResponseMessage(HttpStatusCode.OK)
        {
            Content = new StringContent(new JsonObject { ["results"] = results }.ToJsonString(), Encoding.UTF8, "application/json"),
        };
    }
}

/// <summary>Several fake Snapstone gateways behind one handler, told apart by the request's host and port.</summary>
internal sealed class FakeGateways : HttpMessageHandler
{
    private readonly Dictionary<string, HttpMessageInvoker> _byAuthority = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Gateways <c>http://gw-0.test</c>, <c>http://gw-1.test</c>, … each answered by its own <see cref="FakeSnapstone"/>.</summary>
    public FakeGateways(int count)
    {
        for (var i = 0; i < count; i++)
        {
            var server = new FakeSnapstone();
            Servers.Add(server);
            Urls.Add(new Uri($"http://gw-{i}.test"));
            _byAuthority[Urls[i].Authority] = new HttpMessageInvoker(server);
        }
    }

    public List<Uri> Urls { get; } = [];
    public List<FakeSnapstone> Servers { get; } = [];

    /// <summary>Sets what every gateway's nodes should run.</summary>
    public Func<JsonObject, IEnumerable<FakePackage>> Desired
    {
        set
        {
            foreach (var server in Servers)
            {
                server.Desired = value;
            }
        }
    }

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        _byAuthority.TryGetValue(request.RequestUri!.Authority, out var server)
            ? server.SendAsync(request, cancellationToken)
            : throw new HttpRequestException($"no such host {request.RequestUri.Authority} (fake)");
}
