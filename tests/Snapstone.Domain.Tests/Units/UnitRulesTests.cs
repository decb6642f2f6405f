using Snapstone.Domain.Units;

namespace Snapstone.Domain.Tests.Units;

public class UnitRulesTests
{
    private const string Rule = "^[a-z0-9][a-z0-9._-]{0,99}$";
    private const string Hint = " (lower-case letters, digits, '.', '_', '-'; at most 100 characters)";

    private static readonly UnitDefinition Valid = new()
    {
        Owner = "bot-management",
        Description = "ML feature file for the bot score",
        Plan = "standard",
        Validators = new ValidatorSpec
        {
            MaxBytes = 1_048_576, Format = ContentFormat.Json, MaxItems = new MaxItemsRule("$.features", 200), MaxGrowthPercent = 50,
            JsonSchema = """{ "type": "object" }""",
        },
        Targets = new UnitTargets(new Dictionary<string, string> { ["proxy"] = "fl2" }),
    };

    private static ValidatorSpec V(ValidatorSpec change) => change;

    private static UnitTargets Labels(int count, string key = "k", string value = "v") =>
        new(Enumerable.Range(0, count).ToDictionary(i => count == 1 ? key : $"{key}{i}", _ => value));

    public static TheoryData<string, UnitDefinition, string?> Cases => new()
    {
        { "the valid unit", Valid, null },
        { "owner at the limit", Valid with { Owner = new string('o', 100) }, null },
        { "description at the limit", Valid with { Description = new string('d', 2000) }, null },
        { "maxBytes at the ceiling", Valid with { Validators = Valid.Validators with { MaxBytes = 64L * 1024 * 1024 } }, null },
        { "maxItems.max 0 and 10000000 are bounds", Valid with { Validators = Valid.Validators with { MaxItems = new("$.features", 10_000_000) } }, null },
        { "16 labels", Valid with { Targets = Labels(16) }, null },
        { "empty owner", Valid with { Owner = "" }, "owner is required" },
        { "blank owner", Valid with { Owner = "   " }, "owner is required" },
        { "owner of 101", Valid with { Owner = new string('o', 101) }, "owner must be at most 100 characters (got 101)" },
        { "description of 2001", Valid with { Description = new string('d', 2001) }, "description must be at most 2000 bytes of UTF-8 (got 2001)" },
        { "plan not a name", Valid with { Plan = "High Risk" }, "plan 'High Risk' must match " + Rule + Hint },
        { "plan empty", Valid with { Plan = "" }, "plan is required and must match " + Rule },
        { "maxBytes 0", Valid with { Validators = Valid.Validators with { MaxBytes = 0 } }, "validators.maxBytes must be between 1 and 67108864 (got 0)" },
        { "maxBytes over 64 MiB", Valid with { Validators = Valid.Validators with { MaxBytes = 64L * 1024 * 1024 + 1 } }, "validators.maxBytes must be between 1 and 67108864 (got 67108865)" },
        { "maxItems path without $", Valid with { Validators = Valid.Validators with { MaxItems = new("features", 200) } }, "validators.maxItems.path must start with '$' (e.g. $.features)" },
        { "maxItems.max negative", Valid with { Validators = Valid.Validators with { MaxItems = new("$.features", -1) } }, "validators.maxItems.max must be between 0 and 10000000 (got -1)" },
        { "maxItems.max too big", Valid with { Validators = Valid.Validators with { MaxItems = new("$.features", 10_000_001) } }, "validators.maxItems.max must be between 0 and 10000000 (got 10000001)" },
        { "maxItems on text", Valid with { Validators = V(new() { Format = ContentFormat.Text, MaxItems = new("$.features", 200) }) }, "validators.maxItems needs format json (got text)" },
        { "maxGrowthPercent negative", Valid with { Validators = Valid.Validators with { MaxGrowthPercent = -1 } }, "validators.maxGrowthPercent must be between 0 and 100000 (got -1)" },
        { "maxGrowthPercent NaN", Valid with { Validators = Valid.Validators with { MaxGrowthPercent = double.NaN } }, "validators.maxGrowthPercent must be between 0 and 100000 (got NaN)" },
        { "maxGrowthPercent too big", Valid with { Validators = Valid.Validators with { MaxGrowthPercent = 100_001 } }, "validators.maxGrowthPercent must be between 0 and 100000 (got 100001)" },
        { "jsonSchema on text", Valid with { Validators = V(new() { Format = ContentFormat.Text, JsonSchema = "{}" }) }, "validators.jsonSchema needs format json (got text)" },
        { "jsonSchema too long", Valid with { Validators = V(new() { JsonSchema = new string(' ', 256 * 1024 + 1) }) }, "validators.jsonSchema must be at most 262144 characters (got 262145)" },
        { "17 labels", Valid with { Targets = Labels(17) }, "targets.labels may hold at most 16 labels (got 17)" },
        { "label key not a name", Valid with { Targets = Labels(1, key: "Proxy") }, "targets.labels key 'Proxy' must match " + Rule + Hint },
        { "label value empty", Valid with { Targets = Labels(1, key: "proxy", value: "") }, "targets.labels.proxy must be 1 to 100 characters" },
        { "label value of 101", Valid with { Targets = Labels(1, key: "proxy", value: new string('v', 101)) }, "targets.labels.proxy must be 1 to 100 characters" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Each_bound_is_named_with_its_limit(string because, UnitDefinition unit, string? expected)
    {
        var errors = UnitRules.Check(unit);
        Assert.True((expected is null ? [] : new[] { expected }).SequenceEqual(errors), $"{because}: got [{string.Join(" | ", errors)}]");
    }

    [Theory]
    [InlineData("{")]
    [InlineData("not json")]
    [InlineData("[1, 2]")]
    [InlineData("5")]
    [InlineData("""{ "type": 5 }""")]
    [InlineData("""{ "minimum": "x" }""")]
    public void An_unusable_schema_is_an_error_not_a_crash(string schema)
    {
        var errors = UnitRules.Check(Valid with { Validators = V(new() { JsonSchema = schema }) });
        var error = Assert.Single(errors);
        Assert.StartsWith("validators.jsonSchema is not a usable JSON Schema: ", error);
    }

    [Fact]
    public void Several_problems_are_all_reported()
    {
        var errors = UnitRules.Check(Valid with { Owner = "", Plan = "", Validators = Valid.Validators with { MaxBytes = 0 } });
        Assert.Equal(new[]
        {
            "owner is required",
            "plan is required and must match " + Rule,
            "validators.maxBytes must be between 1 and 67108864 (got 0)",
        }, errors);
    }

    [Theory]
    [InlineData(ContentFormat.Json, false, false, true)]
    [InlineData(ContentFormat.Text, false, false, false)]
    [InlineData(null, false, false, false)]
    [InlineData(null, true, false, true)]
    [InlineData(null, false, true, true)]
    public void Json_is_declared_or_implied_by_a_json_only_validator(ContentFormat? format, bool maxItems, bool schema, bool expected)
    {
        var spec = new ValidatorSpec
        {
            Format = format,
            MaxItems = maxItems ? new MaxItemsRule("$.features", 1) : null,
            JsonSchema = schema ? "{}" : null,
        };
        Assert.Equal(expected, UnitRules.IsJson(spec));
    }
}
