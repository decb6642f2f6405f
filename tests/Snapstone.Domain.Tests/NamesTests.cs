namespace Snapstone.Domain.Tests;

public class NamesTests
{
    private const string Rule = "^[a-z0-9][a-z0-9._-]{0,99}$";
    private const string Hint = " (lower-case letters, digits, '.', '_', '-'; at most 100 characters)";

    [Theory]
    [InlineData("bot-features")]
    [InlineData("a")]
    [InlineData("0")]
    [InlineData("a.b_c-d")]
    [InlineData("9lives")]
    [InlineData("edge-ams01-0042.example")]
    public void Valid_names_pass(string name)
    {
        Assert.True(Names.IsValid(name));
        Assert.Null(Names.Check("unit", name));
    }

    [Fact]
    public void One_hundred_characters_is_the_longest_valid_name()
    {
        Assert.Null(Names.Check("unit", new string('a', 100)));
    }

    [Theory]
    [InlineData("upper case", "Bot", "unit 'Bot' must match " + Rule + Hint)]
    [InlineData("leading hyphen", "-abc", "unit '-abc' must match " + Rule + Hint)]
    [InlineData("leading dot", ".abc", "unit '.abc' must match " + Rule + Hint)]
    [InlineData("leading underscore", "_abc", "unit '_abc' must match " + Rule + Hint)]
    [InlineData("space", "bot features", "unit 'bot features' must match " + Rule + Hint)]
    [InlineData("slash", "bot/features", "unit 'bot/features' must match " + Rule + Hint)]
    [InlineData("non-ASCII letter", "ünit", "unit 'ünit' must match " + Rule + Hint)]
    [InlineData("trailing newline", "abc\n", "unit 'abc\n' must match " + Rule + Hint)]
    [InlineData("empty", "", "unit is required and must match " + Rule)]
    [InlineData("missing", null, "unit is required and must match " + Rule)]
    public void Invalid_names_are_refused_with_the_field_and_the_rule(string because, string? name, string expected)
    {
        Assert.False(Names.IsValid(name), because);
        Assert.Equal(expected, Names.Check("unit", name));
    }

    [Fact]
    public void A_name_of_101_characters_is_refused()
    {
        var name = new string('a', 101);
        Assert.False(Names.IsValid(name));
        Assert.Equal($"node '{name}' must match {Rule}{Hint}", Names.Check("node", name));
    }

    [Fact]
    public void A_very_long_name_is_shortened_in_the_message()
    {
        var name = new string('A', 500);
        Assert.Equal($"plan '{new string('A', 117)}...' must match {Rule}{Hint}", Names.Check("plan", name));
    }
}
