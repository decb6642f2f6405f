using Snapstone.Domain.Units;

namespace Snapstone.Domain.Tests.Units;

public sealed class DefinitionChangeTests
{
    private static readonly UnitDefinition Guarded = new()
    {
        Owner = "edge",
        Kind = UnitKind.File,
        RiskTier = RiskTier.High,
        FailureMode = FailureMode.FailClosed,
        Validators = new ValidatorSpec
        {
            MaxBytes = 65536, Format = ContentFormat.Json, MaxItems = new MaxItemsRule("$.features", 200), MaxGrowthPercent = 50,
            JsonSchema = "{\"type\":\"object\"}",
        },
    };

    public static TheoryData<string, Func<UnitDefinition, UnitDefinition>, string[]> Changes => new()
    {
        { "description only", u => u with { Description = "new words" }, [] },
        { "stricter everywhere", u => u with { Validators = u.Validators with { MaxBytes = 1024, MaxItems = new MaxItemsRule("$.features", 100), MaxGrowthPercent = 10 } }, [] },
        { "tier high to standard", u => u with { RiskTier = RiskTier.Standard }, ["riskTier lowered from high to standard"] },
        { "tier high to undeclared, a file", u => u with { RiskTier = null }, ["riskTier lowered from high to standard (an undeclared file is standard)"] },
        { "tier high to undeclared, a flag", u => u with { RiskTier = null, Kind = UnitKind.Flag }, [] },
        { "fail-closed to fail-stale", u => u with { FailureMode = FailureMode.FailStale }, ["failureMode lowered from fail-closed to fail-stale"] },
        { "fail-closed to fail-open", u => u with { FailureMode = FailureMode.FailOpen }, ["failureMode lowered from fail-closed to fail-open"] },
        { "onAlarm rollback to pause", u => u with { OnAlarm = OnAlarm.Pause }, ["onAlarm lowered from rollback to pause: a firing alert no longer sends nodes back"] },
        { "maxBytes raised", u => u with { Validators = u.Validators with { MaxBytes = 1 << 20 } }, ["validators.maxBytes raised from 65536 to 1048576"] },
        { "maxItems removed", u => u with { Validators = u.Validators with { MaxItems = null } }, ["validators.maxItems removed (was at most 200 at $.features)"] },
        { "maxItems raised", u => u with { Validators = u.Validators with { MaxItems = new MaxItemsRule("$.features", 400) } }, ["validators.maxItems raised from 200 to 400"] },
        { "maxItems moved", u => u with { Validators = u.Validators with { MaxItems = new MaxItemsRule("$.other", 200) } }, ["validators.maxItems.path changed from $.features to $.other"] },
        { "growth removed", u => u with { Validators = u.Validators with { MaxGrowthPercent = null } }, ["validators.maxGrowthPercent removed (was 50)"] },
        { "schema changed", u => u with { Validators = u.Validators with { JsonSchema = "{}" } }, ["validators.jsonSchema changed (it may accept what it refused)"] },
        { "every validator removed", u => u with { Validators = new ValidatorSpec() },
            ["validators.maxBytes removed (was 65536)", "validators.format no longer json: content is no longer parse-checked",
             "validators.maxItems removed (was at most 200 at $.features)", "validators.maxGrowthPercent removed (was 50)", "validators.jsonSchema removed"] },
        { "tier and mode together", u => u with { RiskTier = RiskTier.Standard, FailureMode = FailureMode.FailStale },
            ["riskTier lowered from high to standard", "failureMode lowered from fail-closed to fail-stale"] },
    };

    [Theory]
    [MemberData(nameof(Changes))]
    public void A_redefinition_needs_a_second_person_exactly_when_it_weakens_the_unit(string _, Func<UnitDefinition, UnitDefinition> change, string[] expected)
    {
        Assert.Equal(expected, DefinitionChange.Weakens(Guarded, change(Guarded)));
    }

    [Theory]
    [InlineData(UnitKind.Flag, null, RiskTier.High)]
    [InlineData(UnitKind.File, null, RiskTier.Standard)]
    [InlineData(UnitKind.Flag, RiskTier.Standard, RiskTier.Standard)]
    [InlineData(UnitKind.File, RiskTier.High, RiskTier.High)]
    public void The_effective_tier_is_the_one_the_risk_assessor_reads(UnitKind kind, RiskTier? declared, RiskTier effective)
    {
        Assert.Equal(effective, DefinitionChange.EffectiveTier(new UnitDefinition { Owner = "edge", Kind = kind, RiskTier = declared }));
    }

    [Fact]
    public void The_emergency_plan_cannot_be_a_units_plan()
    {
        Assert.Contains("plan 'emergency' is for break-glass only; name another plan", UnitRules.Check(Guarded with { Plan = "emergency" }));
    }
}
