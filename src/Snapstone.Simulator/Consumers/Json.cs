using System.Text.Json;

namespace Snapstone.Simulator.Consumers;

internal static class Json
{
    /// <summary>Parses <paramref name="content"/> or says why it is not JSON.</summary>
    public static JsonDocument? TryParse(ReadOnlySpan<byte> content, out string? error)
    {
        var reader = new Utf8JsonReader(content, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip });
        try
        {
            var document = JsonDocument.ParseValue(ref reader);
            error = reader.BytesConsumed < content.Length && content[(int)reader.BytesConsumed..].Trim(" \t\r\n"u8).Length > 0
                ? "trailing data after the JSON value"
                : null;
            if (error is not null)
            {
                document.Dispose();
                return null;
            }
            return document;
        }
        catch (JsonException e)
        {
            error = $"not JSON: {e.Message}";
            return null;
        }
    }
}
