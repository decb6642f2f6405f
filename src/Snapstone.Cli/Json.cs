using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Snapstone.Cli;

/// <summary>Reading the gateway's JSON without a type per answer: the CLI shows what the server says, extra fields included.</summary>
public static class Json
{
    /// <summary>How <c>--output json</c> writes: indented, UTF-8 as is, one document.</summary>
    public static readonly JsonSerializerOptions Output = new()
    {
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static string? Str(this JsonNode? node, string name) => node?[name] switch
    {
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        JsonValue v => v.ToJsonString(),
        _ => null,
    };

    public static long? Long(this JsonNode? node, string name) =>
        node?[name] is JsonValue v && v.TryGetValue<long>(out var n) ? n : null;

    public static int Int(this JsonNode? node, string name) =>
        node?[name] is JsonValue v && v.TryGetValue<int>(out var n) ? n : 0;

    public static bool Bool(this JsonNode? node, string name) =>
        node?[name] is JsonValue v && v.TryGetValue<bool>(out var b) && b;

    public static IEnumerable<JsonNode> Items(this JsonNode? node, string name) =>
        node?[name] is JsonArray a ? a.Where(i => i is not null).Select(i => i!) : [];

    public static IEnumerable<string> Strings(this JsonNode? node, string name) =>
        node.Items(name).Select(i => i is JsonValue v && v.TryGetValue<string>(out var s) ? s : i.ToJsonString());

    /// <summary>An RFC 3339 time as the server sent it, shortened to <c>HH:mm:ss</c> UTC for a line of progress.</summary>
    public static string Clock(string? time) =>
        DateTimeOffset.TryParse(time, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at)
            ? at.UtcDateTime.ToString("HH:mm:ss", CultureInfo.InvariantCulture)
            : time ?? "";

    /// <summary>An RFC 3339 time shortened to <c>yyyy-MM-dd HH:mm:ss</c>Z for tables.</summary>
    public static string When(string? time) =>
        DateTimeOffset.TryParse(time, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at)
            ? at.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture)
            : time ?? "";

    /// <summary>Reads a JSON file a person wrote (comments and trailing commas allowed); <c>-</c> reads standard input.</summary>
    public static JsonNode ReadFile(string path, string what)
    {
        var text = System.Text.Encoding.UTF8.GetString(Files.Read(path, what));
        try
        {
            return JsonNode.Parse(text, documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true })
                ?? throw new UsageError($"{what} {path} is empty");
        }
        catch (JsonException e)
        {
            throw new UsageError($"{what} {path} is not valid JSON: {e.Message}");
        }
    }
}

/// <summary>Files named on the command line.</summary>
public static class Files
{
    /// <summary>The bytes of <paramref name="path"/>, or of standard input for <c>-</c>; a failure names the file and what it was for.</summary>
    public static byte[] Read(string path, string what)
    {
        try
        {
            if (path == "-")
            {
                using var input = Console.OpenStandardInput();
                using var copy = new MemoryStream();
                input.CopyTo(copy);
                return copy.ToArray();
            }
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new UsageError($"cannot read {what} {path}: {e.Message}");
        }
    }
}
