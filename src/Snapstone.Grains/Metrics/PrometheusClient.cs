using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Snapstone.Domain.Health;

namespace Snapstone.Grains.Metrics;

/// <summary>
/// Instant queries against a Prometheus-compatible HTTP API (<see cref="PrometheusOptions"/>): <c>POST api/v1/query</c>, the
/// answer read as series of the node label and a value. It never throws for what the store does: a refusal, a timeout, a
/// connection error or a body that is not the API's comes back as <see cref="MetricAnswer.Error"/>, which a gate reads as
/// unsure. Registered as a typed <see cref="HttpClient"/> (<see cref="AddPrometheus"/>).
/// </summary>
public sealed class PrometheusClient(HttpClient http, IOptions<PrometheusOptions> options, TimeProvider time, ILogger<PrometheusClient> logger)
{
    /// <summary>The largest answer read (about 500,000 series): past it the query is refused, never half read.</summary>
    public const int MaxResponseBytes = 64 * 1024 * 1024;

    /// <summary>The last failure logged per query, so a store that stays down is logged when it fails and when it recovers, not every tick.</summary>
    private static readonly ConcurrentDictionary<string, string> Failing = new(StringComparer.Ordinal);

    private PrometheusOptions Options => options.Value;

    public bool Configured => Options.Configured;

    /// <summary>The label that names the node in a query's result.</summary>
    public string NodeLabel => Options.NodeLabel;

    /// <summary>How long one query may take before it reads as an error.</summary>
    public TimeSpan Timeout => Options.Timeout;

    /// <summary>The base address, for messages (never carries credentials: <see cref="PrometheusOptions.Problem"/> refuses them).</summary>
    public string Where => Options.BaseAddress?.ToString().TrimEnd('/') ?? "(no Prometheus configured)";

    /// <summary>
    /// Evaluates <paramref name="query"/> now, within <see cref="PrometheusOptions.Timeout"/> whatever the store does.
    /// <see cref="MetricSeries.Node"/> is each series' <see cref="NodeLabel"/>.
    /// </summary>
    public async Task<MetricAnswer> QueryAsync(string query, CancellationToken cancellationToken = default)
    {
        if (Options.BaseAddress is not { } baseAddress)
        {
            return MetricAnswer.Failed($"no Prometheus is configured ({PrometheusOptions.Section}:Url)");
        }
        var timeout = Options.Timeout;
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        var answer = await AskAsync(new Uri(baseAddress, "api/v1/query"), query, timeout, limit.Token, cancellationToken);
        Log(query, answer);
        return answer;
    }

    private async Task<MetricAnswer> AskAsync(Uri endpoint, string query, TimeSpan timeout, CancellationToken limit, CancellationToken caller)
    {
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, endpoint)
            {
                // The store stops evaluating when we stop waiting.
                Content = new FormUrlEncodedContent([new("query", query), new("timeout", $"{(long)timeout.TotalMilliseconds}ms")]),
            };
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseContentRead, limit);
            var body = await response.Content.ReadAsByteArrayAsync(limit);
            return Read(response.StatusCode, body, time.GetUtcNow());
        }
        catch (OperationCanceledException) when (!caller.IsCancellationRequested)
        {
            return MetricAnswer.Failed($"Prometheus at {Where} did not answer within {Seconds(timeout)}");
        }
        catch (HttpRequestException e) when (e.InnerException is null && e.Message.Contains("buffer", StringComparison.OrdinalIgnoreCase))
        {
            return MetricAnswer.Failed($"Prometheus at {Where} answered more than {MaxResponseBytes / (1024 * 1024)} MB for the query: aggregate it by node", refused: true);
        }
        catch (HttpRequestException e)
        {
            return MetricAnswer.Failed($"Prometheus at {Where} could not be reached: {Innermost(e)}");
        }
    }

    /// <summary>The API's answer: <c>{"status":"success","data":{"resultType":"vector","result":[{"metric":{…},"value":[t,"v"]}]}}</c>, or its error.</summary>
    private MetricAnswer Read(HttpStatusCode status, byte[] body, DateTimeOffset now)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body);
        }
        catch (JsonException)
        {
            return MetricAnswer.Failed($"Prometheus at {Where} answered {(int)status} {status} with a body that is not its API's JSON{Excerpt(body)}: is the URL the API's base (where /api/v1/query is)?");
        }
        using (document)
        {
            var root = document.RootElement;
            var state = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("status", out var s) ? s.GetString() : null;
            if (state == "error")
            {
                var type = Text(root, "errorType") ?? "error";
                var error = Text(root, "error") ?? "(no message)";
                // bad_data: it does not parse; execution: it cannot be evaluated as written. Both are the query's fault; a
                // timeout, a cancellation or an unavailable store are the store's.
                var refused = type is "bad_data" or "execution";
                return MetricAnswer.Failed(refused ? $"Prometheus refused the query: {type}: {error}" : $"Prometheus at {Where} could not answer: {type}: {error}", refused);
            }
            if (state != "success" || !root.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.Object)
            {
                return MetricAnswer.Failed($"Prometheus at {Where} answered {(int)status} {status} without a query result{Excerpt(body)}");
            }
            var resultType = Text(data, "resultType");
            if (resultType != "vector")
            {
                return MetricAnswer.Failed($"the query gives a {resultType ?? "result of no type"}, not an instant vector with one value per node: " +
                    (resultType == "matrix" ? "take a rate or an *_over_time of the range" : $"group it by node, e.g. sum by ({NodeLabel}) (…)"), refused: true);
            }
            var series = new List<MetricSeries>();
            if (data.TryGetProperty("result", out var result) && result.ValueKind == JsonValueKind.Array)
            {
                foreach (var element in result.EnumerateArray())
                {
                    var node = element.TryGetProperty("metric", out var labels) && labels.ValueKind == JsonValueKind.Object && labels.TryGetProperty(NodeLabel, out var n)
                        ? n.GetString()
                        : null;
                    if (!element.TryGetProperty("value", out var pair) || pair.ValueKind != JsonValueKind.Array || pair.GetArrayLength() != 2 || Number(pair[1]) is not { } value)
                    {
                        return MetricAnswer.Failed($"Prometheus at {Where} answered a sample without a [time, \"value\"] pair{Excerpt(body)}");
                    }
                    series.Add(new MetricSeries(string.IsNullOrEmpty(node) ? null : node, value));
                }
            }
            return new MetricAnswer { Series = series, At = now };
        }
    }

    /// <summary>A sample value as the API writes it: a string, <c>"NaN"</c>, <c>"+Inf"</c> or <c>"-Inf"</c> included.</summary>
    private static double? Number(JsonElement value) => value.ValueKind != JsonValueKind.String ? null : value.GetString() switch
    {
        "NaN" => double.NaN,
        "+Inf" or "Inf" => double.PositiveInfinity,
        "-Inf" => double.NegativeInfinity,
        var text when double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) => v,
        _ => null,
    };

    private static string? Text(JsonElement element, string property) =>
        element.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static string Excerpt(byte[] body)
    {
        var text = Encoding.UTF8.GetString(body, 0, Math.Min(body.Length, 200)).ReplaceLineEndings(" ").Trim();
        return text.Length == 0 ? "" : $" (\"{text}{(body.Length > 200 ? "…" : "")}\")";
    }

    private static string Innermost(Exception e)
    {
        while (e.InnerException is { } inner)
        {
            e = inner;
        }
        return e.Message;
    }

    private static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture) + " s";

    private void Log(string query, MetricAnswer answer)
    {
        if (answer.Error is { } error)
        {
            if (Failing.Count > 10_000)
            {
                Failing.Clear();
            }
            if (Failing.TryGetValue(query, out var last) && last == error)
            {
                return;
            }
            Failing[query] = error;
            logger.LogWarning("Metric query failed (its gates are inconclusive until it answers): {Error}; query: {Query}", error, query);
        }
        else if (Failing.TryRemove(query, out _))
        {
            logger.LogInformation("Metric query answers again ({Series} series): {Query}", answer.Series.Count, query);
        }
    }

    /// <summary>
    /// Registers the options (checked at start) and the typed client: its credentials, no HttpClient timeout of its own
    /// (<see cref="QueryAsync"/> keeps the configured one), connections renewed every few minutes so a long-lived
    /// rollout grain follows DNS changes.
    /// </summary>
    public static IServiceCollection AddPrometheus(IServiceCollection services)
    {
        services.AddOptions<PrometheusOptions>().BindConfiguration(PrometheusOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<PrometheusOptions>, Validation>();
        services.AddHttpClient<PrometheusClient>((sp, client) =>
            {
                var o = sp.GetRequiredService<IOptions<PrometheusOptions>>().Value;
                client.Timeout = System.Threading.Timeout.InfiniteTimeSpan;
                client.MaxResponseContentBufferSize = MaxResponseBytes;
                client.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
                if (!string.IsNullOrEmpty(o.BearerToken))
                {
                    client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", o.BearerToken);
                }
                else if (!string.IsNullOrEmpty(o.Username))
                {
                    client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic",
                        Convert.ToBase64String(Encoding.UTF8.GetBytes($"{o.Username}:{o.Password}")));
                }
            })
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(2), AutomaticDecompression = DecompressionMethods.All });
        return services;
    }

    /// <summary>Names the key that is wrong, in the start-up failure.</summary>
    private sealed class Validation : IValidateOptions<PrometheusOptions>
    {
        public ValidateOptionsResult Validate(string? name, PrometheusOptions options) =>
            options.Problem() is { } problem ? ValidateOptionsResult.Fail(problem) : ValidateOptionsResult.Success;
    }
}
