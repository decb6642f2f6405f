using System.Globalization;
using System.Text.RegularExpressions;

namespace Snapstone.Grains.Metrics;

/// <summary>
/// The Prometheus-compatible HTTP API that metric gates (<c>gates.metrics</c>) query (section <c>Snapstone:Metrics:Prometheus</c>).
/// Any server that speaks Prometheus' <c>/api/v1/query</c> will do: Prometheus itself, Thanos Query, Mimir or Cortex behind
/// their Prometheus path, VictoriaMetrics.
/// </summary>
/// <example>
/// <code>
/// Snapstone__Metrics__Prometheus__Url=http://prometheus.monitoring:9090
/// Snapstone__Metrics__Prometheus__BearerToken=…            # or Username and Password, for basic auth
/// Snapstone__Metrics__Prometheus__TimeoutSeconds=5
/// Snapstone__Metrics__Prometheus__NodeLabel=node
/// </code>
/// </example>
public sealed partial class PrometheusOptions
{
    public const string Section = "Snapstone:Metrics:Prometheus";

    /// <summary>The API's base (the address <c>/api/v1/query</c> is under), e.g. <c>http://prometheus:9090</c> or <c>https://thanos.example/prometheus</c>. Empty: no metrics store, and plans with metric gates are refused.</summary>
    public string? Url { get; set; }

    /// <summary>Sent as <c>Authorization: Bearer …</c>.</summary>
    public string? BearerToken { get; set; }

    /// <summary>Basic auth, with <see cref="Password"/>; not with <see cref="BearerToken"/>.</summary>
    public string? Username { get; set; }

    public string? Password { get; set; }

    /// <summary>
    /// How long one query may take, end to end (connecting included), before its gate reads as timed out (inconclusive).
    /// A rollout's tick waits at most this long on its queries; Prometheus is told the same limit.
    /// </summary>
    public double TimeoutSeconds { get; set; } = 5;

    /// <summary>The label that names the node in every query's result (<c>sum by (node) (…)</c>).</summary>
    public string NodeLabel { get; set; } = "node";

    public const double MaxTimeoutSeconds = 60;

    public bool Configured => !string.IsNullOrWhiteSpace(Url);

    public TimeSpan Timeout => TimeSpan.FromSeconds(TimeoutSeconds);

    /// <summary>The base address with a trailing slash, so that <c>api/v1/query</c> resolves under any path prefix.</summary>
    public Uri? BaseAddress => Configured && Uri.TryCreate(Url!.TrimEnd('/') + "/", UriKind.Absolute, out var url) ? url : null;

    /// <summary>What is wrong with these settings, naming the key; null when nothing is.</summary>
    public string? Problem()
    {
        if (double.IsNaN(TimeoutSeconds) || TimeoutSeconds < 0.1 || TimeoutSeconds > MaxTimeoutSeconds)
        {
            return $"{Section}:TimeoutSeconds must be between 0.1 and {MaxTimeoutSeconds} (got {TimeoutSeconds.ToString(CultureInfo.InvariantCulture)})";
        }
        if (string.IsNullOrEmpty(NodeLabel) || !LabelName().IsMatch(NodeLabel))
        {
            return $"{Section}:NodeLabel must be a Prometheus label name matching {LabelName()} (got '{NodeLabel}')";
        }
        if (!Configured)
        {
            return BearerToken is { Length: > 0 } || Username is { Length: > 0 } ? $"{Section}:BearerToken or Username is set without {Section}:Url" : null;
        }
        if (BaseAddress is not { Scheme: "http" or "https" } url)
        {
            return $"{Section}:Url must be an absolute http or https URL such as http://prometheus:9090 (got '{Url}')";
        }
        if (!string.IsNullOrEmpty(url.UserInfo))
        {
            return $"{Section}:Url must not carry credentials: set {Section}:Username and Password instead";
        }
        if (!string.IsNullOrEmpty(BearerToken) && (!string.IsNullOrEmpty(Username) || !string.IsNullOrEmpty(Password)))
        {
            return $"{Section}: set BearerToken or Username and Password, not both";
        }
        if (string.IsNullOrEmpty(Username) != string.IsNullOrEmpty(Password))
        {
            return $"{Section}:Username and Password go together (basic auth)";
        }
        if (!string.IsNullOrEmpty(Username) && Username.Contains(':', StringComparison.Ordinal))
        {
            return $"{Section}:Username must not contain ':' (basic auth)";
        }
        return null;
    }

    [GeneratedRegex("^[a-zA-Z_][a-zA-Z0-9_]*$")]
    private static partial Regex LabelName();
}
