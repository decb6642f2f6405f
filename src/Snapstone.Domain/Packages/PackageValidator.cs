using System.Text;
using System.Text.Json;
using Snapstone.Domain.Units;

namespace Snapstone.Domain.Packages;

/// <summary>
/// Runs a unit's declared validators over package content. Pure: the LKG's shape comes in as an argument.
/// Rules: <c>max-bytes</c>, <c>format</c>, <c>max-items</c>, <c>max-growth</c>, <c>json-schema</c>.
/// </summary>
public static class PackageValidator
{
    private const int MaxKeys = 10_000;

    public static (ValidationReport Report, ContentShape Shape) Validate(ReadOnlySpan<byte> content, ValidatorSpec spec, ContentShape? lkg)
    {
        var findings = new List<Finding>();
        var size = content.Length;
        if (spec.MaxBytes is { } maxBytes && size > maxBytes)
        {
            findings.Add(new Finding("max-bytes", Severity.Error,
                $"content is {size} bytes; the unit allows at most {maxBytes}", maxBytes, size));
        }

        var shape = new ContentShape { SizeBytes = size };
        if (UnitRules.IsJson(spec))
        {
            shape = CheckJson(content, spec, findings) ?? shape;
        }
        else if (spec.Format == ContentFormat.Text && !IsUtf8(content))
        {
            findings.Add(new Finding("format", Severity.Error, "content is not valid UTF-8 text"));
        }

        if (spec.MaxGrowthPercent is { } maxGrowth && lkg is not null)
        {
            CheckGrowth("bytes", lkg.SizeBytes, shape.SizeBytes, maxGrowth, findings);
            if (lkg.ItemCount is { } before && shape.ItemCount is { } after)
            {
                CheckGrowth($"items at {spec.MaxItems!.Path}", before, after, maxGrowth, findings);
            }
        }
        return (new ValidationReport(findings), shape);
    }

    /// <summary>Growth in percent from <paramref name="before"/> to <paramref name="after"/>: 100 → 250 is 150%.</summary>
    public static double GrowthPercent(double before, double after) =>
        before <= 0 ? (after <= 0 ? 0 : double.PositiveInfinity) : (after - before) / before * 100.0;

    private static void CheckGrowth(string what, double before, double after, double maxGrowth, List<Finding> findings)
    {
        var growth = GrowthPercent(before, after);
        if (growth > maxGrowth)
        {
            findings.Add(new Finding("max-growth", Severity.Error,
                $"{what} grew {Format(growth)}% against the LKG ({before} → {after}); the unit allows at most {Format(maxGrowth)}%",
                maxGrowth, double.IsInfinity(growth) ? null : Math.Round(growth, 1)));
        }
    }

    private static ContentShape? CheckJson(ReadOnlySpan<byte> content, ValidatorSpec spec, List<Finding> findings)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(content.ToArray(), new JsonDocumentOptions { MaxDepth = 256 });
        }
        catch (JsonException e)
        {
            findings.Add(new Finding("format", Severity.Error,
                $"content is not valid JSON (line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1}): {FirstSentence(e.Message)}"));
            return null;
        }
        using (document)
        {
            var root = document.RootElement;
            int? itemCount = null;
            var keys = new List<string>();
            if (root.ValueKind == JsonValueKind.Object)
            {
                foreach (var property in root.EnumerateObject())
                {
                    if (keys.Count < MaxKeys) keys.Add(property.Name);
                }
            }
            if (spec.MaxItems is { } rule && JsonPath.TryParse(rule.Path, out var path) is null)
            {
                var items = path!.Select(root);
                if (items is not { } selected || selected.ValueKind is not (JsonValueKind.Array or JsonValueKind.Object))
                {
                    findings.Add(new Finding("max-items", Severity.Error,
                        $"{rule.Path} must select an array or object (found {(items is null ? "nothing" : items.Value.ValueKind.ToString().ToLowerInvariant())})"));
                }
                else
                {
                    itemCount = selected.ValueKind == JsonValueKind.Array ? selected.GetArrayLength() : selected.EnumerateObject().Count();
                    if (itemCount > rule.Max)
                    {
                        findings.Add(new Finding("max-items", Severity.Error,
                            $"{rule.Path} holds {itemCount} items; the unit allows at most {rule.Max}", rule.Max, itemCount));
                    }
                    AddItemKeys(selected, keys);
                }
            }
            if (spec.JsonSchema is { } schemaText && SchemaCheck.Parse(schemaText, out var schema) is null)
            {
                foreach (var message in SchemaCheck.Evaluate(schema!, root))
                {
                    findings.Add(new Finding("json-schema", Severity.Error, message));
                }
            }
            return new ContentShape { SizeBytes = content.Length, ItemCount = itemCount, Keys = keys, Parsed = true };
        }
    }

    /// <summary>Items are identified by their property name (object) or by a string <c>name</c>/<c>id</c>/<c>key</c> field, or by themselves when they are strings.</summary>
    private static void AddItemKeys(JsonElement items, List<string> keys)
    {
        if (items.ValueKind == JsonValueKind.Object)
        {
            foreach (var property in items.EnumerateObject())
            {
                if (keys.Count >= MaxKeys) return;
                keys.Add("item:" + property.Name);
            }
            return;
        }
        foreach (var item in items.EnumerateArray())
        {
            if (keys.Count >= MaxKeys) return;
            var id = item.ValueKind switch
            {
                JsonValueKind.String => item.GetString(),
                JsonValueKind.Object => IdOf(item),
                _ => null,
            };
            if (id is not null) keys.Add("item:" + id);
        }
    }

    private static string? IdOf(JsonElement item)
    {
        foreach (var name in (ReadOnlySpan<string>)["name", "id", "key"])
        {
            if (item.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String)
            {
                return value.GetString();
            }
        }
        return null;
    }

    private static bool IsUtf8(ReadOnlySpan<byte> content)
    {
        try
        {
            _ = new UTF8Encoding(false, true).GetCharCount(content);
            return true;
        }
        catch (DecoderFallbackException)
        {
            return false;
        }
    }

    /// <summary>The reader's message without its own position suffix, which counts from 0 and would contradict ours.</summary>
    private static string FirstSentence(string message)
    {
        foreach (var marker in (ReadOnlySpan<string>)[" LineNumber:", " Path:"])
        {
            var cut = message.IndexOf(marker, StringComparison.Ordinal);
            if (cut > 0)
            {
                message = message[..cut];
            }
        }
        return message;
    }

    private static string Format(double value) =>
        double.IsPositiveInfinity(value) ? "∞" : Math.Round(value, 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
}
