using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace Snapstone.Server.Tests;

/// <summary>
/// Stands in for Slack, Teams, PagerDuty and a webhook receiver: a real HTTP server on a free loopback port that
/// records every POST by its path (<c>/{channel}</c>) and answers as the vendor does (PagerDuty: 202), or never
/// answers at all for a channel named in <c>hang</c>.
/// </summary>
public sealed class NotificationReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly CancellationTokenSource _stopping = new();
    private readonly HashSet<string> _hang;

    public sealed record Received(string Channel, JsonNode Body, string Raw, string? Delivery, string? Event, string? Signature, string? ContentType, DateTimeOffset At,
        string? Timestamp = null, int Answered = 200);

    private NotificationReceiver(WebApplication app, IEnumerable<string> hang)
    {
        _app = app;
        _hang = [.. hang];
    }

    public string BaseUrl { get; private set; } = "";

    public ConcurrentQueue<Received> Requests { get; } = new();

    /// <summary>The status a channel answers with (200, or PagerDuty's 202, unless set here); a 3xx carries <c>Location: {BaseUrl}/landing</c>.</summary>
    public ConcurrentDictionary<string, int> Answers { get; } = new();

    /// <summary>The <c>Retry-After</c> seconds a channel's set answer carries.</summary>
    public ConcurrentDictionary<string, int> RetryAfter { get; } = new();

    /// <summary>What one channel received, every attempt, in order.</summary>
    public IReadOnlyList<Received> All(string channel) => [.. Requests.Where(r => r.Channel == channel).OrderBy(r => r.At)];

    /// <summary>How many requests a hanging channel is holding open right now, and how many it ever answered (none).</summary>
    public int Hanging;

    public string Url(string channel) => $"{BaseUrl}/{channel}";

    /// <summary>What one channel received, one entry per delivery (a retried delivery counts once: its last attempt).</summary>
    public IReadOnlyList<Received> On(string channel) =>
        [.. Requests.Where(r => r.Channel == channel).GroupBy(r => r.Delivery).Select(g => g.Last()).OrderBy(r => r.At)];

    public static async Task<NotificationReceiver> StartAsync(params string[] hang)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var self = new NotificationReceiver(app, hang);
        app.MapPost("/{channel}", async (string channel, HttpContext http) =>
        {
            using var reader = new StreamReader(http.Request.Body);
            var raw = await reader.ReadToEndAsync();
            var answer = self.Answers.TryGetValue(channel, out var set) ? set : channel.StartsWith("pd", StringComparison.Ordinal) ? 202 : 200;
            self.Requests.Enqueue(new Received(channel, JsonNode.Parse(raw)!, raw, http.Request.Headers["X-Snapstone-Delivery"], http.Request.Headers["X-Snapstone-Event"],
                http.Request.Headers["X-Snapstone-Signature"], http.Request.ContentType, DateTimeOffset.UtcNow, http.Request.Headers["X-Snapstone-Timestamp"], answer));
            if (self.Answers.ContainsKey(channel))
            {
                if (answer is >= 300 and < 400)
                {
                    http.Response.Headers.Location = self.Url("landing");
                }
                if (self.RetryAfter.TryGetValue(channel, out var seconds))
                {
                    http.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
                }
                return Results.StatusCode(answer);
            }
            if (self._hang.Contains(channel))
            {
                Interlocked.Increment(ref self.Hanging);
                try
                {
                    using var both = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, self._stopping.Token);
                    await Task.Delay(Timeout.Infinite, both.Token);
                }
                catch (OperationCanceledException)
                {
                }
                finally
                {
                    Interlocked.Decrement(ref self.Hanging);
                }
                return Results.StatusCode(503);
            }
            // PagerDuty's Events API answers 202 Accepted; Slack and Teams workflows answer 200 or 202.
            return channel.StartsWith("pd", StringComparison.Ordinal)
                ? Results.Json(new { status = "success", message = "Event processed" }, statusCode: 202)
                : Results.Ok();
        });
        await app.StartAsync();
        self.BaseUrl = app.Urls.First();
        return self;
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        await _app.DisposeAsync();
        _stopping.Dispose();
    }
}
