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
        using var body = await ReadPooledAsync(request);
        return body.Span.ToArray();
    }

    public static async Task<T> ReadAsync<T>(HttpRequest request, JsonSerializerOptions options) where T : class
    {
        using var body = await ReadPooledAsync(request);
        return Parse<T>(body.Span, options);
    }

    /// <summary>
    /// The request body in a buffer rented from the shared pool (returned on dispose), read straight into it: a batch
    /// of reports is a few hundred kilobytes, and copying it through a growing stream into a fresh array three times
    /// over was a fifth of what the server allocated under load.
    /// </summary>
    /// <param name="items">
    /// Where given, counts a top-level array's items as the bytes arrive and refuses the body at the first item past its
    /// limit, before the rest is read (and with a buffer that grows with what was read, not with what was declared).
    /// </param>
    public static async Task<PooledBody> ReadPooledAsync(HttpRequest request, ArrayItemCounter? items = null)
    {
        var limit = request.HttpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize;
        if (request.ContentLength > limit)
        {
            // Refused before reading: a client that sent Expect: 100-continue never uploads the body at all.
            throw new SnapstoneException(ProblemKind.TooLarge,
                $"request body exceeds the limit of {limit} bytes (Snapstone:Gateway:MaxRequestBytes); it declared {request.ContentLength}");
        }
        // One more byte than declared, so a body of the declared length is read without growing the buffer.
        var capacity = request.ContentLength is > 0 and < int.MaxValue / 2 and var declared ? (int)declared + 1 : 16 * 1024;
        var body = new PooledBody(items is null ? capacity : Math.Min(capacity, 256 * 1024));
        try
        {
            var final = false;
            while (!final)
            {
                var read = await request.Body.ReadAsync(body.Free(), request.HttpContext.RequestAborted);
                body.Advance(read);
                final = read == 0;
                if (items?.Feed(body.Span, final) == false)
                {
                    throw SnapstoneException.Invalid($"{items.Property} may hold at most {items.Limit} items; this body holds more (refused at item {items.Count})");
                }
            }
            if (body.Length == 0)
            {
                throw SnapstoneException.Invalid("request body is required (JSON)");
            }
            return body;
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            body.Dispose();
            throw new SnapstoneException(ProblemKind.TooLarge,
                $"request body exceeds the limit of {request.HttpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize} bytes (Snapstone:Gateway:MaxRequestBytes)");
        }
        catch
        {
            body.Dispose();
            throw;
        }
    }

    /// <summary>Bytes read into an array rented from <see cref="System.Buffers.ArrayPool{T}.Shared"/>; dispose returns it.</summary>
    public sealed class PooledBody(int capacity) : IDisposable
    {
        private byte[]? _buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(capacity);

        public int Length { get; private set; }

        public ReadOnlySpan<byte> Span => Buffer.AsSpan(0, Length);

        private byte[] Buffer => _buffer ?? throw new ObjectDisposedException(nameof(PooledBody));

        /// <summary>Room for the next read, doubling the buffer when it is full.</summary>
        internal Memory<byte> Free()
        {
            if (Length == Buffer.Length)
            {
                var larger = System.Buffers.ArrayPool<byte>.Shared.Rent(Buffer.Length * 2);
                Buffer.AsSpan(0, Length).CopyTo(larger);
                System.Buffers.ArrayPool<byte>.Shared.Return(Buffer);
                _buffer = larger;
            }
            return Buffer.AsMemory(Length);
        }

        internal void Advance(int count) => Length += count;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _buffer, null) is { } buffer)
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

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
