using System.Text.Json;
using System.Text.Json.Serialization;

namespace Snapstone;

/// <summary>
/// The one JSON dialect Snapstone speaks, on the wire and in stored metadata: camelCase names and
/// kebab-case enum values (<c>fail-closed</c>, <c>awaiting-approval</c>), rejecting enum values it does not know.
/// </summary>
public static class SnapstoneJson
{
    public static readonly JsonSerializerOptions Options = Configure(new JsonSerializerOptions(JsonSerializerDefaults.Web));

    /// <summary>Applies the dialect to options owned by someone else (ASP.NET's, for instance).</summary>
    public static JsonSerializerOptions Configure(JsonSerializerOptions options)
    {
        options.PropertyNamingPolicy = JsonNamingPolicy.CamelCase;
        options.DictionaryKeyPolicy = null;
        options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower, allowIntegerValues: false));
        options.Converters.Add(new UtcTimeConverter());
        options.NumberHandling = JsonNumberHandling.Strict;
        return options;
    }
}

/// <summary>Writes times as RFC 3339 UTC with a <c>Z</c> and millisecond precision: <c>2026-11-26T03:53:41.468Z</c>.</summary>
public sealed class UtcTimeConverter : JsonConverter<DateTimeOffset>
{
    public override DateTimeOffset Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.GetDateTimeOffset();

    public override void Write(Utf8JsonWriter writer, DateTimeOffset value, JsonSerializerOptions options) =>
        writer.WriteStringValue(value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture));
}
