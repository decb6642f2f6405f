using System.Globalization;
using System.Net;
using System.Text;
using Snapstone.Simulator.Consumers;
using Snapstone.Testing;

namespace Snapstone.Server.Tests;

/// <summary>
/// Limits enforced where the bytes arrive: a batch past its cap is refused while it is read, numbers that are not
/// finite are 400, and a rollout's event stream keeps going (heartbeats, entries past the state row's tail, a final
/// event) within a per-token limit on open streams.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class GatewayLimitsTests(ServerFixture fixture)
{
    [Theory]
    [InlineData("NaN")]
    [InlineData("Infinity")]
    [InlineData("-Infinity")]
    [InlineData("1e309")]
    [InlineData("-1")]
    [InlineData("26")]
    public async Task A_wait_that_is_not_a_number_of_seconds_from_0_to_25_is_400_naming_it(string wait)
    {
        var (status, problem) = await fixture.Server.Client("agent").Get($"/v1/nodes/limits-node/desired?waitSeconds={Uri.EscapeDataString(wait)}");
        Assert.Equal(400, status);
        Assert.Contains("waitSeconds must be between 0 and 25", (string?)problem["detail"]);
    }

    [Fact]
    public async Task A_batch_past_5000_reports_is_refused_at_the_first_report_past_it_without_reading_the_rest()
    {
        // The shared server reads bodies up to 1 MiB: 200,000 empty reports fit in it, 40 times the cap.
        var body = new StringBuilder("{\"reports\":[");
        for (var i = 0; i < 200_000; i++)
        {
            body.Append(i == 0 ? "{}" : ",{}");
        }
        body.Append("]}");
        Assert.True(body.Length < ServerFixture.MaxRequestBytes);

        var (status, problem) = await fixture.Server.Client("agent").Post("/v1/reports", Http.Json(body.ToString()));

        Assert.Equal(400, status);
        Assert.Contains("reports may hold at most 5000 items", (string?)problem["detail"]);
        Assert.Contains("refused at item 5001", (string?)problem["detail"]);
    }

    [Fact]
    public async Task A_batch_of_5000_reports_is_read_and_answered_slot_by_slot()
    {
        var reports = string.Join(",", Enumerable.Range(0, 5000).Select(i => "{}"));
        using var response = await fixture.Server.Client("agent").PostAsync("/v1/reports", Http.Json($"{{\"reports\":[{reports}]}}"));
        var answer = await response.ReadJson();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(5000, answer["results"]!.AsArray().Count);
    }

    [Fact]
    public async Task A_16_MiB_batch_is_refused_without_the_server_allocating_it()
    {
        await using var server = await ServerProcess.StartAsync();
        var admin = server.Client();
        // 5.59 million empty reports: just under the default 16 MiB body limit.
        var body = Encoding.UTF8.GetBytes("{\"reports\":[" + string.Join(",", Enumerable.Repeat("{}", 5_590_000)) + "]}");
        Assert.InRange(body.Length, 16_000_000, 16 * 1024 * 1024);

        var before = await AllocatedBytesAsync(admin);
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new("application/json");
        using var response = await server.Client("agent").PostAsync("/v1/reports", content);
        var after = await AllocatedBytesAsync(admin);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("reports may hold at most 5000 items", await response.Content.ReadAsStringAsync());
        // Read whole, the body alone is 16 MiB and its 5.6 million reports several hundred more; refused at the 5001st
        // report the request costs a buffer of a few kilobytes. The margin absorbs what the idle server allocates meanwhile.
        var allocated = after - before;
        Console.WriteLine($"allocated while refusing a 16 MiB batch: {allocated / 1024.0 / 1024:F1} MiB");
        Assert.True(allocated < 12 * 1024 * 1024, $"the server allocated {allocated / 1024.0 / 1024:F1} MiB while refusing the batch");
    }

    [Fact]
    public async Task An_event_stream_sends_every_entry_past_the_state_rows_tail_heartbeats_while_quiet_and_a_final_event()
    {
        await using var scenario = await RolloutScenario.StartAsync(FailureMode.FailStale, nodes: 8, settings: new Dictionary<string, string>
        {
            ["Snapstone__Gateway__StreamHeartbeatSeconds"] = "1",
            ["Snapstone__Gateway__MaxStreamsPerToken"] = "2",
        });
        var good = await scenario.PublishAsync(Http.Features(151));
        var id = await scenario.StartRolloutAsync(good);
        Assert.Equal(200, (await scenario.Ci.Post($"/v1/rollouts/{id}/pause", new { reason = "hold" })).Status);
        for (var i = 0; i < 260; i++)
        {
            Assert.Equal(200, (await scenario.Ci.Post($"/v1/rollouts/{id}/resume", new { reason = $"go {i}" })).Status);
            Assert.Equal(200, (await scenario.Ci.Post($"/v1/rollouts/{id}/pause", new { reason = $"hold {i}" })).Status);
        }
        var rollout = await scenario.RolloutAsync(id);
        Assert.Equal(50, rollout["timeline"]!.AsArray().Count);
        var total = (int)rollout["timelineTotal"]!;
        Assert.True(total > 520, $"{total} entries");

        // The state row keeps the newest 50; the stream sends every entry from the first, the older ones from the journal.
        using var stream = await EventStream.OpenAsync(scenario.Ci, $"/v1/rollouts/{id}/events");
        var kept = await stream.ReadUntilAsync(e => e.Type == "heartbeat", "a heartbeat after every entry so far");
        var entries = kept.Where(e => e.Type != "heartbeat").ToList();
        var ids = entries.Select(e => int.Parse(e.Id!, CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(Enumerable.Range(0, total), ids);
        Assert.Equal("created", entries[0].Type);

        // A new entry past the 500 arrives at once, numbered after the last one.
        Assert.Equal(200, (await scenario.Ci.Post($"/v1/rollouts/{id}/resume", new { reason = "once more" })).Status);
        var resumed = await stream.ReadUntilAsync(e => e.Type == "resumed", "the resume past 500 entries");
        Assert.Equal((ids[^1] + 1).ToString(CultureInfo.InvariantCulture), resumed[^1].Id);

        // A second stream from the same token is fine, a third is refused, and closing one frees its place.
        using (var second = await EventStream.OpenAsync(scenario.Ci, $"/v1/rollouts/{id}/events"))
        {
            using var third = await scenario.Ci.GetAsync($"/v1/rollouts/{id}/events", HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.TooManyRequests, third.StatusCode);
            Assert.Contains("MaxStreamsPerToken", await third.Content.ReadAsStringAsync());
            using var other = await scenario.Server.Client("reader").GetAsync($"/v1/rollouts/{id}/events", HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.OK, other.StatusCode);
        }
        // A client that reconnects with Last-Event-ID (once the closed stream's place is free) gets what came after it.
        using (var resumedStream = await Eventually.Until(
            () => EventStream.TryOpenAsync(scenario.Ci, $"/v1/rollouts/{id}/events", lastEventId: ids[^1]), s => s is not null,
            "the closed stream's place to be free again"))
        {
            var after = await resumedStream!.ReadUntilAsync(e => e.Type == "heartbeat", "a heartbeat after the entries past Last-Event-ID");
            Assert.Equal("resumed", after[0].Type);
            Assert.Equal((ids[^1] + 1).ToString(CultureInfo.InvariantCulture), after[0].Id);
        }

        Assert.Equal(200, (await scenario.Ci.Post($"/v1/rollouts/{id}/abort", new { reason = "done watching" })).Status);
        var ending = await stream.ReadUntilAsync(e => e.Type == "end", "the final event");
        Assert.Contains(ending, e => e.Type == "aborted");
        Assert.Contains("\"state\":\"aborted\"", ending[^1].Data);
        Assert.Null(await stream.ReadLineAsync());
    }

    private static async Task<double> AllocatedBytesAsync(HttpClient admin)
    {
        var text = await admin.GetStringAsync("/metrics");
        var line = text.Split('\n').FirstOrDefault(l => l.StartsWith("dotnet_gc_heap_total_allocated_bytes", StringComparison.Ordinal))
            ?? throw new InvalidOperationException("/metrics has no dotnet_gc_heap_total_allocated_bytes series");
        return double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
    }

    /// <summary>A text/event-stream read event by event (type, id, data), each read bounded in time.</summary>
    private sealed class EventStream(HttpResponseMessage response, StreamReader reader) : IDisposable
    {
        public sealed record Event(string Type, string? Id, string Data);

        public static async Task<EventStream> OpenAsync(HttpClient client, string path, int? lastEventId = null) =>
            await TryOpenAsync(client, path, lastEventId) ?? throw new InvalidOperationException($"{path} answered 429: too many open streams");

        /// <summary>The stream, or null while the token holds as many streams as it may (429).</summary>
        public static async Task<EventStream?> TryOpenAsync(HttpClient client, string path, int? lastEventId = null)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            if (lastEventId is { } last)
            {
                request.Headers.Add("Last-Event-ID", last.ToString(CultureInfo.InvariantCulture));
            }
            var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                response.Dispose();
                return null;
            }
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
            return new EventStream(response, new StreamReader(await response.Content.ReadAsStreamAsync()));
        }

        public Task<string?> ReadLineAsync() => reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));

        /// <summary>Events up to and including the first that <paramref name="last"/> accepts.</summary>
        public async Task<List<Event>> ReadUntilAsync(Func<Event, bool> last, string what)
        {
            var events = new List<Event>();
            string type = "message", data = "";
            string? id = null;
            while (true)
            {
                var line = await ReadLineAsync() ?? throw new InvalidOperationException($"the stream ended before {what}");
                if (line.Length == 0)
                {
                    var e = new Event(type, id, data);
                    events.Add(e);
                    if (last(e))
                    {
                        return events;
                    }
                    (type, id, data) = ("message", null, "");
                }
                else if (line.StartsWith("event: ", StringComparison.Ordinal))
                {
                    type = line["event: ".Length..];
                }
                else if (line.StartsWith("id: ", StringComparison.Ordinal))
                {
                    id = line["id: ".Length..];
                }
                else if (line.StartsWith("data: ", StringComparison.Ordinal))
                {
                    data += line["data: ".Length..];
                }
            }
        }

        public void Dispose()
        {
            reader.Dispose();
            response.Dispose();
        }
    }
}
