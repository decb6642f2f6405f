using System.Text.Json;

namespace Snapstone.Domain.Units;

/// <summary>Bounds on a unit definition; each message names the field and the limit.</summary>
public static class UnitRules
{
    public const int MaxOwnerLength = 100;
    public const int MaxDescriptionBytes = 2000;
    public const int MaxTargetLabels = 16;
    public const int MaxLabelLength = 100;
    /// <summary>Hard ceiling for <c>validators.maxBytes</c>: package content never exceeds 64 MiB.</summary>
    public const long MaxPackageBytes = 64L * 1024 * 1024;
    public const int MaxItemsCeiling = 10_000_000;
    public const int MaxSchemaLength = 256 * 1024;

    public static IReadOnlyList<string> Check(UnitDefinition unit)
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(unit.Owner))
        {
            errors.Add("owner is required");
        }
        else if (unit.Owner.Length > MaxOwnerLength)
        {
            errors.Add($"owner must be at most {MaxOwnerLength} characters (got {unit.Owner.Length})");
        }
        if (TextLimits.TooLong("description", unit.Description, MaxDescriptionBytes) is { } tooLong)
        {
            errors.Add(tooLong);
        }
        if (Names.Check("plan", unit.Plan) is { } planError)
        {
            errors.Add(planError);
        }
        else if (unit.Plan == Plans.BuiltInPlans.EmergencyName)
        {
            errors.Add($"plan '{Plans.BuiltInPlans.EmergencyName}' is for break-glass only; name another plan");
        }
        CheckValidators(unit.Validators, errors);
        CheckLabels("targets.labels", unit.Targets.Labels, errors);
        return errors;
    }

    public static void CheckLabels(string field, IReadOnlyDictionary<string, string> labels, List<string> errors)
    {
        if (labels.Count > MaxTargetLabels)
        {
            errors.Add($"{field} may hold at most {MaxTargetLabels} labels (got {labels.Count})");
            return;
        }
        foreach (var (key, value) in labels)
        {
            if (!Names.IsValid(key) && Names.Check($"{field} key", key) is { } keyError)
            {
                errors.Add(keyError);
            }
            if (value is null || value.Length == 0 || value.Length > MaxLabelLength)
            {
                errors.Add($"{field}.{Names.Shorten(key)} must be 1 to {MaxLabelLength} characters");
            }
        }
    }

    private static void CheckValidators(ValidatorSpec v, List<string> errors)
    {
        if (v.MaxBytes is { } maxBytes && (maxBytes < 1 || maxBytes > MaxPackageBytes))
        {
            errors.Add($"validators.maxBytes must be between 1 and {MaxPackageBytes} (got {maxBytes})");
        }
        if (v.MaxItems is { } maxItems)
        {
            if (JsonPath.TryParse(maxItems.Path, out _) is { } pathError)
            {
                errors.Add($"validators.maxItems.path {pathError}");
            }
            if (maxItems.Max < 0 || maxItems.Max > MaxItemsCeiling)
            {
                errors.Add($"validators.maxItems.max must be between 0 and {MaxItemsCeiling} (got {maxItems.Max})");
            }
            if (v.Format == ContentFormat.Text)
            {
                errors.Add("validators.maxItems needs format json (got text)");
            }
        }
        if (v.MaxGrowthPercent is { } growth && (double.IsNaN(growth) || growth < 0 || growth > 100_000))
        {
            errors.Add($"validators.maxGrowthPercent must be between 0 and 100000 (got {growth})");
        }
        if (v.JsonSchema is { } schema)
        {
            if (v.Format == ContentFormat.Text)
            {
                errors.Add("validators.jsonSchema needs format json (got text)");
            }
            if (schema.Length > MaxSchemaLength)
            {
                errors.Add($"validators.jsonSchema must be at most {MaxSchemaLength} characters (got {schema.Length})");
            }
            else if (Packages.SchemaCheck.Parse(schema, out _) is { } schemaError)
            {
                errors.Add($"validators.jsonSchema is not a usable JSON Schema: {schemaError}");
            }
        }
    }

    /// <summary>A unit whose content is checked as JSON: declared json, or implied by a JSON-only validator.</summary>
    public static bool IsJson(ValidatorSpec v) =>
        v.Format == ContentFormat.Json || (v.Format is null && (v.MaxItems is not null || v.JsonSchema is not null));

    internal static bool IsJsonText(string text)
    {
        try
        {
            using var _ = JsonDocument.Parse(text);
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }
}
