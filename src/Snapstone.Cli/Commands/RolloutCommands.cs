using System.CommandLine;
using System.Text.Json.Nodes;
using Spectre.Console;

namespace Snapstone.Cli.Commands;

/// <summary>
/// <c>snapstone rollout start|get|list|watch|approve|pause|resume|abort|judge</c> over <c>/v1/rollouts</c>.
/// <c>start --wait</c> and <c>watch</c> follow the rollout (<see cref="RolloutWatch"/>) and exit with its outcome.
/// </summary>
public static class RolloutCommands
{
    /// <summary>How long <c>--wait</c> and <c>watch</c> wait unless told: past a standard plan's bakes, short of a forgotten job.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromHours(1);

    /// <summary>A rollout's states, as API.md names them.</summary>
    public static readonly string[] States = ["pending", "awaiting-approval", "running", "paused", "rolling-back", "rolled-back", "completed", "aborted"];

    public static Command Build(CommandContext c)
    {
        var rollout = new Command("rollout", "roll a package out in waves, watch it, act on it")
        {
            Start(c), Get(c), List(c), Watch(c),
            Act(c, "approve", "approve the wave waiting for a second person (never one's own rollout)", "approved"),
            Act(c, "pause", "stop a rollout where it is; nodes keep what they run", "paused"),
            Act(c, "resume", "move a paused rollout again", "resumed"),
            Act(c, "abort", "stop a rollout and send every touched node back", "aborted"),
            Judge(c),
        };
        return rollout;
    }

    private static Command Start(CommandContext c)
    {
        var unit = Arguments.Name("unit", "the unit");
        var version = Arguments.Version(description: "the package version to roll out");
        var reason = Arguments.Reason(required: true);
        var plan = new Option<string?>("--plan", "-p") { Description = "the plan (default: the unit's; high-risk changes never get a laxer plan than high-risk)", HelpName = "plan" };
        var key = new Option<string?>("--idempotency-key") { Description = "a key a retried CI step sends again, so it gets the same rollout instead of a second one", HelpName = "key" };
        var wait = new Option<bool>("--wait", "-w") { Description = "follow the rollout and exit with its outcome: 0 completed, 10 rolled back, 11 paused, 12 aborted, 13 timed out" };
        var timeout = Arguments.Timeout(DefaultTimeout);
        var command = new Command("start", "start a rollout of one package version; a refusal (conflict, freeze, quarantine) exits 3")
        {
            unit, version, reason, plan, key, wait, timeout,
        };
        c.Run(command, async (s, p, ct) =>
        {
            var body = new JsonObject { ["unit"] = p.GetRequiredValue(unit), ["version"] = p.GetValue(version), ["reason"] = p.GetRequiredValue(reason) };
            if (p.GetValue(plan) is { } named)
            {
                body["plan"] = named;
            }
            var headers = p.GetValue(key) is { } k ? new Dictionary<string, string> { ["Idempotency-Key"] = k } : null;
            var answer = await s.Gateway.SendAsync(HttpMethod.Post, "/v1/rollouts", body, ct, headers: headers);
            var started = answer.Body;
            var replayed = answer.Headers.TryGetValues("Idempotent-Replayed", out var values) && values.Contains("true");
            if (!p.GetValue(wait))
            {
                return s.Emit(started, o =>
                {
                    o.WriteLine(StartedLine(started, replayed));
                    o.WriteLine($"follow it: snapstone rollout watch {started.Str("id")}");
                });
            }
            s.Progress(StartedLine(started, replayed));
            return await FollowAsync(s, started.Str("id")!, p.GetValue(timeout), ct);
        });
        return command;
    }

    private static string StartedLine(JsonNode r, bool replayed) =>
        $"rollout {r.Str("id")} {(replayed ? "already started with this idempotency key" : "started")}: {r.Str("unit")} v{r.Long("version")} on plan {r.Str("plan")} ({r.Str("state")})" +
        (r.Strings("notes").ToList() is { Count: > 0 } notes ? $"; {string.Join("; ", notes)}" : "");

    /// <summary>Follows a rollout to its end and prints it: the outcome's exit code, the final rollout with <c>--output json</c>.</summary>
    public static async Task<int> FollowAsync(Session s, string id, TimeSpan timeout, CancellationToken ct)
    {
        var (final, code) = await new RolloutWatch(s).FollowAsync(id, timeout, ct);
        return s.Emit(final, o =>
        {
            o.WriteLine();
            RolloutView.Render(o, final, timeline: 0);
            var outcome = RolloutView.Outcome(final, code, timeout);
            o.MarkupLine(code == ExitCodes.Ok ? $"[green]{Markup.Escape(outcome)}[/]" : $"[red]{Markup.Escape(outcome)}[/]");
        }, code);
    }

    private static Command Get(CommandContext c)
    {
        var id = Arguments.Name("id", "the rollout's id");
        var all = new Option<bool>("--timeline") { Description = "show the whole timeline, not only its newest 10 entries" };
        var command = new Command("get", "a rollout: its waves with counts, verdicts with every reason, rollback and timeline") { id, all };
        c.Run(command, async (s, p, ct) =>
        {
            var path = $"/v1/rollouts/{Arguments.Segment(p.GetRequiredValue(id))}";
            var rollout = await s.Gateway.GetAsync(path, ct);
            if (p.GetValue(all))
            {
                // The rollout carries its newest entries; the whole timeline is read page by page.
                var entries = new JsonArray();
                for (string? next = $"{path}/timeline?limit=500"; next is not null;)
                {
                    var page = await s.Gateway.GetAsync(next, ct);
                    foreach (var entry in page.Items("entries"))
                    {
                        entries.Add(entry.DeepClone());
                    }
                    next = page.Str("next");
                }
                rollout["timeline"] = entries;
            }
            return s.Emit(rollout, o => RolloutView.Render(o, rollout, p.GetValue(all) ? null : 10));
        });
        return command;
    }

    private static Command List(CommandContext c)
    {
        var unit = new Option<string?>("--unit", "-u") { Description = "only this unit's rollouts", HelpName = "unit" };
        var state = new Option<string?>("--state") { Description = $"only rollouts in this state: {string.Join(", ", States)}", HelpName = "state" }
            .AcceptOnlyFromAmong(States);
        var limit = new Option<int?>("--limit") { Description = "at most this many, newest first (server default 100)", HelpName = "n" };
        var command = new Command("list", "rollouts, newest first") { unit, state, limit };
        c.Run(command, async (s, p, ct) =>
        {
            var query = new List<string>();
            if (p.GetValue(unit) is { } u) query.Add($"unit={Uri.EscapeDataString(u)}");
            if (p.GetValue(state) is { } st) query.Add($"state={Uri.EscapeDataString(st)}");
            if (p.GetValue(limit) is { } l) query.Add($"limit={l}");
            var list = await s.Gateway.GetAsync("/v1/rollouts" + (query.Count > 0 ? "?" + string.Join('&', query) : ""), ct);
            return s.Emit(list, o =>
            {
                var rollouts = list.Items("rollouts").ToList();
                if (rollouts.Count == 0)
                {
                    o.WriteLine("no rollouts");
                    return;
                }
                var table = new Table().AddColumns("ID", "UNIT", "VERSION", "STATE", "PLAN", "BY", "CREATED", "FINISHED");
                foreach (var r in rollouts)
                {
                    table.AddRow(Cells.Of(r.Str("id"), r.Str("unit"), Versions.Of(r.Long("version")), r.Str("state"), r.Str("plan"), r.Str("createdBy"),
                        Json.When(r.Str("createdAt")), r.Str("finishedAt") is { } f ? Json.When(f) : null));
                }
                o.Write(table);
            });
        });
        return command;
    }

    private static Command Watch(CommandContext c)
    {
        var id = Arguments.Name("id", "the rollout's id");
        var timeout = Arguments.Timeout(DefaultTimeout);
        var command = new Command("watch", "follow a rollout live until it ends or pauses; exits like 'start --wait'") { id, timeout };
        c.Run(command, (s, p, ct) => FollowAsync(s, p.GetRequiredValue(id), p.GetValue(timeout), ct));
        return command;
    }

    private static Command Act(CommandContext c, string action, string description, string done)
    {
        var id = Arguments.Name("id", "the rollout's id");
        var reason = Arguments.Reason(required: false);
        var command = new Command(action, description) { id, reason };
        c.Run(command, async (s, p, ct) =>
        {
            var body = new JsonObject { ["reason"] = p.GetValue(reason) };
            var rollout = await s.Gateway.PostAsync($"/v1/rollouts/{Arguments.Segment(p.GetRequiredValue(id))}/{action}", body, ct);
            return s.Emit(rollout, o => o.WriteLine($"rollout {rollout.Str("id")} {done}: now {rollout.Str("state")}, wave {rollout.Int("currentWave") + 1} of {rollout.Items("waves").Count()}"));
        });
        return command;
    }

    /// <summary>
    /// Per wave, what the gates would have said beside what was recorded: the result, what the rollout would have done,
    /// when the first failing check failed, and every reason. A wave the replay did not reach (or without recorded
    /// evidence) says so.
    /// </summary>
    public static void RenderJudgement(IAnsiConsole o, JsonNode judged, string id, string with)
    {
        o.WriteLine($"rollout {id} re-judged with {with}:");
        var table = new Table().AddColumns("#", "WAVE", "WOULD BE", "ACTION", "DECIDED AT", "RECORDED");
        foreach (var wave in judged.Items("waves"))
        {
            var verdict = wave["verdict"];
            table.AddRow(Cells.Of($"{wave.Int("wave")}", wave.Str("name"), verdict.Str("result") ?? "not reached", wave.Str("action") ?? "-",
                verdict.Str("decidedAt") is { } at ? Json.When(at) : "-", wave["recorded"].Str("result") ?? "none"));
        }
        o.Write(table);
        foreach (var wave in judged.Items("waves").Where(w => w["verdict"] is JsonObject))
        {
            o.WriteLine($"{wave.Str("name")}: {string.Join("; ", wave["verdict"].Strings("reasons"))}");
        }
    }

    private static Command Judge(CommandContext c)
    {
        var id = Arguments.Name("id", "the rollout's id");
        var planFile = new Option<string?>("--plan-file") { Description = "a plan (PUT /v1/plans body) whose waves' gates judge the recorded evidence", HelpName = "path" };
        var gatesFile = new Option<string?>("--gates-file") { Description = "one set of gates applied to every wave", HelpName = "path" };
        var command = new Command("judge", "re-judge a rollout's recorded evidence with other gates: what those gates would have said, per wave")
        {
            id, planFile, gatesFile,
        };
        command.Validators.Add(r =>
        {
            if ((r.GetValue(planFile) is null) == (r.GetValue(gatesFile) is null))
            {
                r.AddError("give exactly one of --plan-file and --gates-file");
            }
        });
        c.Run(command, async (s, p, ct) =>
        {
            var body = p.GetValue(planFile) is { } plan
                ? new JsonObject { ["plan"] = Json.ReadFile(plan, "plan file") }
                : new JsonObject { ["gates"] = Json.ReadFile(p.GetValue(gatesFile)!, "gates file") };
            var judged = await s.Gateway.PostAsync($"/v1/rollouts/{Arguments.Segment(p.GetRequiredValue(id))}/judge", body, ct);
            return s.Emit(judged, o => RenderJudgement(o, judged, p.GetRequiredValue(id), p.GetValue(planFile) is null ? "the given gates" : "the given plan"));
        });
        return command;
    }
}
