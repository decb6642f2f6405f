using System.CommandLine;
using System.Text.Json.Nodes;
using Spectre.Console;

namespace Snapstone.Cli.Commands;

/// <summary><c>snapstone unit apply|get|list</c>: <c>PUT /v1/units/{unit}</c>, <c>GET /v1/units/{unit}</c>, <c>GET /v1/units</c>.</summary>
public static class UnitCommands
{
    public static Command Build(CommandContext c) => new("unit", "configuration units: what a team rolls out, with its validators, plan and consumers")
    {
        Apply(c), Get(c), List(c),
    };

    private static Command Apply(CommandContext c)
    {
        var file = new Option<string>("--file", "-f")
        {
            Description = "the definition: API.md's PUT /v1/units body, plus its \"name\" (- reads standard input)",
            HelpName = "path",
            Required = true,
        };
        var name = new Option<string?>("--name") { Description = "the unit's name, when the file has no \"name\"", HelpName = "unit" };
        var command = new Command("apply", "create or update a unit from a JSON file") { file, name };
        c.Run(command, async (s, p, ct) =>
        {
            var (unit, body) = Definitions.Named(Json.ReadFile(p.GetRequiredValue(file), "unit file"), p.GetValue(name), "unit");
            var stored = await s.Gateway.SendAsync(HttpMethod.Put, $"/v1/units/{Arguments.Segment(unit)}", body, ct);
            return s.Emit(stored.Body, o =>
            {
                o.MarkupLine($"unit [bold]{Markup.Escape(unit)}[/] applied");
                Render(o, stored.Body);
            });
        });
        return command;
    }

    private static Command Get(CommandContext c)
    {
        var unit = Arguments.Name("unit", "the unit's name");
        var command = new Command("get", "a unit's definition, LKG, latest version, quarantine and active rollout") { unit };
        c.Run(command, async (s, p, ct) =>
        {
            var found = await s.Gateway.GetAsync($"/v1/units/{Arguments.Segment(p.GetRequiredValue(unit))}", ct);
            return s.Emit(found, o => Render(o, found));
        });
        return command;
    }

    private static Command List(CommandContext c)
    {
        var command = new Command("list", "every unit");
        c.Run(command, async (s, p, ct) =>
        {
            var list = await s.Gateway.GetAsync("/v1/units", ct);
            return s.Emit(list, o =>
            {
                var units = list.Items("units").ToList();
                if (units.Count == 0)
                {
                    o.WriteLine("no units");
                    return;
                }
                var table = new Table().AddColumns("UNIT", "OWNER", "KIND", "RISK TIER", "PLAN", "LKG", "LATEST", "QUARANTINED", "ACTIVE ROLLOUT");
                foreach (var u in units)
                {
                    table.AddRow(Cells.Of(u.Str("name"), u.Str("owner"), u.Str("kind"), u.Str("riskTier") ?? "-", u.Str("plan"),
                        Versions.Of(u.Long("lkgVersion")), Versions.Of(u.Long("latestVersion")),
                        Versions.List(u.Items("quarantined")), u.Str("activeRollout") ?? "-"));
                }
                o.Write(table);
            });
        });
        return command;
    }

    public static void Render(IAnsiConsole o, JsonNode unit)
    {
        var fields = new Fields();
        void Row(string label, string? value) => fields.Add(label, value);
        Row("unit", unit.Str("name"));
        Row("owner", unit.Str("owner"));
        if (unit.Str("description") is { Length: > 0 } description)
        {
            Row("description", description);
        }
        Row("kind", unit.Str("kind"));
        Row("risk tier", unit.Str("riskTier") ?? "not declared");
        Row("failure mode", unit.Str("failureMode"));
        Row("plan", unit.Str("plan"));
        var labels = unit["targets"]?["labels"] as JsonObject;
        Row("targets", labels is { Count: > 0 } ? string.Join(", ", labels.Select(l => $"{l.Key}={l.Value}")) : "every node");
        Row("validators", Validators(unit["validators"]));
        Row("lkg", Versions.Of(unit.Long("lkgVersion")));
        Row("latest", Versions.Of(unit.Long("latestVersion")));
        Row("quarantined", Versions.List(unit.Items("quarantined")));
        Row("active rollout", unit.Str("activeRollout"));
        Row("updated", $"{Json.When(unit.Str("updatedAt"))} by {unit.Str("updatedBy")}");
        fields.WriteTo(o);
    }

    private static string Validators(JsonNode? v)
    {
        if (v is not JsonObject validators)
        {
            return "none";
        }
        var parts = new List<string>();
        if (validators.Long("maxBytes") is { } maxBytes) parts.Add($"at most {maxBytes} bytes");
        if (validators.Str("format") is { } format) parts.Add($"format {format}");
        if (validators["maxItems"] is JsonObject items) parts.Add($"at most {items.Long("max")} items at {items.Str("path")}");
        if (validators["maxGrowthPercent"] is JsonValue growth) parts.Add($"growth at most {growth}% over the LKG");
        if (validators["jsonSchema"] is JsonObject) parts.Add("JSON Schema");
        return parts.Count == 0 ? "none" : string.Join(", ", parts);
    }
}

/// <summary>A definition file names what it defines; a flag may name it instead.</summary>
public static class Definitions
{
    /// <summary>The name (from <c>--name</c> or the file's <c>"name"</c>) and the body without it, as the gateway takes it.</summary>
    public static (string Name, JsonObject Body) Named(JsonNode file, string? flag, string what)
    {
        if (file is not JsonObject body)
        {
            throw new UsageError($"the {what} file must hold a JSON object");
        }
        var named = body["name"] is JsonValue v && v.TryGetValue<string>(out var n) ? n : null;
        body.Remove("name");
        if (flag is not null && named is not null && flag != named)
        {
            throw new UsageError($"--name '{flag}' and the file's \"name\" '{named}' differ; give one");
        }
        return (flag ?? named ?? throw new UsageError($"the {what} needs a name: a \"name\" field in the file, or --name"), body);
    }
}

/// <summary>Labelled values, one a line, the values aligned: <c>owner          bot-management</c>.</summary>
public sealed class Fields
{
    private readonly List<(string Label, string Value)> _rows = [];

    public void Add(string label, string? value) => _rows.Add((label, value is null or "" ? "-" : value));

    public void WriteTo(IAnsiConsole o)
    {
        var width = _rows.Count == 0 ? 0 : _rows.Max(r => r.Label.Length) + 2;
        foreach (var (label, value) in _rows)
        {
            o.WriteLine(label.PadRight(width) + value);
        }
    }
}

/// <summary>Table cells: plain text (never markup), a dash for nothing.</summary>
public static class Cells
{
    public static Spectre.Console.Rendering.IRenderable[] Of(params string?[] values) =>
        [.. values.Select(v => new Text(v is null or "" ? "-" : v))];
}

public static class Versions
{
    public static string Of(long? version) => version is { } v ? $"v{v}" : "-";

    public static string List(IEnumerable<JsonNode> versions) =>
        versions.Select(v => $"v{v}").ToList() is { Count: > 0 } list ? string.Join(", ", list) : "-";
}
