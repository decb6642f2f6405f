using System.Globalization;
using Snapstone.Domain.Packages;
using Snapstone.Domain.Units;

namespace Snapstone.Domain.Risk;

public enum RiskLevel { Standard, High }

/// <summary>A risk score with the reasons that make it up; <see cref="Critical"/> changes are refused outright.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.RiskAssessment")]
public sealed record RiskAssessment(
    [property: Id(0)] RiskLevel Level,
    [property: Id(1)] int Score,
    [property: Id(2)] IReadOnlyList<string> Reasons,
    [property: Id(3)] bool Critical = false);

/// <summary>Everything the assessment looks at; all but the unit are optional (a first package has no LKG).</summary>
public sealed record RiskInput
{
    public required UnitDefinition Unit { get; init; }
    public ContentShape? Change { get; init; }
    public ContentShape? Lkg { get; init; }
    public ValidationReport? Validation { get; init; }
    /// <summary>Share of the fleet consuming the unit, 0..1; null when the fleet is empty or unknown.</summary>
    public double? FleetShare { get; init; }
    public int RollbacksLast30Days { get; init; }
    /// <summary>Keys any earlier package of the unit carried; null when none is known.</summary>
    public IReadOnlySet<string>? KnownKeys { get; init; }
}

/// <summary>
/// Scores a unit and a change. Points add up; 50 or more is <see cref="RiskLevel.High"/>, and so is a
/// unit declared high or a flag whose tier was not declared. Worked example: a fail-closed (+25) file
/// consumed by 95% of the fleet (+20) whose item count grew 120% (+30) scores 75 → high.
/// A change whose shape is critical (validators failed, items over the unit's limit, size more than
/// doubled from at least 1 KiB) is <see cref="RiskAssessment.Critical"/> and must not be deployed.
/// </summary>
public static class RiskAssessor
{
    public const int HighThreshold = 50;
    public const long DoublingFloorBytes = 1024;

    public static RiskAssessment Assess(RiskInput input)
    {
        var reasons = new List<string>();
        var score = 0;
        var forcedHigh = false;
        var critical = false;
        var unit = input.Unit;

        void Add(int points, string reason)
        {
            score += points;
            reasons.Add($"{reason} (+{points})");
        }

        switch (unit.RiskTier)
        {
            case RiskTier.High:
                forcedHigh = true;
                Add(50, "declared risk tier high");
                break;
            case null when unit.Kind == UnitKind.Flag:
                forcedHigh = true;
                Add(50, "a flag in a global configuration system reaches every consumer at once; it is high-risk unless its tier is declared");
                break;
            case RiskTier.Standard when unit.Kind == UnitKind.Flag:
                Add(10, "a flag, declared standard by its owner");
                break;
        }

        switch (unit.FailureMode)
        {
            case FailureMode.FailClosed:
                Add(25, "fail-closed consumers stop serving when a package is bad");
                break;
            case FailureMode.FailOpen:
                Add(5, "fail-open consumers run without the configuration when a package is bad");
                break;
        }

        if (input.FleetShare is { } share)
        {
            if (share >= 0.9)
                Add(20, $"consumed by {Percent(share)} of the fleet");
            else if (share >= 0.5)
                Add(10, $"consumed by {Percent(share)} of the fleet");
        }

        if (input.Change is { } change && input.Lkg is { } lkg)
        {
            var sizeGrowth = PackageValidator.GrowthPercent(lkg.SizeBytes, change.SizeBytes);
            if (sizeGrowth > 100 && lkg.SizeBytes >= DoublingFloorBytes)
            {
                critical = true;
                Add(40, $"size more than doubled against the LKG ({lkg.SizeBytes} → {change.SizeBytes} bytes)");
            }
            else if (sizeGrowth > 50)
            {
                Add(15, $"size grew {Number(sizeGrowth)}% against the LKG ({lkg.SizeBytes} → {change.SizeBytes} bytes)");
            }
            if (lkg.ItemCount is { } before && change.ItemCount is { } after)
            {
                var itemGrowth = PackageValidator.GrowthPercent(before, after);
                if (itemGrowth > 100)
                    Add(30, $"item count more than doubled against the LKG ({before} → {after})");
                else if (itemGrowth > 25)
                    Add(10, $"item count grew {Number(itemGrowth)}% against the LKG ({before} → {after})");
            }
            var lkgKeys = lkg.Keys.ToHashSet(StringComparer.Ordinal);
            var changeKeys = change.Keys.ToHashSet(StringComparer.Ordinal);
            var removed = lkgKeys.Count(k => !changeKeys.Contains(k));
            var added = changeKeys.Count(k => !lkgKeys.Contains(k));
            if (removed > 0)
                Add(Math.Min(20, 5 + removed), $"{removed} key(s) removed against the LKG");
            if (added > 0)
                Add(Math.Min(10, 2 + added), $"{added} key(s) added against the LKG");
        }

        if (input.Change is { } shape && input.KnownKeys is { Count: > 0 } known)
        {
            var novel = shape.Keys.Where(k => !known.Contains(k)).Take(4).ToList();
            var novelCount = shape.Keys.Count(k => !known.Contains(k));
            if (novelCount > 0)
                Add(Math.Min(15, 5 + novelCount), $"{novelCount} key(s) never seen in any earlier package (e.g. {string.Join(", ", novel)})");
        }

        if (input.RollbacksLast30Days > 0)
            Add(Math.Min(30, 10 * input.RollbacksLast30Days), $"{input.RollbacksLast30Days} rollback(s) in the last 30 days");

        if (input.Validation is { Passed: false } validation)
        {
            critical = true;
            var failed = string.Join(", ", validation.Findings.Where(f => f.Severity == Severity.Error).Select(f => f.Rule).Distinct());
            Add(100, $"declared validators failed ({failed})");
        }

        var level = forcedHigh || critical || score >= HighThreshold ? RiskLevel.High : RiskLevel.Standard;
        return new RiskAssessment(level, score, reasons, critical);
    }

    private static string Percent(double share) => (share * 100).ToString("0.#", CultureInfo.InvariantCulture) + "%";

    private static string Number(double value) => Math.Round(value, 1).ToString(CultureInfo.InvariantCulture);
}
