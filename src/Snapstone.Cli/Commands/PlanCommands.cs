using System.CommandLine;
using System.Text.Json.Nodes;
using Spectre.Console;

namespace Snapstone.Cli.Commands;

/// <summary><c>snapstone plan apply|get</c>: <c>PUT /v1/plans/{plan}</c> and <c>GET /v1/plans/{plan}</c>.</summary>
public static class PlanCommands
{
    public static Command Build(CommandContext c) => new("plan", "rollout plans: the ordered waves, their bakes and gates")
    {
        Apply(c), Get(c),
    };

    private static Command Apply(CommandContext c)
    {
        var file = new Option<string>("--file", "-f")
        {
            Description = "the plan: API.md's PUT /v1/plans body, plus its \"name\" (- reads standard input)",
            HelpName = "path",
            Required = true,
        };
        var name = new Option<string?>("--name") { Description = "the plan's name, when the file has no \"name\"", HelpName = "plan" };
        var command = new Command("apply", "create or update a plan from a JSON file") { file, name };
        c.Run(command, async (s, p, ct) =>
        {
            var (plan, body) = Definitions.Named(Json.ReadFile(p.GetRequiredValue(file), "plan file"), p.GetValue(name), "plan");
            var stored = await s.Gateway.SendAsync(HttpMethod.Put, $"/v1/plans/{Arguments.Segment(plan)}", body, ct);
            return s.Emit(stored.Body, o =>
            {
                o.MarkupLine($"plan [bold]{Markup.Escape(plan)}[/] applied");
                Render(o, stored.Body);
            });
        });
        return command;
    }

    private static Command Get(CommandContext c)
    {
        var plan = Arguments.Name("plan", "the plan's name (built in: standard, high-risk, emergency)");
        var command = new Command("get", "a plan's waves") { plan };
        c.Run(command, async (s, p, ct) =>
        {
            var found = await s.Gateway.GetAsync($"/v1/plans/{Arguments.Segment(p.GetRequiredValue(plan))}", ct);
            return s.Emit(found, o => Render(o, found));
        });
        return command;
    }

    /// <summary><c>ams01, fra02</c> for a list, the bare value otherwise.</summary>
    private static string Scalar(JsonNode value) => value switch
    {
        JsonArray list => string.Join(", ", list.Select(i => i is null ? "" : Scalar(i))),
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        _ => value.ToJsonString(),
    };

    public static void Render(IAnsiConsole o, JsonNode plan)
    {
        o.WriteLine($"plan {plan.Str("name")}{(plan.Bool("builtIn") ? " (built in)" : "")}");
        var table = new Table().AddColumns("#", "WAVE", "SELECT", "BAKE", "GATES", "APPROVAL", "ON FAILURE");
        var i = 0;
        foreach (var wave in plan.Items("waves"))
        {
            var select = wave["select"] is JsonObject sel ? string.Join(", ", sel.Where(kv => kv.Value is not null).Select(kv => $"{kv.Key} {Scalar(kv.Value!)}")) : "-";
            var gates = wave["gates"] is JsonObject g
                ? string.Join(", ", g.Where(kv => kv.Value is JsonValue).Select(kv => $"{kv.Key} {Scalar(kv.Value!)}"))
                    + (g["metrics"] is JsonArray m && m.Count > 0 ? $", {m.Count} metric quer{(m.Count == 1 ? "y" : "ies")}" : "")
                : "defaults";
            table.AddRow(Cells.Of($"{i++}", wave.Str("name"), select, $"{wave.Long("bakeSeconds") ?? 0}s", gates,
                wave.Bool("requiresApproval") ? "required" : "-", wave.Str("onFailure") ?? "rollback"));
        }
        o.Write(table);
    }
}
