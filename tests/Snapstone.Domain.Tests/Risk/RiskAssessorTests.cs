using Snapstone.Domain.Packages;
using Snapstone.Domain.Risk;
using Snapstone.Domain.Units;

namespace Snapstone.Domain.Tests.Risk;

public class RiskAssessorTests
{
    private static readonly UnitDefinition File = new() { Owner = "bot-management", Kind = UnitKind.File, FailureMode = FailureMode.FailStale };

    private static ContentShape Shape(long bytes, int? items = null, params string[] keys) =>
        new() { SizeBytes = bytes, ItemCount = items, Keys = keys, Parsed = true };

    public static TheoryData<string, RiskInput, RiskLevel, int, bool, string[]> Cases => new()
    {
        {
            "standard small change", new RiskInput { Unit = File, FleetShare = 0.3, Lkg = Shape(1000, 100, "features"), Change = Shape(1010, 101, "features") },
            RiskLevel.Standard, 0, false, []
        },
        {
            "a flag with no declared tier is high", new RiskInput { Unit = File with { Kind = UnitKind.Flag } },
            RiskLevel.High, 50, false,
            ["a flag in a global configuration system reaches every consumer at once; it is high-risk unless its tier is declared (+50)"]
        },
        {
            "a flag declared standard", new RiskInput { Unit = File with { Kind = UnitKind.Flag, RiskTier = RiskTier.Standard } },
            RiskLevel.Standard, 10, false, ["a flag, declared standard by its owner (+10)"]
        },
        {
            "declared high", new RiskInput { Unit = File with { RiskTier = RiskTier.High } },
            RiskLevel.High, 50, false, ["declared risk tier high (+50)"]
        },
        {
            // 25 + 20 = 45 stays under the threshold of 50 on its own.
            "fail-closed consumed by 95% of the fleet", new RiskInput { Unit = File with { FailureMode = FailureMode.FailClosed }, FleetShare = 0.95 },
            RiskLevel.Standard, 45, false,
            ["fail-closed consumers stop serving when a package is bad (+25)", "consumed by 95% of the fleet (+20)"]
        },
        {
            "the documented example: fail-closed, 95%, items +120%",
            new RiskInput { Unit = File with { FailureMode = FailureMode.FailClosed }, FleetShare = 0.95, Lkg = Shape(10_000, 100), Change = Shape(10_000, 220) },
            RiskLevel.High, 75, false,
            ["fail-closed consumers stop serving when a package is bad (+25)", "consumed by 95% of the fleet (+20)", "item count more than doubled against the LKG (100 → 220) (+30)"]
        },
        {
            "fail-open, half the fleet", new RiskInput { Unit = File with { FailureMode = FailureMode.FailOpen }, FleetShare = 0.5 },
            RiskLevel.Standard, 15, false,
            ["fail-open consumers run without the configuration when a package is bad (+5)", "consumed by 50% of the fleet (+10)"]
        },
        {
            "size more than doubled from 1 KiB is critical", new RiskInput { Unit = File, Lkg = Shape(1024), Change = Shape(2049) },
            RiskLevel.High, 40, true, ["size more than doubled against the LKG (1024 → 2049 bytes) (+40)"]
        },
        {
            "exactly doubled is not more than doubled", new RiskInput { Unit = File, Lkg = Shape(1024), Change = Shape(2048) },
            RiskLevel.Standard, 15, false, ["size grew 100% against the LKG (1024 → 2048 bytes) (+15)"]
        },
        {
            "tripled but from under 1 KiB", new RiskInput { Unit = File, Lkg = Shape(1000), Change = Shape(3000) },
            RiskLevel.Standard, 15, false, ["size grew 200% against the LKG (1000 → 3000 bytes) (+15)"]
        },
        {
            "items grew 30%", new RiskInput { Unit = File, Lkg = Shape(5000, 100), Change = Shape(5000, 130) },
            RiskLevel.Standard, 10, false, ["item count grew 30% against the LKG (100 → 130) (+10)"]
        },
        {
            "keys removed and added", new RiskInput { Unit = File, Lkg = Shape(100, null, "a", "b", "c"), Change = Shape(100, null, "a", "d") },
            RiskLevel.Standard, 10, false, ["2 key(s) removed against the LKG (+7)", "1 key(s) added against the LKG (+3)"]
        },
        {
            "keys never seen before", new RiskInput { Unit = File, Change = Shape(100, null, "a", "z"), KnownKeys = new HashSet<string> { "a" } },
            RiskLevel.Standard, 6, false, ["1 key(s) never seen in any earlier package (e.g. z) (+6)"]
        },
        {
            "recent rollbacks", new RiskInput { Unit = File, RollbacksLast30Days = 4 },
            RiskLevel.Standard, 30, false, ["4 rollback(s) in the last 30 days (+30)"]
        },
        {
            "failed validation is critical",
            new RiskInput
            {
                Unit = File,
                Validation = new ValidationReport([new Finding("max-items", Severity.Error, "$.features holds 201 items; the unit allows at most 200", 200, 201),
                    new Finding("max-items", Severity.Error, "again"), new Finding("max-bytes", Severity.Error, "too big"), new Finding("note", Severity.Warning, "fyi")]),
            },
            RiskLevel.High, 100, true, ["declared validators failed (max-items, max-bytes) (+100)"]
        },
        {
            "warnings alone do not fail validation",
            new RiskInput { Unit = File, Validation = new ValidationReport([new Finding("note", Severity.Warning, "fyi")]) },
            RiskLevel.Standard, 0, false, []
        },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Scores_add_up_with_their_reasons(string because, RiskInput input, RiskLevel level, int score, bool critical, string[] reasons)
    {
        var risk = RiskAssessor.Assess(input);
        Assert.True(reasons.SequenceEqual(risk.Reasons), $"{because}: got [{string.Join(" | ", risk.Reasons)}]");
        Assert.Equal((level, score, critical), (risk.Level, risk.Score, risk.Critical));
    }
}
