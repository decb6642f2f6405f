using System.Net;
using System.Net.Http.Headers;
using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json.Nodes;

namespace Snapstone.Cli;

/// <summary>One answer of the gateway: its status and its JSON body (an empty object when it had none).</summary>
public sealed record Answer(int Status, JsonNode Body, HttpResponseHeaders Headers);

/// <summary>
/// The Snapstone HTTP gateway as API.md describes it, and nothing else: every command goes through here.
/// A 4xx becomes <see cref="Refusal"/> carrying the server's problem detail, a 5xx or a body that is not JSON
/// becomes <see cref="GatewayFailure"/>; connection errors surface as <see cref="HttpRequestException"/>.
/// </summary>
public sealed class Gateway : IDisposable
{
    /// <summary>How long one request may take; streams and waits are bounded by their own deadlines instead.</summary>
    public static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(30);

    private readonly HttpClient _http;

    public Gateway(Uri server, string token)
    {
        Server = server;
        _http = new HttpClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(10) })
        {
            BaseAddress = server,
            Timeout = Timeout.InfiniteTimeSpan,
        };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("snapstone-cli", typeof(Gateway).Assembly.GetName().Version?.ToString(3) ?? "0"));
    }

    public Uri Server { get; }

    public async Task<JsonNode> GetAsync(string path, CancellationToken ct) =>
        (await SendAsync(HttpMethod.Get, path, null, ct)).Body;

    public async Task<JsonNode> PostAsync(string path, JsonNode body, CancellationToken ct) =>
        (await SendAsync(HttpMethod.Post, path, body, ct)).Body;

    /// <summary>
    /// Sends one request. Statuses in <paramref name="accept"/> (besides 2xx) are answers, not refusals: a package
    /// that fails validation is a 422 whose body is the recorded package.
    /// </summary>
    public async Task<Answer> SendAsync(HttpMethod method, string path, JsonNode? body, CancellationToken ct,
        IReadOnlyCollection<int>? accept = null, IReadOnlyDictionary<string, string>? headers = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        }
        foreach (var (name, value) in headers ?? new Dictionary<string, string>())
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }
        var (response, bytes) = await ExchangeAsync(request, ct);
        using (response)
        {
            var text = Encoding.UTF8.GetString(bytes);
            var status = (int)response.StatusCode;
            var json = Parse(text);
            if (response.IsSuccessStatusCode || accept?.Contains(status) == true)
            {
                if (json is null && text.Length > 0)
                {
                    throw new GatewayFailure(status, $"{method} {path} answered {status} with a body that is not JSON; is {Server} a Snapstone gateway?");
                }
                return new Answer(status, json ?? new JsonObject(), response.Headers);
            }
            throw Problem(status, response.ReasonPhrase, json, text, path);
        }
    }

    /// <summary>The exact bytes at <paramref name="path"/> (package content).</summary>
    public async Task<byte[]> GetBytesAsync(string path, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        var (response, bytes) = await ExchangeAsync(request, ct);
        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                var text = Encoding.UTF8.GetString(bytes);
                throw Problem((int)response.StatusCode, response.ReasonPhrase, Parse(text), text, path);
            }
            return bytes;
        }
    }

    /// <summary>Sends and reads the whole body within <see cref="RequestTimeout"/>; running out of it is a <see cref="GatewayFailure"/> with no status.</summary>
    private async Task<(HttpResponseMessage Response, byte[] Body)> ExchangeAsync(HttpRequestMessage request, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(RequestTimeout);
        HttpResponseMessage? response = null;
        try
        {
            response = await _http.SendAsync(request, timeout.Token);
            return (response, await response.Content.ReadAsByteArrayAsync(timeout.Token));
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            response?.Dispose();
            throw new GatewayFailure(0, $"Snapstone at {Server} did not answer {request.Method} {request.RequestUri} within {RequestTimeout.TotalSeconds:0} s");
        }
        catch
        {
            response?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The Server-Sent Events at <paramref name="path"/> until the server ends the stream. A refusal to open it
    /// throws like any request; a stream cut mid-way throws <see cref="HttpRequestException"/> or <see cref="IOException"/>.
    /// </summary>
    public async IAsyncEnumerable<SseItem<string>> EventsAsync(string path, [EnumeratorCancellation] CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        if (!response.IsSuccessStatusCode)
        {
            var text = await response.Content.ReadAsStringAsync(ct);
            throw Problem((int)response.StatusCode, response.ReasonPhrase, Parse(text), text, path);
        }
        await using var stream = await response.Content.ReadAsStreamAsync(ct);
        await foreach (var item in SseParser.Create(stream).EnumerateAsync(ct))
        {
            yield return item;
        }
    }

    public void Dispose() => _http.Dispose();

    private static Exception Problem(int status, string? reason, JsonNode? json, string text, string path)
    {
        var detail = json is JsonObject o ? o.Str("detail") ?? o.Str("title") : null;
        detail ??= text.Length == 0 ? null : text.Length > 300 ? text[..300] : text;
        if (detail is null && status is 404 or 405)
        {
            // No problem body: the route itself is missing, not the thing it names.
            detail = $"this server has no {path.Split('?')[0]}; is it older than this CLI?";
        }
        var title = (json as JsonObject)?["title"] is JsonValue t && t.TryGetValue<string>(out var s) ? s : reason ?? ((HttpStatusCode)status).ToString();
        var errors = (json as JsonObject)?["errors"] is JsonArray list
            ? list.Select(e => e?.ToString() ?? "").Where(e => e.Length > 0).ToList()
            : [];
        return status is >= 400 and < 500
            ? new Refusal(status, title, detail ?? "(no detail)", errors, json)
            : new GatewayFailure(status, $"{status} {title}: {detail ?? "(no detail)"}");
    }

    private static JsonNode? Parse(string text)
    {
        if (text.Length == 0 || text.AsSpan().TrimStart() is not ['{' or '[', ..])
        {
            return null;
        }
        try
        {
            return JsonNode.Parse(text);
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }
}

/// <summary>Snapstone said no (4xx): its problem detail, as RFC 9457 gives it.</summary>
public sealed class Refusal(int status, string title, string detail, IReadOnlyList<string> errors, JsonNode? problem)
    : Exception($"{status} {title}: {detail}")
{
    public int Status { get; } = status;
    public string Title { get; } = title;
    public string Detail { get; } = detail;
    /// <summary>Every error when the server listed more than one (a body with several bad fields).</summary>
    public IReadOnlyList<string> Errors { get; } = errors;
    public JsonNode? Problem { get; } = problem;
}

/// <summary>Snapstone failed (5xx), timed out, or answered something that is not Snapstone's. <see cref="Status"/> 0: no answer.</summary>
public sealed class GatewayFailure(int status, string message) : Exception(message)
{
    public int Status { get; } = status;

    /// <summary>Worth retrying while waiting on a rollout: the server may be restarting.</summary>
    public bool Transient => Status is 0 or 502 or 503 or 504;
}

/// <summary>The command line itself is wrong (a file that cannot be read, no token): exit <see cref="ExitCodes.Usage"/>.</summary>
public sealed class UsageError(string message) : Exception(message);
