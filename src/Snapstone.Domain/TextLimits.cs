namespace Snapstone.Domain;

/// <summary>
/// Free text a person writes (reasons, messages, descriptions) is limited in UTF-8 bytes, the unit it is stored in,
/// not in UTF-16 characters: a limit of 2,000 characters admits 6,000 bytes of "€", and what bounds a stored row is
/// its bytes.
/// </summary>
public static class TextLimits
{
    /// <summary>Null when <paramref name="value"/> fits in <paramref name="maxBytes"/> bytes of UTF-8; else the refusal naming <paramref name="field"/>.</summary>
    public static string? TooLong(string field, string? value, int maxBytes)
    {
        // A UTF-16 unit is at most three bytes of UTF-8 (a surrogate pair, two units, is four): most text needs no count.
        if (value is null || value.Length * 3L <= maxBytes)
        {
            return null;
        }
        var bytes = System.Text.Encoding.UTF8.GetByteCount(value);
        return bytes <= maxBytes ? null : $"{field} must be at most {maxBytes} bytes of UTF-8 (got {bytes})";
    }
}
