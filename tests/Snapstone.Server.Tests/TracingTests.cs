using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Snapstone.Testing;

namespace Snapstone.Server.Tests;

/// <summary>
/// With <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> set, the server sends traces and metrics over OTLP (HTTP, protobuf) to a
/// receiver in the test: a request's trace starts at the gateway and its grain calls are spans of the same trace,
/// each below the request's span.
/// </summary>
public sealed class TracingTests
{
    [Fact]
    public async Task A_request_s_trace_runs_from_the_gateway_through_the_grains_it_calls_and_metrics_go_over_otlp_too()
    {
        await using var receiver = OtlpReceiver.Start();
        await using var server = await ServerProcess.StartAsync(new Dictionary<string, string>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.Endpoint.ToString(),
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
            ["OTEL_BSP_SCHEDULE_DELAY"] = "200",
            ["OTEL_METRIC_EXPORT_INTERVAL"] = "1000",
        });
        var unit = TestStorage.Unique("unit");
        var (status, _) = await server.Client("ci").Put($"/v1/units/{unit}", Http.FeatureUnit());
        Assert.Equal(200, status);

        const string route = "PUT /v1/units/{unit}";
        var spans = await Eventually.Until(() => Task.FromResult(receiver.Spans.ToArray()),
            all => all.Any(s => s.Name == route && all.Any(g => g.TraceId.AsSpan().SequenceEqual(s.TraceId) && g.Name.Contains("IUnitGrain", StringComparison.Ordinal))),
            "the PUT's span and a unit grain call's span of its trace over OTLP", TimeSpan.FromSeconds(30));
        var request = spans.Single(s => s.Name == route);
        var trace = spans.Where(s => s.TraceId.AsSpan().SequenceEqual(request.TraceId)).ToArray();

        Assert.Equal("Microsoft.AspNetCore", request.Scope);
        Assert.Empty(request.ParentSpanId);
        var grainSpans = trace.Where(s => s.Scope.StartsWith("Microsoft.Orleans", StringComparison.Ordinal)).ToArray();
        Assert.Contains(grainSpans, s => s.Name.Contains("IUnitGrain", StringComparison.Ordinal));
        var byId = trace.ToDictionary(s => Convert.ToHexString(s.SpanId));
        foreach (var span in grainSpans)
        {
            // Up the parents, every grain span reaches the request's span.
            var at = span;
            for (var hops = 0; at.ParentSpanId.Length > 0 && hops < 50; hops++)
            {
                at = byId.TryGetValue(Convert.ToHexString(at.ParentSpanId), out var parent) ? parent
                    : throw new Xunit.Sdk.XunitException($"span '{span.Name}' has a parent outside the trace: {string.Join(", ", trace.Select(s => s.Name))}");
            }
            Assert.Same(request, at);
        }

        await Eventually.Until(() => Task.FromResult(receiver.MetricsBodies.Any(b => Contains(b, "snapstone.silo.ready")) && receiver.MetricsBodies.Any(b => Contains(b, "orleans-"))),
            ready => ready, "the Snapstone and Orleans meters over OTLP", TimeSpan.FromSeconds(30));
    }

    private static bool Contains(byte[] body, string text) => body.AsSpan().IndexOf(Encoding.UTF8.GetBytes(text)) >= 0;
}

/// <summary>One span as OTLP carries it: ids, name and the instrumentation scope that made it.</summary>
internal sealed record OtlpSpan(byte[] TraceId, byte[] SpanId, byte[] ParentSpanId, string Name, string Scope);

/// <summary>
/// An OTLP/HTTP receiver on a free loopback port: answers 200 to <c>/v1/traces</c>, <c>/v1/metrics</c> and
/// <c>/v1/logs</c>, and reads spans out of the protobuf bodies (the few fields a test asserts on, by field number).
/// </summary>
internal sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Task _loop;

    private OtlpReceiver(int port)
    {
        Endpoint = new Uri($"http://127.0.0.1:{port}/");
        _listener.Prefixes.Add(Endpoint.ToString());
        _listener.Start();
        _loop = Task.Run(ServeAsync);
    }

    public Uri Endpoint { get; }

    public ConcurrentBag<OtlpSpan> Spans { get; } = [];

    public ConcurrentBag<byte[]> MetricsBodies { get; } = [];

    public static OtlpReceiver Start()
    {
        return new OtlpReceiver(Ports.Free());
    }

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }
            using var body = new MemoryStream();
            await context.Request.InputStream.CopyToAsync(body);
            var bytes = body.ToArray();
            switch (context.Request.Url?.AbsolutePath)
            {
                case "/v1/traces":
                    foreach (var span in ReadSpans(bytes))
                    {
                        Spans.Add(span);
                    }
                    break;
                case "/v1/metrics":
                    MetricsBodies.Add(bytes);
                    break;
            }
            context.Response.StatusCode = 200;
            context.Response.ContentType = "application/x-protobuf";
            context.Response.Close();
        }
    }

    /// <summary>ExportTraceServiceRequest: 1 resource_spans → 2 scope_spans → (1 scope → 1 name; 2 spans → 1 trace_id, 2 span_id, 4 parent_span_id, 5 name).</summary>
    internal static IEnumerable<OtlpSpan> ReadSpans(byte[] request)
    {
        foreach (var resourceSpans in Fields(request).Where(f => f.Number == 1))
        {
            foreach (var scopeSpans in Fields(resourceSpans.Bytes).Where(f => f.Number == 2))
            {
                var fields = Fields(scopeSpans.Bytes).ToList();
                var scope = fields.Where(f => f.Number == 1).SelectMany(f => Fields(f.Bytes)).Where(f => f.Number == 1).Select(f => Encoding.UTF8.GetString(f.Bytes)).FirstOrDefault() ?? "";
                foreach (var span in fields.Where(f => f.Number == 2))
                {
                    var s = Fields(span.Bytes).ToList();
                    byte[] Bytes(int n) => s.Where(f => f.Number == n).Select(f => f.Bytes).FirstOrDefault() ?? [];
                    yield return new OtlpSpan(Bytes(1), Bytes(2), Bytes(4), Encoding.UTF8.GetString(Bytes(5)), scope);
                }
            }
        }
    }

    /// <summary>The protobuf wire format's fields: number and, for length-delimited ones, their bytes (others are skipped over).</summary>
    private static IEnumerable<(int Number, byte[] Bytes)> Fields(byte[] message)
    {
        var at = 0;
        while (at < message.Length)
        {
            var key = Varint(message, ref at);
            var number = (int)(key >> 3);
            switch (key & 7)
            {
                case 0:
                    Varint(message, ref at);
                    break;
                case 1:
                    at += 8;
                    break;
                case 2:
                    var length = (int)Varint(message, ref at);
                    yield return (number, message[at..(at + length)]);
                    at += length;
                    break;
                case 5:
                    at += 4;
                    break;
                default:
                    throw new InvalidDataException($"wire type {key & 7} at byte {at}");
            }
        }
    }

    private static ulong Varint(byte[] bytes, ref int at)
    {
        ulong value = 0;
        for (var shift = 0; ; shift += 7)
        {
            var b = bytes[at++];
            value |= (ulong)(b & 0x7f) << shift;
            if ((b & 0x80) == 0)
            {
                return value;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Stop();
        _listener.Close();
        await _loop;
    }
}
