using System.CommandLine;
using System.Text;
using System.Text.Json.Nodes;
using Spectre.Console;

namespace Snapstone.Cli.Commands;

/// <summary>
/// <c>snapstone package push|validate|diff</c>: <c>POST /v1/units/{unit}/packages</c>, its <c>:validate</c> dry run, and
/// the difference between two versions' content.
/// </summary>
public static class PackageCommands
{
    private static readonly int[] ValidationFailed = [422];

    public static Command Build(CommandContext c) => new("package", "immutable, validated versions of a unit's content")
    {
        Push(c), Validate(c), Diff(c),
    };

    private static Option<string> File(string description) => new("--file", "-f") { Description = description, HelpName = "path", Required = true };

    private static Command Push(CommandContext c)
    {
        var unit = Arguments.Name("unit", "the unit the package belongs to");
        var file = File("the content, sent byte for byte (- reads standard input)");
        var message = new Option<string>("--message", "-m") { Description = "why this change, for people reading the history", HelpName = "text", Required = true };
        var source = new Option<string?>("--source") { Description = "the commit or pipeline URL it came from", HelpName = "url" };
        var command = new Command("push", "publish a package: it is validated and risk-scored; one that fails is recorded and can never be rolled out (exit 4)")
        {
            unit, file, message, source,
        };
        c.Run(command, async (s, p, ct) =>
        {
            var name = p.GetRequiredValue(unit);
            var body = Body(Files.Read(p.GetRequiredValue(file), "package file"));
            body["message"] = p.GetRequiredValue(message);
            if (p.GetValue(source) is { } from)
            {
                body["source"] = from;
            }
            var answer = await s.Gateway.SendAsync(HttpMethod.Post, $"/v1/units/{Arguments.Segment(name)}/packages", body, ct, accept: ValidationFailed);
            var package = RequirePackage(answer);
            var passed = package["validation"].Bool("passed");
            return s.Emit(package, o =>
            {
                o.MarkupLine(passed
                    ? $"package [bold]{Markup.Escape(name)} v{package.Long("version")}[/] created"
                    : $"package [bold]{Markup.Escape(name)} v{package.Long("version")}[/] [red]rejected by validation[/]: recorded, and it can never be rolled out");
                Render(o, package);
            }, passed ? ExitCodes.Ok : ExitCodes.CheckFailed);
        });
        return command;
    }

    private static Command Validate(CommandContext c)
    {
        var unit = Arguments.Name("unit", "the unit whose validators and risk rules apply");
        var file = File("the content to check (- reads standard input)");
        var command = new Command("validate", "run a package's validation and risk scoring without storing anything (a CI dry run; exit 4 when it fails)")
        {
            unit, file,
        };
        c.Run(command, async (s, p, ct) =>
        {
            var name = p.GetRequiredValue(unit);
            var body = Body(Files.Read(p.GetRequiredValue(file), "package file"));
            var answer = await s.Gateway.SendAsync(HttpMethod.Post, $"/v1/units/{Arguments.Segment(name)}/packages:validate", body, ct, accept: ValidationFailed);
            var package = RequirePackage(answer);
            var passed = package["validation"].Bool("passed");
            return s.Emit(package, o =>
            {
                o.MarkupLine(passed
                    ? $"[green]passes[/] {Markup.Escape(name)}'s validation"
                    : $"[red]fails[/] {Markup.Escape(name)}'s validation: a push would be recorded as rejected");
                Render(o, package, stored: false);
            }, passed ? ExitCodes.Ok : ExitCodes.CheckFailed);
        });
        return command;
    }

    private static Command Diff(CommandContext c)
    {
        var unit = Arguments.Name("unit", "the unit");
        var from = new Argument<string>("from") { Description = "the old version: a number, lkg or latest" };
        var to = new Argument<string>("to") { Description = "the new version: a number, lkg or latest" };
        var context = new Option<int>("--context", "-U") { Description = "unchanged lines shown around each change", HelpName = "lines", DefaultValueFactory = _ => 3 };
        var raw = new Option<bool>("--raw") { Description = "compare the bytes as stored, even when both are JSON (by default JSON is compared indented, one value a line)" };
        var command = new Command("diff", "the changed lines between two versions of a unit's content")
        {
            unit, from, to, context, raw,
        };
        c.Run(command, async (s, p, ct) =>
        {
            var name = p.GetRequiredValue(unit);
            if (p.GetValue(context) is < 0 or > 1000)
            {
                throw new UsageError($"--context must be 0 to 1000 lines (got {p.GetValue(context)})");
            }
            var resolved = await ResolveAsync(s.Gateway, name, [p.GetRequiredValue(from), p.GetRequiredValue(to)], ct);
            var packages = new List<(JsonNode Meta, byte[] Content)>();
            foreach (var version in resolved)
            {
                var path = $"/v1/units/{Arguments.Segment(name)}/packages/{version}";
                var meta = await s.Gateway.GetAsync(path, ct);
                packages.Add((meta, await s.Gateway.GetBytesAsync($"{path}/content", ct)));
            }
            var diff = PackageDiff.Compare(name, (resolved[0], packages[0].Content), (resolved[1], packages[1].Content), p.GetValue(context), p.GetValue(raw));
            var document = diff.ToJson();
            document["from"]!["sha256"] = packages[0].Meta.Str("sha256");
            document["to"]!["sha256"] = packages[1].Meta.Str("sha256");
            return s.Emit(document, o => diff.Render(o));
        });
        return command;
    }

    /// <summary>Numbers as given; <c>lkg</c> and <c>latest</c> read from the unit.</summary>
    private static async Task<long[]> ResolveAsync(Gateway gateway, string unit, string[] versions, CancellationToken ct)
    {
        JsonNode? definition = null;
        var result = new long[versions.Length];
        for (var i = 0; i < versions.Length; i++)
        {
            var v = versions[i];
            if (long.TryParse(v, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var number) && number >= 1)
            {
                result[i] = number;
                continue;
            }
            if (v is not ("lkg" or "latest"))
            {
                throw new UsageError($"a version is a whole number of 1 or more, lkg or latest (got '{v}')");
            }
            definition ??= await gateway.GetAsync($"/v1/units/{Arguments.Segment(unit)}", ct);
            result[i] = definition.Long(v == "lkg" ? "lkgVersion" : "latestVersion")
                ?? throw new UsageError($"unit '{unit}' has no {(v == "lkg" ? "last known good package" : "package")} yet");
        }
        return result;
    }

    /// <summary>Text stays text when it is UTF-8 (the stored bytes are then exactly the file's); anything else goes as base64.</summary>
    private static JsonObject Body(byte[] content)
    {
        try
        {
            return new JsonObject { ["content"] = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(content) };
        }
        catch (DecoderFallbackException)
        {
            return new JsonObject { ["contentBase64"] = Convert.ToBase64String(content) };
        }
    }

    private static JsonNode RequirePackage(Answer answer) =>
        answer.Body["validation"] is JsonObject
            ? answer.Body
            : throw new Refusal(answer.Status, "Unprocessable Content", answer.Body.Str("detail") ?? answer.Body.ToJsonString(), [], answer.Body);

    public static void Render(IAnsiConsole o, JsonNode package, bool stored = true)
    {
        var fields = new Fields();
        void Row(string label, string? value) => fields.Add(label, value);
        if (stored)
        {
            Row("version", $"v{package.Long("version")}{(package.Bool("lkg") ? " (LKG)" : "")}");
            Row("state", package.Str("state"));
            Row("author", $"{package.Str("author")} at {Json.When(package.Str("createdAt"))}");
            Row("message", package.Str("message"));
        }
        Row("sha256", package.Str("sha256"));
        Row("size", $"{package.Long("sizeBytes")} bytes");
        var risk = package["risk"];
        Row("risk", $"{risk.Str("level")} (score {risk.Long("score")}){(risk.Bool("critical") ? ", critical" : "")}");
        fields.WriteTo(o);
        foreach (var reason in risk.Strings("reasons"))
        {
            o.WriteLine($"  risk: {reason}");
        }
        var findings = package["validation"].Items("findings").ToList();
        if (findings.Count > 0)
        {
            var table = new Table().AddColumns("SEVERITY", "RULE", "FINDING");
            foreach (var f in findings)
            {
                table.AddRow(Cells.Of(f.Str("severity"), f.Str("rule"), f.Str("message")));
            }
            o.Write(table);
        }
    }
}
