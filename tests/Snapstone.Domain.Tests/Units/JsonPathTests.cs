using System.Text.Json;
using Snapstone.Domain.Units;

namespace Snapstone.Domain.Tests.Units;

public class JsonPathTests
{
    [Theory]
    [InlineData("$")]
    [InlineData("$.features")]
    [InlineData("$.rules[0].items")]
    [InlineData("$[3]")]
    [InlineData("$.a.b.c")]
    public void Valid_paths_parse(string text)
    {
        Assert.Null(JsonPath.TryParse(text, out var path));
        Assert.Equal(text, path!.Text);
    }

    [Theory]
    [InlineData(null, "must start with '$' (e.g. $.features)")]
    [InlineData("", "must start with '$' (e.g. $.features)")]
    [InlineData("features", "must start with '$' (e.g. $.features)")]
    [InlineData("$.", "has an empty property name at position 2")]
    [InlineData("$.a..b", "has an empty property name at position 4")]
    [InlineData("$.a[", "has a bad index at position 3 (use [0], [1], ...)")]
    [InlineData("$[x]", "has a bad index at position 1 (use [0], [1], ...)")]
    [InlineData("$[-1]", "has a bad index at position 1 (use [0], [1], ...)")]
    [InlineData("$[]", "has a bad index at position 1 (use [0], [1], ...)")]
    [InlineData("$a", "has an unexpected 'a' at position 1")]
    [InlineData("$.a[0]b", "has an unexpected 'b' at position 6")]
    public void Bad_paths_say_what_and_where(string? text, string expected)
    {
        Assert.Equal(expected, JsonPath.TryParse(text, out var path));
        Assert.Null(path);
    }

    [Fact]
    public void Paths_longer_than_500_characters_are_refused()
    {
        Assert.Null(JsonPath.TryParse("$." + new string('a', 498), out _));
        Assert.Equal("must be at most 500 characters", JsonPath.TryParse("$." + new string('a', 499), out _));
    }

    private const string Document = """{ "features": ["a", "b", "c"], "rules": [ { "items": { "x": 1 } } ], "n": 5 }""";

    [Theory]
    [InlineData("$", """{ "features": ["a", "b", "c"], "rules": [ { "items": { "x": 1 } } ], "n": 5 }""")]
    [InlineData("$.features", """["a", "b", "c"]""")]
    [InlineData("$.features[2]", "\"c\"")]
    [InlineData("$.rules[0].items", """{ "x": 1 }""")]
    [InlineData("$.rules[0].items.x", "1")]
    [InlineData("$.missing", null)]
    [InlineData("$.features[3]", null)]
    [InlineData("$.n.x", null)]
    [InlineData("$.features.x", null)]
    [InlineData("$[0]", null)]
    public void Select_walks_properties_and_indexes_or_gives_null(string text, string? expected)
    {
        using var document = JsonDocument.Parse(Document);
        JsonPath.TryParse(text, out var path);
        Assert.Equal(expected, path!.Select(document.RootElement)?.GetRawText());
    }
}
