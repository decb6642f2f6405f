using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Snapstone.Domain;

namespace Snapstone.Server.Http;

/// <summary>
/// Reads request bodies with messages a person can act on. Definitions (units, plans, packages) are read
/// strictly: an unknown field is an error, because a misspelt validator would otherwise silently not run.
/// Agent reports are read leniently so that newer agents can add fields without being refused.
/// </summary>
public static partial class JsonBody
{
    public static readonly JsonSerializerOptions Strict = new(SnapstoneJson.Options)
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        RespectNullableAnnotations = true,
    };

    public static readonly JsonSerializerOptions Lenient = new(SnapstoneJson.Options)
    {
        RespectNullableAnnotations = true,
    };

    public static async Task<byte[]> ReadBytesAsync(HttpRequest request)
    {
        var limit = request.HttpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize;
        if (request.ContentLength > limit)
        {
            // Refused before reading: a client that sent Expect: 100-continue never uploads the body at all.
            throw new SnapstoneException(ProblemKind.TooLarge,
                $"request body exceeds the limit of {limit} bytes (Snapstone:Gateway:MaxRequestBytes); it declared {request.ContentLength}");
        }
        try
        {
            using var buffer = new MemoryStream();
            await request.Body.CopyToAsync(buffer, request.HttpContext.RequestAborted);
            if (buffer.Length == 0)
            {
                throw SnapstoneException.Invalid("request body is required (JSON)");
            }
            return buffer.ToArray();
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw new SnapstoneException(ProblemKind.TooLarge,
                $"request body exceeds the limit of {request.HttpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize} bytes (Snapstone:Gateway:MaxRequestBytes)");
        }
    }

    public static async Task<T> ReadAsync<T>(HttpRequest request, JsonSerializerOptions options) where T : class =>
        Parse<T>(await ReadBytesAsync(request), options);

    public static T Parse<T>(ReadOnlySpan<byte> json, JsonSerializerOptions options) where T : class
    {
        try
        {
            return JsonSerializer.Deserialize<T>(json, options) ?? throw SnapstoneException.Invalid("request body must be a JSON object, not null");
        }
        catch (JsonException e)
        {
            throw SnapstoneException.Invalid(Describe(e));
        }
    }

    public static T Parse<T>(JsonElement json, JsonSerializerOptions options) where T : class
    {
        try
        {
            return json.Deserialize<T>(options) ?? throw SnapstoneException.Invalid("must be a JSON object, not null");
        }
        catch (JsonException e)
        {
            throw SnapstoneException.Invalid(Describe(e));
        }
    }

    /// <summary>Turns System.Text.Json's messages, which name .NET types, into ones that name the field.</summary>
    internal static string Describe(JsonException e)
    {
        var path = string.IsNullOrEmpty(e.Path) ? "$" : e.Path;
        var message = e.Message;
        if (message.Contains("could not be mapped to any .NET member", StringComparison.Ordinal))
        {
            return $"unknown field '{UnmappedName().Match(message).Groups[1].Value}' at {ParentOf(path)}";
        }
        if (RequiredMissing().Match(message) is { Success: true } missing)
        {
            return $"missing required field(s) at {path}: {missing.Groups[1].Value.Replace("'", "")}";
        }
        if (message.Contains("could not be converted to", StringComparison.Ordinal))
        {
            var target = ConvertTarget().Match(message).Groups[1].Value;
            var domainType = DomainType().Match(message) is { Success: true } m ? Type.GetType(m.Value + ", Snapstone.Domain") : null;
            return domainType is { IsEnum: true } enumType
                ? $"{path} must be one of {string.Join(", ", Enum.GetNames(enumType).Select(n => JsonNamingPolicy.KebabCaseLower.ConvertName(n)))}"
                : $"{path} has the wrong type (expected {Friendly(target)})";
        }
        if (message.Contains("null", StringComparison.OrdinalIgnoreCase) && message.Contains("nullab", StringComparison.OrdinalIgnoreCase))
        {
            return $"{path} must not be null";
        }
        return e.LineNumber is { } line
            ? $"malformed JSON at {path} (line {line + 1}, byte {e.BytePositionInLine + 1})"
            : $"malformed JSON at {path}";
    }

    private static string ParentOf(string path)
    {
        var cut = path.LastIndexOf('.');
        return cut > 0 ? path[..cut] : "$";
    }

    private static string Friendly(string type) => type switch
    {
        "System.String" => "a string",
        "System.Int32" or "System.Int64" => "an integer",
        "System.Double" => "a number",
        "System.Boolean" => "true or false",
        _ when type.StartsWith("System.Collections.Generic.IReadOnlyDictionary", StringComparison.Ordinal) => "an object",
        _ when type.StartsWith("System.Collections.Generic.IReadOnlyList", StringComparison.Ordinal) => "an array",
        _ when type.StartsWith("System.Nullable`1[[System.Int", StringComparison.Ordinal) => "an integer",
        _ when type.StartsWith("System.Nullable`1[[System.Double", StringComparison.Ordinal) => "a number",
        _ => "an object",
    };

    [GeneratedRegex(@"The JSON property '([^']*)'")]
    private static partial Regex UnmappedName();

    [GeneratedRegex(@"missing required properties including: (.*)\.")]
    private static partial Regex RequiredMissing();

    [GeneratedRegex(@"Snapstone\.Domain\.[A-Za-z.]+[A-Za-z]")]
    private static partial Regex DomainType();

    [GeneratedRegex(@"could not be converted to ([^ ]+?)\. ")]
    private static partial Regex ConvertTarget();
}
