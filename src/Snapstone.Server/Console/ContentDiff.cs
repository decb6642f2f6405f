using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using DiffPlex;
using DiffPlex.Chunkers;

namespace Snapstone.Server.OperatorConsole;

/// <summary>
/// The line difference between two versions of a package, by DiffPlex, as the console shows it: JSON compared
/// indented (one value a line, as <c>snapstone package diff</c> does, since generated files are often one line), the
/// changed lines with <see cref="Context"/> unchanged lines around each change, numbered in the old and new text.
/// </summary>
public sealed record ContentDiff(bool Binary, bool TooLarge, bool AsJson, int Added, int Removed, IReadOnlyList<ContentDiff.Line> Lines)
{
    /// <summary>Unchanged lines shown around each change.</summary>
    public const int Context = 3;

    /// <summary>Content larger than this on either side is only said to differ: the console does not diff it (the CLI does).</summary>
    public const int MaxBytes = 2 * 1024 * 1024;

    /// <summary>A shown line: <c>added</c>, <c>removed</c>, <c>same</c>, or <c>gap</c> (unchanged lines left out).</summary>
    public sealed record Line(string Type, int? Old, int? New, string Text);

    public bool Identical => !Binary && !TooLarge && Added == 0 && Removed == 0;

    public static ContentDiff Compare(byte[] from, byte[] to)
    {
        if (from.Length > MaxBytes || to.Length > MaxBytes)
        {
            return new ContentDiff(false, true, false, 0, 0, []);
        }
        if (!TryText(from, out var oldText) || !TryText(to, out var newText))
        {
            return new ContentDiff(!from.AsSpan().SequenceEqual(to), false, false, 0, 0, []);
        }
        var asJson = false;
        if (TryIndent(oldText, out var oldJson) && TryIndent(newText, out var newJson))
        {
            (oldText, newText, asJson) = (oldJson, newJson, true);
        }
        var result = Differ.Instance.CreateDiffs(oldText, newText, ignoreWhiteSpace: false, ignoreCase: false, LineChunker.Instance);
        // Walk both texts once: every line is unchanged, removed (in a block's deletions) or added (in its insertions).
        var all = new List<Line>();
        int a = 0, b = 0;
        foreach (var block in result.DiffBlocks)
        {
            while (a < block.DeleteStartA && b < block.InsertStartB)
            {
                all.Add(new Line("same", a + 1, b + 1, result.PiecesOld[a]));
                a++;
                b++;
            }
            for (var i = 0; i < block.DeleteCountA; i++, a++)
            {
                all.Add(new Line("removed", a + 1, null, result.PiecesOld[a]));
            }
            for (var i = 0; i < block.InsertCountB; i++, b++)
            {
                all.Add(new Line("added", null, b + 1, result.PiecesNew[b]));
            }
        }
        while (a < result.PiecesOld.Count && b < result.PiecesNew.Count)
        {
            all.Add(new Line("same", a + 1, b + 1, result.PiecesOld[a]));
            a++;
            b++;
        }
        var keep = new bool[all.Count];
        for (var i = 0; i < all.Count; i++)
        {
            if (all[i].Type != "same")
            {
                for (var j = Math.Max(0, i - Context); j <= Math.Min(all.Count - 1, i + Context); j++)
                {
                    keep[j] = true;
                }
            }
        }
        var shown = new List<Line>();
        for (var i = 0; i < all.Count; i++)
        {
            if (keep[i])
            {
                shown.Add(all[i]);
            }
            else if (shown.Count == 0 || shown[^1].Type != "gap")
            {
                shown.Add(new Line("gap", null, null, ""));
            }
        }
        if (shown.Count > 0 && shown[^1].Type == "gap")
        {
            shown.RemoveAt(shown.Count - 1);
        }
        return new ContentDiff(false, false, asJson, all.Count(l => l.Type == "added"), all.Count(l => l.Type == "removed"), shown);
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

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    private static bool TryIndent(string text, out string indented)
    {
        try
        {
            indented = JsonNode.Parse(text) is { } node ? node.ToJsonString(Indented) : "null";
            return true;
        }
        catch (JsonException)
        {
            indented = "";
            return false;
        }
    }
}
