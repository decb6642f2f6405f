using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Prometheus;

namespace Snapstone.Simulator.Exposition;

/// <summary>
/// Serves a fleet's <see cref="FleetMetrics"/> at <c>GET /metrics</c> on its own small Kestrel, for a Prometheus to
/// scrape. One endpoint carries every node, told apart by the <c>node</c> label, rather than one per PoP or per node:
/// a simulated fleet is one process, so one target scraped once per interval costs one request whatever the fleet's
/// size, and the <c>pop</c>, <c>region</c> and <c>tier</c> labels give every grouping a per-PoP endpoint would.
/// </summary>
public sealed class MetricsEndpoint : IAsyncDisposable
{
    private readonly WebApplication _app;

    private MetricsEndpoint(WebApplication app, Uri url)
    {
        _app = app;
        Url = url;
    }

    /// <summary>Where the exposition is, e.g. <c>http://127.0.0.1:9464/metrics</c>.</summary>
    public Uri Url { get; }

    /// <summary>Listens on <paramref name="endpoint"/> (port 0: a free one) and serves until disposed.</summary>
    public static async Task<MetricsEndpoint> StartAsync(FleetMetrics metrics, IPEndPoint endpoint, CancellationToken cancellationToken = default)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(endpoint));
        var app = builder.Build();
        app.MapMetrics("/metrics", metrics.Registry);
        await app.StartAsync(cancellationToken);
        var bound = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        var url = new UriBuilder(bound) { Path = "/metrics" }.Uri;
        return new MetricsEndpoint(app, url);
    }

    /// <summary>
    /// Reads <c>HOST:PORT</c> as given to <c>--metrics-listen</c>: <c>127.0.0.1:9464</c>, <c>0.0.0.0:9464</c>,
    /// <c>[::1]:0</c>, or a bare port for loopback. Null with a message when it is not one.
    /// </summary>
    public static IPEndPoint? ParseListen(string text, out string? error)
    {
        error = null;
        if (int.TryParse(text, out var bare) && bare is >= 0 and <= 65535)
        {
            return new IPEndPoint(IPAddress.Loopback, bare);
        }
        if (IPEndPoint.TryParse(text, out var endpoint) && text.Contains(':') && endpoint.Port is >= 0 and <= 65535 &&
            (endpoint.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork || text.StartsWith('[')))
        {
            return endpoint;
        }
        error = $"must be HOST:PORT with an IP address, like 127.0.0.1:9464 (port 0 picks a free one), or a port (got '{text}')";
        return null;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
