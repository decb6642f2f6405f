using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Snapstone.Chaos.Tests;

/// <summary>
/// The suite's own calls, as a CI pipeline behind a load balancer makes them: each request goes to the next gateway
/// in turn, and one that gets no answer (refused, reset, timed out) or a 503 is sent to the next gateway after the
/// 503's <c>Retry-After</c> (capped) or a short pause, until <see cref="Patience"/> is spent. Any other answer is the
/// answer. Every exchange is recorded by the <see cref="StatusTap"/> underneath.
/// </summary>
public sealed class GatewayApi(IReadOnlyList<Uri> gateways, HttpMessageInvoker http, string token)
{
    private int _next;

    /// <summary>How long one call keeps trying gateways.</summary>
    public TimeSpan Patience { get; init; } = TimeSpan.FromSeconds(90);

    /// <summary>How long one attempt waits for its answer (the gateway retries idempotent calls for up to 15 s itself).</summary>
    public TimeSpan AttemptTimeout { get; init; } = TimeSpan.FromSeconds(20);

    public Task<(int Status, JsonNode Body)> Get(string path) => SendAsync(HttpMethod.Get, path, null);

    public Task<(int Status, JsonNode Body)> Put(string path, object body) => SendAsync(HttpMethod.Put, path, body);

    public Task<(int Status, JsonNode Body)> Post(string path, object body, string? idempotencyKey = null) =>
        SendAsync(HttpMethod.Post, path, body, idempotencyKey);

    /// <summary>One attempt at one gateway: for readiness and reads that must say what that gateway answers.</summary>
    public async Task<(int? Status, JsonNode? Body)> OnceAsync(Uri gateway, string path, TimeSpan timeout, bool anonymous = false)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(gateway, path));
        if (!anonymous)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        using var limit = new CancellationTokenSource(timeout);
        try
        {
            using var response = await http.SendAsync(request, limit.Token);
            return ((int)response.StatusCode, await ReadAsync(response, limit.Token));
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException or IOException)
        {
            return (null, null);
        }
    }

    public async Task<(int Status, JsonNode Body)> SendAsync(HttpMethod method, string path, object? body, string? idempotencyKey = null)
    {
        var clock = Stopwatch.StartNew();
        var payload = body is null ? null : body as string ?? JsonSerializer.Serialize(body, SnapstoneJson.Options);
        var failures = new List<string>();
        while (true)
        {
            var gateway = gateways[(int)((uint)Interlocked.Increment(ref _next) % gateways.Count)];
            using var request = new HttpRequestMessage(method, new Uri(gateway, path));
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            if (idempotencyKey is not null)
            {
                request.Headers.Add("Idempotency-Key", idempotencyKey);
            }
            if (payload is not null)
            {
                request.Content = new StringContent(payload, Encoding.UTF8, "application/json");
            }
            var pause = TimeSpan.FromMilliseconds(200);
            using (var limit = new CancellationTokenSource(AttemptTimeout))
            {
                try
                {
                    using var response = await http.SendAsync(request, limit.Token);
                    var status = (int)response.StatusCode;
                    var json = await ReadAsync(response, limit.Token);
                    if (status != 503)
                    {
                        return (status, json);
                    }
                    failures.Add($"{gateway.Authority}: 503 {json?["detail"]}");
                    if (response.Headers.RetryAfter?.Delta is { } wait)
                    {
                        pause = wait < TimeSpan.FromSeconds(2) ? wait : TimeSpan.FromSeconds(2);
                    }
                }
                catch (Exception e) when (e is HttpRequestException or OperationCanceledException or IOException)
                {
                    failures.Add($"{gateway.Authority}: {e.GetType().Name}: {e.Message.Split('\n')[0]}");
                }
            }
            if (clock.Elapsed > Patience)
            {
                throw new TimeoutException($"{method} {path}: no gateway answered it within {Patience.TotalSeconds:0} s: {string.Join("; ", failures.TakeLast(6))}");
            }
            await Task.Delay(pause);
        }
    }

    private static async Task<JsonNode> ReadAsync(HttpResponseMessage response, CancellationToken ct)
    {
        var text = await response.Content.ReadAsStringAsync(ct);
        if (text.Length == 0)
        {
            return new JsonObject();
        }
        try
        {
            return JsonNode.Parse(text) ?? new JsonObject();
        }
        catch (JsonException)
        {
            return new JsonObject { ["text"] = text };
        }
    }
}
