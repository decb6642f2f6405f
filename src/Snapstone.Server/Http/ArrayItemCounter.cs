using System.Text.Json;

namespace Snapstone.Server.Http;

/// <summary>
/// Counts the items of one top-level array property (<c>{"reports": [ … ]}</c>) in a JSON body while its bytes
/// arrive, so a body with more items than the limit is refused after the first bytes past it, not after the whole
/// body has been read and deserialized (a 16 MiB body of <c>{},</c> is five million reports).
/// </summary>
/// <remarks>
/// It reads tokens only (no values are materialized) with a reader state carried from one chunk to the next. A body
/// that is not well-formed JSON stops the count; the full parse afterwards names what is wrong with it.
/// </remarks>
public sealed class ArrayItemCounter(string property, int limit)
{
    private readonly byte[] _property = System.Text.Encoding.UTF8.GetBytes(property);
    private JsonReaderState _state = new(new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow });
    private int _consumed;
    private bool _stopped;
    private bool _named;
    private bool _inside;

    public int Count { get; private set; }

    public int Limit => limit;

    /// <summary>The property whose array is counted, as a refusal names it.</summary>
    public string Property => property;

    /// <summary>Reads the bytes that arrived since the last call (<paramref name="body"/> is everything so far).</summary>
    /// <returns>False once the array holds more than the limit.</returns>
    public bool Feed(ReadOnlySpan<byte> body, bool final)
    {
        if (_stopped)
        {
            return Count <= limit;
        }
        var reader = new Utf8JsonReader(body[_consumed..], final, _state);
        try
        {
            while (reader.Read())
            {
                switch (reader.CurrentDepth)
                {
                    case 1 when reader.TokenType == JsonTokenType.PropertyName:
                        _named = reader.ValueTextEquals(_property);
                        break;
                    case 1 when _named && reader.TokenType == JsonTokenType.StartArray:
                        _inside = true;
                        break;
                    case 1 when reader.TokenType == JsonTokenType.EndArray:
                        _inside = false;
                        _named = false;
                        break;
                    case 2 when _inside && reader.TokenType is not (JsonTokenType.EndObject or JsonTokenType.EndArray):
                        if (++Count > limit)
                        {
                            _stopped = true;
                            return false;
                        }
                        break;
                }
            }
        }
        catch (JsonException)
        {
            _stopped = true;
            return true;
        }
        _consumed += (int)reader.BytesConsumed;
        _state = reader.CurrentState;
        return true;
    }
}
