using System.Text.Json.Nodes;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Snapstone.Cli;

/// <summary>How a rollout (<c>GET /v1/rollouts/{id}</c>) reads on a terminal: a header, its waves, verdicts, rollback and timeline.</summary>
public static class RolloutView
{
    public static string Header(JsonNode r)
    {
        var from = r.Long("previousVersion") is { } previous ? $"from v{previous}" : "first package";
        var waves = r.Items("waves").Count();
        return $"rollout {r.Str("id")}: {r.Str("unit")} v{r.Long("version")} ({from}) on plan {r.Str("plan")}: {r.Str("state")}, wave {r.Int("currentWave") + 1} of {waves}";
    }

    public static Table Waves(JsonNode r)
    {
        var table = new Table().AddColumns("#", "WAVE", "STATE", "TARGETED", "APPLIED", "HEALTHY", "UNHEALTHY", "REJECTED", "VERDICT");
        var current = r.Int("currentWave");
        var i = 0;
        foreach (var w in r.Items("waves"))
        {
            var verdict = w["verdict"].Str("result") ?? (w.Bool("requiresApproval") && w.Str("approvedBy") is null ? "needs approval" : "-");
            var style = w.Str("state") switch
            {
                "passed" => new Style(Color.Green),
                "failed" => new Style(Color.Red),
                "applying" or "baking" => new Style(Color.Yellow),
                _ => Style.Plain,
            };
            table.AddRow(new IRenderable[]
            {
                new Text(i == current ? $"{i}>" : $"{i}"), new Text(w.Str("name") ?? "-"), new Text(w.Str("state") ?? "-", style),
                new Text($"{w.Int("targeted")}"), new Text($"{w.Int("applied")}"), new Text($"{w.Int("healthy")}"),
                new Text($"{w.Int("unhealthy")}"), new Text($"{w.Int("rejected")}"), new Text(verdict, VerdictStyle(w["verdict"].Str("result"))),
            });
            i++;
        }
        return table;
    }

    public static Style VerdictStyle(string? result) => result switch
    {
        "healthy" => new Style(Color.Green),
        "unhealthy" => new Style(Color.Red),
        "inconclusive" => new Style(Color.Yellow),
        _ => Style.Plain,
    };

    /// <summary>A wave's verdict with every reason, one line: <c>canary: unhealthy: cohort error rate 3.10% … ; …</c>.</summary>
    public static string? Verdict(JsonNode wave) => wave["verdict"] is JsonObject v
        ? $"{wave.Str("name")}: {v.Str("result")}{(v.Strings("reasons").ToList() is { Count: > 0 } reasons ? ": " + string.Join("; ", reasons) : "")}"
        : null;

    public static string? Rollback(JsonNode r)
    {
        var rollback = r["rollback"];
        if (rollback.Str("reason") is not { } reason)
        {
            return null;
        }
        var back = r.Long("previousVersion") is { } previous ? $"back on v{previous}" : "back off the unit";
        var done = rollback.Str("completedAt") is { } at ? $", done at {Json.When(at)}" : ", in progress";
        return $"{(rollback.Bool("aborted") ? "aborted" : "rolled back")}: {reason}; {rollback.Int("confirmed")} of {rollback.Int("targeted")} nodes confirmed {back}{done}";
    }

    public static string Entry(JsonNode e) => $"{Json.Clock(e.Str("at"))}  {e.Str("type"),-18} {e.Str("message")}";

    /// <summary>Everything <c>rollout get</c> shows; <paramref name="timeline"/> limits the timeline to its newest entries (null: all).</summary>
    public static void Render(IAnsiConsole o, JsonNode r, int? timeline = 10)
    {
        o.WriteLine(Header(r));
        o.WriteLine($"reason: {r.Str("reason")} (by {r.Str("createdBy")} at {Json.When(r.Str("createdAt"))})");
        foreach (var note in r.Strings("notes"))
        {
            o.WriteLine($"note: {note}");
        }
        if (r.Str("state") == "paused" && r.Str("pausedReason") is { } paused)
        {
            o.WriteLine($"paused: {paused}");
        }
        o.Write(Waves(r));
        foreach (var verdict in r.Items("waves").Select(Verdict).OfType<string>())
        {
            o.WriteLine($"verdict {verdict}");
        }
        if (Rollback(r) is { } rollback)
        {
            o.WriteLine(rollback);
        }
        var entries = r.Items("timeline").ToList();
        if (timeline == 0 || entries.Count == 0)
        {
            return;
        }
        var shown = timeline is { } n ? entries.TakeLast(n).ToList() : entries;
        o.WriteLine(shown.Count < entries.Count ? $"timeline (newest {shown.Count} of {entries.Count}):" : "timeline:");
        foreach (var e in shown)
        {
            o.WriteLine($"  {Entry(e)}");
        }
    }

    private static string CurrentWave(JsonNode r) =>
        $"wave {r.Int("currentWave") + 1} ({r.Items("waves").ElementAtOrDefault(r.Int("currentWave")).Str("name")})";

    /// <summary>The closing line of a wait: what happened and what a person can do next.</summary>
    public static string Outcome(JsonNode r, int code, TimeSpan? waited = null) => code switch
    {
        ExitCodes.Ok => $"completed: {r.Str("unit")} v{r.Long("version")} passed every wave",
        ExitCodes.RolledBack => $"rolled back in {CurrentWave(r)}: {r.Str("unit")} v{r.Long("version")} did not pass",
        ExitCodes.Aborted => $"aborted in {CurrentWave(r)}",
        ExitCodes.Paused => $"paused: {r.Str("pausedReason") ?? "no reason given"}; 'snapstone rollout resume {r.Str("id")}' moves it again",
        ExitCodes.TimedOut => $"timed out after {Durations.Describe(waited ?? TimeSpan.Zero)}; rollout {r.Str("id")} goes on: {r.Str("state")}, wave {r.Int("currentWave") + 1}",
        _ => r.Str("state") ?? "",
    };
}
