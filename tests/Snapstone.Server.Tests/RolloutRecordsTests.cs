using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Azure.Data.Tables;
using Snapstone.Simulator.Consumers;
using Snapstone.Testing;
using Xunit.Abstractions;

namespace Snapstone.Server.Tests;

/// <summary>
/// A rollout's records outside its state row, over HTTP against the real server and its Azurite: the whole timeline
/// in its own table (the row keeps a tail), and the evidence of its verdicts judged again under other gates.
/// </summary>
public sealed class RolloutRecordsTests(ITestOutputHelper output)
{
    /// <summary>A reason of exactly the longest allowed: 666 three-byte "€" and two bytes of ASCII, 2,000 bytes of UTF-8.</summary>
    private static string LongestReason(string tag) => tag + new string('€', (2000 - tag.Length) / 3) + new string('x', (2000 - tag.Length) % 3);

    [Fact]
    public async Task Six_hundred_pauses_and_resumes_with_the_longest_reasons_leave_the_state_row_small_and_read_back_whole_in_order()
    {
        await using var scenario = await RolloutScenario.StartAsync(FailureMode.FailStale, nodes: 8);
        var first = await scenario.PublishAsync(Http.Features(151));
        var id = await scenario.StartRolloutAsync(first);
        Assert.Equal(2000, Encoding.UTF8.GetByteCount(LongestReason("hold 1")));
        var before = (int)(await scenario.RolloutAsync(id))["timelineTotal"]!;
        const int Cycles = 305;
        for (var i = 0; i < Cycles; i++)
        {
            var (paused, pause) = await scenario.Ci.Post($"/v1/rollouts/{id}/pause", new { reason = LongestReason($"hold {i} ") });
            Assert.True(paused == 200, pause.ToJsonString());
            var (resumed, resume) = await scenario.Ci.Post($"/v1/rollouts/{id}/resume", new { reason = LongestReason($"go {i} ") });
            Assert.True(resumed == 200, resume.ToJsonString());
        }

        // GET keeps its shape: the timeline is the newest 50, and the new fields say how many there are and where the rest is.
        var rollout = await scenario.RolloutAsync(id);
        var total = (int)rollout["timelineTotal"]!;
        Assert.True(total >= before + 2 * Cycles, $"{total} entries after {2 * Cycles} commands");
        Assert.Equal(50, rollout["timeline"]!.AsArray().Count);
        Assert.Equal(total - 50, (int)rollout["timelineFirst"]!);
        Assert.Equal($"/v1/rollouts/{id}/timeline", (string?)rollout["timelineHistory"]);

        // The rollout's row in the grain table, as Azurite holds it: a tail of 50 entries, not 600 of 2 KB each.
        var bytes = await RowBytesAsync(scenario.Server.ServiceId, id);
        output.WriteLine($"rollout {id}: {total} timeline entries, state row {bytes / 1024.0:F1} KiB");
        Assert.InRange(bytes, 50 * 2000, 256 * 1024);

        // Every entry, in order, page by page, with each reason whole.
        var entries = new List<JsonNode>();
        string? next = $"/v1/rollouts/{id}/timeline?limit=97";
        var pages = 0;
        while (next is not null)
        {
            var (status, page) = await scenario.Ci.Get(next);
            Assert.True(status == 200, page.ToJsonString());
            Assert.Equal(total, (int)page["total"]!);
            entries.AddRange(page["entries"]!.AsArray().Select(e => e!));
            next = (string?)page["next"];
            pages++;
        }
        Assert.Equal((total + 96) / 97, pages);
        Assert.Equal(Enumerable.Range(0, total), entries.Select(e => (int)e["n"]!));
        Assert.Equal("created", (string?)entries[0]["type"]);
        var commands = entries.Where(e => (string?)e["type"] is "paused" or "resumed").Select(e => (string)e["message"]!).ToList();
        Assert.Equal(2 * Cycles, commands.Count);
        for (var i = 0; i < Cycles; i++)
        {
            Assert.Equal($"paused by ci: {LongestReason($"hold {i} ")}", commands[2 * i]);
            Assert.Equal($"resumed by ci: {LongestReason($"go {i} ")}", commands[2 * i + 1]);
        }
        // The tail GET shows is the journal's end.
        Assert.Equal(entries.TakeLast(50).Select(e => (string?)e["message"]), rollout["timeline"]!.AsArray().Select(e => (string?)e!["message"]));
        var (afterStatus, tail) = await scenario.Ci.Get($"/v1/rollouts/{id}/timeline?after={total - 3}");
        Assert.Equal(200, afterStatus);
        Assert.Equal([total - 2, total - 1], tail["entries"]!.AsArray().Select(e => (int)e!["n"]!));
        Assert.Null(tail["next"]);

        // The page size is capped, and each refusal names its field.
        var (tooMany, problem) = await scenario.Ci.Get($"/v1/rollouts/{id}/timeline?limit=501");
        Assert.Equal(400, tooMany);
        Assert.Contains("limit must be between 1 and 500 (got 501)", (string?)problem["detail"]);
        var (negative, refused) = await scenario.Ci.Get($"/v1/rollouts/{id}/timeline?after=-1");
        Assert.Equal(400, negative);
        Assert.Contains("after must be 0 or more", (string?)refused["detail"]);

        // The unit is not blocked: the rollout aborts, and the next one runs to the end.
        Assert.Equal(200, (await scenario.Ci.Post($"/v1/rollouts/{id}/abort", new { reason = LongestReason("done ") })).Status);
        await scenario.TickUntilState(id, "aborted");
        var second = await scenario.PublishAsync(Http.Features(152));
        var next2 = await scenario.StartRolloutAsync(second);
        var done = await scenario.TickUntilState(next2, "completed", "rolled-back", "paused");
        Assert.True((string?)done["state"] == "completed", done.ToJsonString());
    }

    [Fact]
    public async Task Re_judging_finished_rollouts_gives_their_verdicts_with_their_gates_an_earlier_halt_with_stricter_ones_and_a_pass_with_laxer_ones()
    {
        await using var scenario = await RolloutScenario.StartAsync(FailureMode.FailStale, nodes: 40, reading: new LatencyConsumer());
        var ownPlan = JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(RolloutScenario.FastPlan, SnapstoneJson.Options))!;

        // A change that changes nothing walks every wave; judged again with its own plan it gets the same verdicts.
        var good = await scenario.PublishAsync(Slower(0));
        var goodId = await scenario.StartRolloutAsync(good);
        var completed = await scenario.TickUntilState(goodId, "completed", "rolled-back", "paused");
        Assert.True((string?)completed["state"] == "completed", completed.ToJsonString());
        var same = await JudgeAsync(scenario, goodId, new JsonObject { ["plan"] = ownPlan.DeepClone() });
        Assert.Equal(3, same.Count);
        for (var k = 0; k < 3; k++)
        {
            Assert.Equal((string?)completed["waves"]![k]!["verdict"]!["result"], (string?)same[k]["verdict"]!["result"]);
            Assert.Equal(Reasons(completed["waves"]![k]!["verdict"]!), Reasons(same[k]["verdict"]!));
            Assert.Equal(Reasons(same[k]["recorded"]!), Reasons(same[k]["verdict"]!));
            Assert.Equal("advance", (string?)same[k]["action"]);
            Assert.NotNull(same[k]["evidenceAt"]);
        }

        // A change that makes every request 60 ms slower fails its canary on latency and rolls back.
        var slow = await scenario.PublishAsync(Slower(60));
        var slowId = await scenario.StartRolloutAsync(slow);
        var rolledBack = await scenario.TickUntilState(slowId, "rolled-back", "completed", "paused");
        Assert.True((string?)rolledBack["state"] == "rolled-back", rolledBack.ToJsonString());
        var failed = rolledBack["waves"]![0]!["verdict"]!;
        Assert.Equal("unhealthy", (string?)failed["result"]);

        var own = await JudgeAsync(scenario, slowId, new JsonObject { ["plan"] = ownPlan.DeepClone() });
        Assert.Equal("unhealthy", (string?)own[0]["verdict"]!["result"]);
        Assert.Equal(Reasons(failed), Reasons(own[0]["verdict"]!));
        Assert.Equal("rollback", (string?)own[0]["action"]);
        var recordedAt = DateTimeOffset.Parse((string)own[0]["recorded"]!["decidedAt"]!, CultureInfo.InvariantCulture);
        Assert.Equal(recordedAt, DateTimeOffset.Parse((string)own[0]["verdict"]!["decidedAt"]!, CultureInfo.InvariantCulture));
        Assert.Equal(recordedAt, DateTimeOffset.Parse((string)own[0]["haltAt"]!, CultureInfo.InvariantCulture));
        Assert.All(own.Skip(1), w => Assert.Null(w["verdict"]));

        // Stricter latency gates halt it in the same wave, decided earlier in the same evidence.
        var strict = await JudgeAsync(scenario, slowId, new JsonObject { ["gates"] = new JsonObject { ["maxP99LatencyRatio"] = 1.1 } });
        Assert.Equal("unhealthy", (string?)strict[0]["verdict"]!["result"]);
        Assert.Equal("rollback", (string?)strict[0]["action"]);
        var strictAt = DateTimeOffset.Parse((string)strict[0]["verdict"]!["decidedAt"]!, CultureInfo.InvariantCulture);
        output.WriteLine($"slow change: recorded halt decided at {recordedAt:O}, with maxP99LatencyRatio 1.1 at {strictAt:O}");
        Assert.True(strictAt < recordedAt, $"the stricter gates decided at {strictAt:O}, the recorded verdict at {recordedAt:O}");

        // Laxer ones pass the recorded failure, and the replay goes on to a wave with no recorded evidence.
        var lax = await JudgeAsync(scenario, slowId, new JsonObject { ["gates"] = new JsonObject { ["maxP99LatencyRatio"] = 10.0 } });
        Assert.True((string?)lax[0]["verdict"]!["result"] == "healthy", lax[0].ToJsonString());
        Assert.Equal("advance", (string?)lax[0]["action"]);
        Assert.Equal("unhealthy", (string?)lax[0]["recorded"]!["result"]);
        Assert.Null(lax[1]["verdict"]);

        // The evidence itself, cohort beside control, for a chart: the acted-on look shows the cohort slower.
        var (read, evidence) = await scenario.Ci.Get($"/v1/rollouts/{slowId}/evidence?wave=0");
        Assert.Equal(200, read);
        var looks = evidence["looks"]!.AsArray();
        Assert.NotEmpty(looks);
        Assert.All(looks, l => Assert.Equal(0, (int)l!["wave"]!));
        output.WriteLine(string.Join(" || ", looks.Select(l => $"{l!["kind"]} {l["at"]} {l["verdict"]!["result"]}")));
        // Acted on: every look the status took a verdict from (an inconclusive one noted at the end of the bake, say);
        // the last is the one that failed the wave.
        var acted = looks.Last(l => (string?)l!["kind"] == "acted")!;
        Assert.Equal("unhealthy", (string?)acted["verdict"]!["result"]);
        Assert.Equal("canary", (string?)acted["name"]);
        Assert.Equal(Reasons(failed), Reasons(acted["verdict"]!));
        Assert.True((double)acted["cohort"]!["p99LatencyMs"]! > (double)acted["control"]!["p99LatencyMs"]! + 40, acted["cohort"]!.ToJsonString() + acted["control"]!.ToJsonString());
        Assert.NotEmpty(acted["slots"]!.AsArray());
        Assert.Equal((int)acted["cohort"]!["nodes"]! + (int)acted["control"]!["nodes"]!, acted["nodes"]!.AsArray().Count);

        // The same through the CLI: JSON as the gateway answers it, a table for people, and a usage error without a file.
        var files = Directory.CreateTempSubdirectory("snapstone-judge-");
        try
        {
            var gatesFile = Path.Combine(files.FullName, "lax.json");
            await File.WriteAllTextAsync(gatesFile, """{ "maxP99LatencyRatio": 10.0 }""");
            var planFile = Path.Combine(files.FullName, "plan.json");
            await File.WriteAllTextAsync(planFile, ownPlan.ToJsonString());
            string[] connect = ["--server", scenario.Server.BaseAddress.ToString(), "--token", ServerProcess.Tokens["reader"].Token];
            var json = await CliRun.Of(null, [.. connect, "rollout", "judge", slowId, "--gates-file", gatesFile, "--output", "json"]);
            Assert.True(json.Code == 0, json.ToString());
            Assert.Equal("healthy", (string?)json.Json()["waves"]![0]!["verdict"]!["result"]);
            Assert.Equal("unhealthy", (string?)json.Json()["waves"]![0]!["recorded"]!["result"]);
            var text = await CliRun.Of(null, [.. connect, "rollout", "judge", slowId, "--plan-file", planFile]);
            Assert.True(text.Code == 0, text.ToString());
            Assert.Contains("re-judged with the given plan", text.Output);
            Assert.Matches(@"canary\s*│\s*unhealthy\s*│\s*rollback", text.Output);
            Assert.Contains("not reached", text.Output);
            var neither = await CliRun.Of(null, [.. connect, "rollout", "judge", slowId]);
            Assert.Equal(2, neither.Code);
            Assert.Contains("exactly one of --plan-file and --gates-file", neither.Errors + neither.Output);
        }
        finally
        {
            files.Delete(recursive: true);
        }

        // Bad requests name what is wrong; an unknown rollout is 404.
        var (both, bothProblem) = await scenario.Ci.Post($"/v1/rollouts/{slowId}/judge", new JsonObject { ["plan"] = ownPlan.DeepClone(), ["gates"] = new JsonObject() });
        Assert.Equal(400, both);
        Assert.Contains("exactly one of plan", (string?)bothProblem["detail"]);
        var (badGate, gateProblem) = await scenario.Ci.Post($"/v1/rollouts/{slowId}/judge", new JsonObject { ["gates"] = new JsonObject { ["maxErrorRate"] = 2.0 } });
        Assert.Equal(400, badGate);
        Assert.Contains("gates.maxErrorRate must be between 0 and 1", (string?)gateProblem["detail"]);
        var (badPlan, planProblem) = await scenario.Ci.Post($"/v1/rollouts/{slowId}/judge", new JsonObject { ["plan"] = new JsonObject { ["waves"] = new JsonArray() } });
        Assert.Equal(400, badPlan);
        Assert.Contains("plan.waves must hold at least one wave", (string?)planProblem["detail"]);
        var (missing, _) = await scenario.Ci.Post("/v1/rollouts/r-0000000000000000/judge", new JsonObject { ["gates"] = new JsonObject() });
        Assert.Equal(404, missing);
        var (badWave, waveProblem) = await scenario.Ci.Get($"/v1/rollouts/{slowId}/evidence?wave=20");
        Assert.Equal(400, badWave);
        Assert.Contains("wave must be between 0 and 19", (string?)waveProblem["detail"]);
    }

    private static async Task<List<JsonNode>> JudgeAsync(RolloutScenario scenario, string id, JsonObject body)
    {
        var (status, answer) = await scenario.Server.Client("reader").Post($"/v1/rollouts/{id}/judge", body);
        Assert.True(status == 200, answer.ToJsonString());
        Assert.Equal(id, (string?)answer["rollout"]);
        return [.. answer["waves"]!.AsArray().Select(w => w!)];
    }

    /// <summary>A feature file like the scenario's first one that makes every request <paramref name="ms"/> slower (<see cref="LatencyConsumer"/>).</summary>
    private static string Slower(int ms) =>
        System.Text.Json.JsonSerializer.Serialize(new { features = Enumerable.Range(0, 150).Select(i => $"f{i}").ToArray(), extraLatencyMs = ms });

    private static List<string?> Reasons(JsonNode verdict) => [.. verdict["reasons"]!.AsArray().Select(r => (string?)r)];

    /// <summary>The bytes of the rollout's row in the grain table: every property's value, as stored.</summary>
    private static async Task<long> RowBytesAsync(string service, string id)
    {
        var table = new TableClient(await TestStorage.ConnectionStringAsync(), "SnapstoneGrains");
        var row = await Eventually.Until(async () =>
        {
            await foreach (var r in table.QueryAsync<TableEntity>(e => e.PartitionKey.CompareTo(service) >= 0 && e.PartitionKey.CompareTo(service + "~") < 0))
            {
                if (r.PartitionKey.Contains(id, StringComparison.Ordinal) || r.RowKey.Contains(id, StringComparison.Ordinal))
                {
                    return r;
                }
            }
            return null;
        }, r => r is not null, $"rollout {id}'s state row in the grain table");
        return row!.Sum(p => p.Value switch
        {
            byte[] data => data.LongLength,
            BinaryData data => data.ToMemory().Length,
            string text => Encoding.UTF8.GetByteCount(text),
            _ => 8L,
        });
    }
}
