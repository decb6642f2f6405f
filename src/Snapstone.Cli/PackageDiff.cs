using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using DiffPlex;
using DiffPlex.Chunkers;
using DiffPlex.Model;
using DiffPlex.Renderer;
using Spectre.Console;

namespace Snapstone.Cli;

/// <summary>
/// The line difference between two versions of a package (DiffPlex). JSON content is compared indented, one value a
/// line, because generated files are often a single line where every change would be "the whole file"; <c>raw</c>
/// compares the stored text as is. Content that is not UTF-8 is only said to differ, by hash.
/// </summary>
public sealed record PackageDiff(
    string Unit, long From, long To, bool Binary, bool AsJson, string Unified, IReadOnlyList<PackageDiff.Change> Changes)
{
    /// <summary>One changed line: <c>removed</c> (numbered in the old text) or <c>added</c> (numbered in the new).</summary>
    public sealed record Change(string Type, int Line, string Text);

    public int Added => Changes.Count(c => c.Type == "added");
    public int Removed => Changes.Count(c => c.Type == "removed");
    public bool Identical => Changes.Count == 0 && !Binary;

    public static PackageDiff Compare(string unit, (long Version, byte[] Content) from, (long Version, byte[] Content) to, int context, bool raw)
    {
        if (!TryText(from.Content, out var oldText) || !TryText(to.Content, out var newText))
        {
            var same = from.Content.AsSpan().SequenceEqual(to.Content);
            return new PackageDiff(unit, from.Version, to.Version, Binary: !same, AsJson: false, "", []);
        }
        var asJson = false;
        if (!raw && TryIndent(oldText, out var oldJson) && TryIndent(newText, out var newJson))
        {
            (oldText, newText, asJson) = (oldJson, newJson, true);
        }
        var result = Differ.Instance.CreateDiffs(oldText, newText, ignoreWhiteSpace: false, ignoreCase: false, LineChunker.Instance);
        var changes = new List<Change>();
        foreach (var block in result.DiffBlocks)
        {
            for (var i = 0; i < block.DeleteCountA; i++)
            {
                changes.Add(new Change("removed", block.DeleteStartA + i + 1, result.PiecesOld[block.DeleteStartA + i]));
            }
            for (var i = 0; i < block.InsertCountB; i++)
            {
                changes.Add(new Change("added", block.InsertStartB + i + 1, result.PiecesNew[block.InsertStartB + i]));
            }
        }
        var unified = changes.Count == 0 ? "" : new UnidiffRenderer(Differ.Instance, context).Generate(result, $"{unit} v{from.Version}", $"{unit} v{to.Version}");
        return new PackageDiff(unit, from.Version, to.Version, Binary: false, asJson, unified, changes);
    }

    /// <summary>The <c>--output json</c> document: <c>{ unit, from: { version }, to: { version }, identical, binary, comparedAs, added, removed, changes: [ { type, line, text } ], unified }</c>.</summary>
    public JsonObject ToJson() => new()
    {
        ["unit"] = Unit,
        ["from"] = new JsonObject { ["version"] = From },
        ["to"] = new JsonObject { ["version"] = To },
        ["identical"] = Identical,
        ["binary"] = Binary,
        ["comparedAs"] = AsJson ? "indented-json" : "text",
        ["added"] = Added,
        ["removed"] = Removed,
        ["changes"] = new JsonArray([.. Changes.Select(c => (JsonNode)new JsonObject { ["type"] = c.Type, ["line"] = c.Line, ["text"] = c.Text })]),
        ["unified"] = Unified,
    };

    public void Render(IAnsiConsole o)
    {
        if (Binary)
        {
            o.WriteLine($"{Unit} v{From} and v{To} differ (binary content; compare the sha256 of each with 'snapstone package diff -o json')");
            return;
        }
        if (Identical)
        {
            o.WriteLine($"{Unit} v{From} and v{To} have the same content{(AsJson ? " (as indented JSON)" : "")}");
            return;
        }
        foreach (var line in Unified.TrimEnd('\n').Split('\n'))
        {
            var style = line switch
            {
                ['+', '+', '+', ..] or ['-', '-', '-', ..] => new Style(decoration: Decoration.Bold),
                ['@', '@', ..] => new Style(Color.Cyan),
                ['+', ..] => new Style(Color.Green),
                ['-', ..] => new Style(Color.Red),
                _ => Style.Plain,
            };
            o.Write(new Text(line.TrimEnd('\r') + "\n", style));
        }
        o.WriteLine($"{Added} line{(Added == 1 ? "" : "s")} added, {Removed} removed{(AsJson ? " (compared as indented JSON; --raw for the stored text)" : "")}");
    }

    private static bool TryText(byte[] content, out string text)
    {
        try
        {
            text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(content);
            return true;
        }
        catch (DecoderFallbackException)
        {
            text = "";
            return false;
        }
    }

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static bool TryIndent(string text, out string indented)
    {
        try
        {
            indented = JsonNode.Parse(text)?.ToJsonString(Indented) ?? "null";
            return true;
        }
        catch (Exception e) when (e is JsonException or ArgumentException or InvalidOperationException)
        {
            indented = text;
            return false;
        }
    }
}
