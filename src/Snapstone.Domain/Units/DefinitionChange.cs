namespace Snapstone.Domain.Units;

/// <summary>A redefinition waiting for a second person: it weakens the unit's safety, so one token alone cannot make it.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.PendingDefinition")]
public sealed record PendingDefinition
{
    [Id(0)] public required UnitDefinition Definition { get; init; }
    [Id(1)] public required string RequestedBy { get; init; }
    [Id(2)] public required DateTimeOffset RequestedAt { get; init; }
    /// <summary>What it weakens, e.g. <c>riskTier lowered from high to standard</c>.</summary>
    [Id(3)] public IReadOnlyList<string> Weakens { get; init; } = [];
}

/// <summary>
/// Which redefinitions of a unit need a second person: those that lower its risk tier (as the risk assessor reads it:
/// an undeclared flag is high), lower its failure mode's severity (fail-closed, then fail-open, then fail-stale), or
/// remove or loosen a validator (a higher limit, a changed JSON path or schema, a dropped format). Anything else, and
/// any first definition, takes effect at once.
/// </summary>
/// <example>
/// riskTier high → standard: "riskTier lowered from high to standard". validators.maxItems 200 → 400: "validators.maxItems
/// raised from 200 to 400". failureMode fail-closed → fail-stale: "failureMode lowered from fail-closed to fail-stale".
/// </example>
public static class DefinitionChange
{
    public static IReadOnlyList<string> Weakens(UnitDefinition current, UnitDefinition proposed)
    {
        var weakens = new List<string>();
        var (before, after) = (EffectiveTier(current), EffectiveTier(proposed));
        if (after < before)
        {
            weakens.Add($"riskTier lowered from {Spell(before)} to {Spell(after)}" +
                        (proposed.RiskTier is null ? $" (an undeclared {Spell(proposed.Kind)} is {Spell(after)})" : ""));
        }
        if (Severity(proposed.FailureMode) < Severity(current.FailureMode))
        {
            weakens.Add($"failureMode lowered from {Spell(current.FailureMode)} to {Spell(proposed.FailureMode)}");
        }
        if (current.OnAlarm == OnAlarm.Rollback && proposed.OnAlarm == OnAlarm.Pause)
        {
            weakens.Add("onAlarm lowered from rollback to pause: a firing alert no longer sends nodes back");
        }
        Validators(current.Validators, proposed.Validators, weakens);
        return weakens;
    }

    private static void Validators(ValidatorSpec was, ValidatorSpec now, List<string> weakens)
    {
        Limit("validators.maxBytes", was.MaxBytes, now.MaxBytes, weakens);
        if (UnitRules.IsJson(was) && !UnitRules.IsJson(now))
        {
            weakens.Add("validators.format no longer json: content is no longer parse-checked");
        }
        if (was.MaxItems is { } items)
        {
            if (now.MaxItems is null)
                weakens.Add($"validators.maxItems removed (was at most {items.Max} at {items.Path})");
            else if (now.MaxItems.Path != items.Path)
                weakens.Add($"validators.maxItems.path changed from {items.Path} to {now.MaxItems.Path}");
            else if (now.MaxItems.Max > items.Max)
                weakens.Add($"validators.maxItems raised from {items.Max} to {now.MaxItems.Max}");
        }
        Limit("validators.maxGrowthPercent", was.MaxGrowthPercent, now.MaxGrowthPercent, weakens);
        if (was.JsonSchema is { } schema && now.JsonSchema != schema)
        {
            weakens.Add(now.JsonSchema is null ? "validators.jsonSchema removed" : "validators.jsonSchema changed (it may accept what it refused)");
        }
    }

    private static void Limit<T>(string field, T? was, T? now, List<string> weakens) where T : struct, IComparable<T>
    {
        if (was is not { } limit)
        {
            return;
        }
        if (now is not { } next)
            weakens.Add($"{field} removed (was {limit})");
        else if (next.CompareTo(limit) > 0)
            weakens.Add($"{field} raised from {limit} to {next}");
    }

    /// <summary>The tier the risk assessor reads: declared, else high for a flag and standard for a file.</summary>
    public static RiskTier EffectiveTier(UnitDefinition unit) => unit.RiskTier ?? (unit.Kind == UnitKind.Flag ? RiskTier.High : RiskTier.Standard);

    private static int Severity(FailureMode mode) => mode switch
    {
        FailureMode.FailClosed => 2,
        FailureMode.FailOpen => 1,
        _ => 0,
    };

    private static string Spell<T>(T value) where T : Enum => System.Text.Json.JsonNamingPolicy.KebabCaseLower.ConvertName(value.ToString());
}
