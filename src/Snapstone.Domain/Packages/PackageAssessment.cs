using Snapstone.Domain.Risk;
using Snapstone.Domain.Units;

namespace Snapstone.Domain.Packages;

/// <summary>Validation and risk of one candidate package, and whether it may ever be deployed.</summary>
public sealed record PackageAssessment(ValidationReport Validation, RiskAssessment Risk, ContentShape Shape)
{
    /// <summary>
    /// Runs the unit's validators, then the risk assessment. A change whose shape is critical is refused even
    /// when the declared validators pass: it gains a <c>critical-change</c> error finding, so it is stored as
    /// rejected and never reaches a node.
    /// </summary>
    public static PackageAssessment Of(ReadOnlySpan<byte> content, UnitDefinition unit, PackageHistory history)
    {
        var (validation, shape) = PackageValidator.Validate(content, unit.Validators, history.LkgShape);
        var risk = RiskAssessor.Assess(new RiskInput
        {
            Unit = unit,
            Change = shape,
            Lkg = history.LkgShape,
            Validation = validation,
            FleetShare = history.FleetShare,
            RollbacksLast30Days = history.RollbacksLast30Days,
            KnownKeys = history.KnownKeys,
        });
        if (risk.Critical && validation.Passed)
        {
            var why = risk.Reasons.Where(r => r.Contains("doubled", StringComparison.Ordinal)).DefaultIfEmpty("critical change").First();
            validation = new ValidationReport([.. validation.Findings,
                new Finding("critical-change", Severity.Error, $"refused: {why}; split the change or raise the unit's limits first")]);
        }
        return new PackageAssessment(validation, risk, shape);
    }
}

/// <summary>What a unit remembers of its past packages, for validation against the LKG and for risk.</summary>
public sealed record PackageHistory
{
    public ContentShape? LkgShape { get; init; }
    public IReadOnlySet<string>? KnownKeys { get; init; }
    public int RollbacksLast30Days { get; init; }
    public double? FleetShare { get; init; }

    public static readonly PackageHistory None = new();
}
