namespace Snapstone.Domain.Units;

/// <summary>What a unit is: a generated file or a control flag.</summary>
public enum UnitKind { File, Flag }

/// <summary>The risk tier a team declares for its unit.</summary>
public enum RiskTier { Standard, High }

/// <summary>What a consumer does with a package it cannot use.</summary>
public enum FailureMode
{
    /// <summary>Keeps the last good package and reports <c>rejected</c>.</summary>
    FailStale,
    /// <summary>Runs without the configuration.</summary>
    FailOpen,
    /// <summary>Stops serving (crashes): the most dangerous consumer.</summary>
    FailClosed,
}

/// <summary>What a firing alert naming the unit does to its active rollout (<c>"onAlarm"</c>).</summary>
public enum OnAlarm
{
    /// <summary>Every touched node back to the previous package, the version quarantined: as a failing wave.</summary>
    Rollback,
    /// <summary>The rollout stops where it is until a person resumes or aborts it.</summary>
    Pause,
}

/// <summary>How package content is parsed before the other validators run.</summary>
public enum ContentFormat { Json, Text }

/// <summary>At most <see cref="Max"/> items in the array (or object) at <see cref="Path"/>, e.g. <c>$.features</c>.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.MaxItemsRule")]
public sealed record MaxItemsRule([property: Id(0)] string Path, [property: Id(1)] int Max);

/// <summary>The validators a unit declares; every one is optional.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.ValidatorSpec")]
public sealed record ValidatorSpec
{
    [Id(0)] public long? MaxBytes { get; init; }
    [Id(1)] public ContentFormat? Format { get; init; }
    [Id(2)] public MaxItemsRule? MaxItems { get; init; }
    [Id(3)] public double? MaxGrowthPercent { get; init; }
    /// <summary>A JSON Schema document as JSON text.</summary>
    [Id(4)] public string? JsonSchema { get; init; }

}

/// <summary>Which nodes consume a unit: those carrying every listed label value. Empty means every node.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.UnitTargets")]
public sealed record UnitTargets([property: Id(0)] IReadOnlyDictionary<string, string> Labels)
{

    public bool Matches(IReadOnlyDictionary<string, string> nodeLabels)
    {
        foreach (var (key, value) in Labels)
        {
            if (!nodeLabels.TryGetValue(key, out var actual) || actual != value)
            {
                return false;
            }
        }
        return true;
    }
}

/// <summary>
/// A unit as its owning team defines it. Defaults are fresh instances, never shared statics: Orleans'
/// deserializer fills the instance a property already holds, so a shared default would be overwritten.
/// </summary>
[GenerateSerializer, Immutable, Alias("snapstone.UnitDefinition")]
public sealed record UnitDefinition
{
    [Id(0)] public required string Owner { get; init; }
    [Id(1)] public string Description { get; init; } = "";
    [Id(2)] public UnitKind Kind { get; init; } = UnitKind.File;
    /// <summary>Declared tier; null means undeclared (a flag is then high-risk).</summary>
    [Id(3)] public RiskTier? RiskTier { get; init; }
    [Id(4)] public FailureMode FailureMode { get; init; } = FailureMode.FailStale;
    [Id(5)] public string Plan { get; init; } = Plans.BuiltInPlans.StandardName;
    [Id(6)] public ValidatorSpec Validators { get; init; } = new();
    [Id(7)] public UnitTargets Targets { get; init; } = new(new Dictionary<string, string>());
    /// <summary>What a firing alert labelled with this unit does to its active rollout.</summary>
    [Id(8)] public OnAlarm OnAlarm { get; init; } = OnAlarm.Rollback;
}
