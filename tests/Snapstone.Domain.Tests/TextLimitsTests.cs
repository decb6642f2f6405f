using Snapstone.Domain;

namespace Snapstone.Domain.Tests;

public sealed class TextLimitsTests
{
    public static TheoryData<string, string?, int, string?> Cases => new()
    {
        { "null", null, 10, null },
        { "empty", "", 0, null },
        { "ASCII at the limit", new string('a', 10), 10, null },
        { "ASCII past it", new string('a', 11), 10, "reason must be at most 10 bytes of UTF-8 (got 11)" },
        // "€" is one UTF-16 unit and three bytes: four of them are 4 characters but 12 bytes.
        { "three-byte characters past it in bytes, not in characters", "€€€€", 10, "reason must be at most 10 bytes of UTF-8 (got 12)" },
        { "three-byte characters within it", "€€€", 9, null },
        // An emoji is a surrogate pair (two units) and four bytes.
        { "emoji counted as four bytes each", "😀😀😀", 11, "reason must be at most 11 bytes of UTF-8 (got 12)" },
        { "emoji at the limit", "😀😀😀", 12, null },
        { "mixed", "a€😀", 8, null },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Text_is_limited_in_bytes_of_utf8(string _, string? value, int maxBytes, string? refusal) =>
        Assert.Equal(refusal, TextLimits.TooLong("reason", value, maxBytes));
}
