using System.Text;
using Snapstone.Domain.Packages;
using Snapstone.Domain.Units;

namespace Snapstone.Domain.Tests.Packages;

public class PackageValidatorTests
{
    private static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

    private static string Features(int count) =>
        "{ \"version\": 1, \"features\": [" + string.Join(", ", Enumerable.Range(0, count).Select(i => $"\"f{i}\"")) + "] }";

    private static readonly ValidatorSpec FeatureFile = new()
    {
        Format = ContentFormat.Json,
        MaxItems = new MaxItemsRule("$.features", 200),
    };

    private static (ValidationReport Report, ContentShape Shape) Validate(string content, ValidatorSpec spec, ContentShape? lkg = null) =>
        PackageValidator.Validate(Utf8(content), spec, lkg);

    [Theory]
    [InlineData(10, 10, true)]
    [InlineData(11, 10, false)]
    public void Max_bytes_names_the_size_and_the_limit(int size, long max, bool passed)
    {
        var (report, shape) = PackageValidator.Validate(new byte[size], new ValidatorSpec { MaxBytes = max }, null);
        Assert.Equal(passed, report.Passed);
        Assert.Equal(size, shape.SizeBytes);
        if (!passed)
        {
            Assert.Equal(new Finding("max-bytes", Severity.Error, $"content is {size} bytes; the unit allows at most {max}", max, size), Assert.Single(report.Findings));
        }
    }

    // After our 1-based position comes System.Text.Json's own sentence, whose wording is the runtime's, not ours.
    [Theory]
    [InlineData("{\n  \"a\": 1,\n  \"b\": \n}", "content is not valid JSON (line 4, byte 1): '}' is an invalid start of a value")]
    [InlineData("{ \"a\": 1 ", "content is not valid JSON (line 1, byte 10): ")]
    [InlineData("", "content is not valid JSON (line 1, byte 1): ")]
    [InlineData("[1, 2,\n 3,,]", "content is not valid JSON (line 2, byte 4): ")]
    public void A_json_parse_error_names_the_line_counting_from_one(string content, string expectedStart)
    {
        var (report, shape) = Validate(content, FeatureFile);
        var finding = Assert.Single(report.Findings);
        Assert.Equal(("format", Severity.Error), (finding.Rule, finding.Severity));
        Assert.StartsWith(expectedStart, finding.Message);
        Assert.DoesNotContain("LineNumber", finding.Message); // the reader's 0-based position would contradict ours
        Assert.False(shape.Parsed);
    }

    [Theory]
    [InlineData(200, null)]
    [InlineData(201, "$.features holds 201 items; the unit allows at most 200")]
    [InlineData(400, "$.features holds 400 items; the unit allows at most 200")]
    public void Max_items_counts_the_items_at_the_path(int count, string? expected)
    {
        var (report, shape) = Validate(Features(count), FeatureFile);
        Assert.Equal(count, shape.ItemCount);
        Assert.Equal(expected, report.Findings.SingleOrDefault()?.Message);
        if (expected is not null)
        {
            Assert.Equal(new Finding("max-items", Severity.Error, expected, 200, count), report.Findings[0]);
        }
    }

    [Theory]
    [InlineData("""{ "features": { "a": 1, "b": 2, "c": 3 } }""", 2, "$.features holds 3 items; the unit allows at most 2")]
    [InlineData("""{ "other": [] }""", 2, "$.features must select an array or object (found nothing)")]
    [InlineData("""{ "features": 7 }""", 2, "$.features must select an array or object (found number)")]
    [InlineData("""{ "features": "abc" }""", 2, "$.features must select an array or object (found string)")]
    public void Max_items_counts_object_members_and_refuses_other_shapes(string content, int max, string expected)
    {
        var (report, _) = Validate(content, FeatureFile with { MaxItems = new MaxItemsRule("$.features", max) });
        Assert.Equal(expected, Assert.Single(report.Findings).Message);
    }

    [Fact]
    public void The_shape_lists_top_level_keys_and_item_ids()
    {
        var content = """{ "version": 1, "features": [ "a", { "name": "b" }, { "id": "c" }, { "key": "d" }, 5, { "other": "x" } ] }""";
        var (report, shape) = Validate(content, FeatureFile);
        Assert.True(report.Passed);
        Assert.Equal(new[] { "version", "features", "item:a", "item:b", "item:c", "item:d" }, shape.Keys);
        Assert.Equal(6, shape.ItemCount);
        Assert.True(shape.Parsed);
    }

    private static readonly int Size160 = Utf8(Features(160)).Length;

    public static TheoryData<string, int, ContentShape, string[]> GrowthCases => new()
    {
        { "items +60% against 50% allowed", 160, new ContentShape { SizeBytes = Size160, ItemCount = 100 },
            ["items at $.features grew 60% against the LKG (100 → 160); the unit allows at most 50%"] },
        { "items +50% is allowed", 150, new ContentShape { SizeBytes = Utf8(Features(150)).Length, ItemCount = 100 }, [] },
        { "bytes doubled, items steady", 160, new ContentShape { SizeBytes = Size160 / 2, ItemCount = 160 },
            [$"bytes grew 100% against the LKG ({Size160 / 2} → {Size160}); the unit allows at most 50%"] },
        { "an empty LKG makes any growth infinite", 160, new ContentShape { SizeBytes = 0 },
            [$"bytes grew ∞% against the LKG (0 → {Size160}); the unit allows at most 50%"] },
    };

    [Theory]
    [MemberData(nameof(GrowthCases))]
    public void Max_growth_compares_bytes_and_items_with_the_lkg(string because, int items, ContentShape lkg, string[] expected)
    {
        var (report, _) = Validate(Features(items), FeatureFile with { MaxItems = new MaxItemsRule("$.features", 1000), MaxGrowthPercent = 50 }, lkg);
        Assert.True(expected.SequenceEqual(report.Findings.Select(f => f.Message)), $"{because}: got [{string.Join(" | ", report.Findings.Select(f => f.Message))}]");
        Assert.All(report.Findings, f => Assert.Equal("max-growth", f.Rule));
    }

    [Fact]
    public void Max_growth_records_the_limit_and_the_growth()
    {
        var (report, _) = Validate(Features(160), FeatureFile with { MaxItems = new MaxItemsRule("$.features", 1000), MaxGrowthPercent = 50 },
            new ContentShape { SizeBytes = Utf8(Features(160)).Length, ItemCount = 100 });
        var finding = Assert.Single(report.Findings);
        Assert.Equal((50.0, 60.0), (finding.Limit, finding.Value));
    }

    [Fact]
    public void Without_an_lkg_there_is_no_growth_check()
    {
        var (report, _) = Validate(Features(160), FeatureFile with { MaxItems = new MaxItemsRule("$.features", 1000), MaxGrowthPercent = 0 }, null);
        Assert.Empty(report.Findings);
    }

    [Theory]
    [InlineData("""{ "features": ["a"] }""", null)]
    [InlineData("""{ "other": 1 }""", "/ (required)")]
    [InlineData("""{ "features": [1] }""", "/features/0 (type)")]
    public void Json_schema_failures_name_where_and_which_keyword(string content, string? expectedPrefix)
    {
        var spec = new ValidatorSpec
        {
            JsonSchema = """{ "type": "object", "required": ["features"], "properties": { "features": { "type": "array", "items": { "type": "string" } } } }""",
        };
        var (report, _) = Validate(content, spec);
        if (expectedPrefix is null)
        {
            Assert.Empty(report.Findings);
            return;
        }
        var finding = Assert.Single(report.Findings);
        Assert.Equal(("json-schema", Severity.Error), (finding.Rule, finding.Severity));
        Assert.StartsWith(expectedPrefix, finding.Message);
    }

    [Fact]
    public void A_schema_whose_reference_cannot_be_resolved_is_a_finding_not_a_crash()
    {
        var spec = new ValidatorSpec { JsonSchema = """{ "$ref": "https://example.com/elsewhere.json" }""" };
        var (report, _) = Validate("""{ "a": 1 }""", spec);
        var finding = Assert.Single(report.Findings);
        Assert.Equal("json-schema", finding.Rule);
        Assert.Equal("the unit's schema cannot be evaluated: Could not resolve 'https://example.com/elsewhere.json'", finding.Message);
        Assert.False(report.Passed);
    }

    [Theory]
    [InlineData(new byte[] { 0x68, 0xC3, 0xA9, 0x6C, 0x6C, 0x6F }, true)] // "héllo"
    [InlineData(new byte[] { 0xC3, 0x28 }, false)]                         // broken two-byte sequence
    [InlineData(new byte[] { 0xFF }, false)]
    [InlineData(new byte[0], true)]
    public void Text_must_be_utf8(byte[] content, bool passed)
    {
        var (report, _) = PackageValidator.Validate(content, new ValidatorSpec { Format = ContentFormat.Text }, null);
        Assert.Equal(passed, report.Passed);
        if (!passed)
        {
            Assert.Equal(new Finding("format", Severity.Error, "content is not valid UTF-8 text"), Assert.Single(report.Findings));
        }
    }

    [Theory]
    [InlineData(0, 0, 0)]
    [InlineData(0, 5, double.PositiveInfinity)]
    [InlineData(100, 250, 150)]
    [InlineData(200, 100, -50)]
    public void Growth_percent_is_relative_to_before(double before, double after, double expected)
    {
        Assert.Equal(expected, PackageValidator.GrowthPercent(before, after));
    }
}
