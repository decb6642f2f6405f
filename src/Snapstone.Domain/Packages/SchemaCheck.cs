using System.Text.Json;
using Json.Schema;

namespace Snapstone.Domain.Packages;

/// <summary>JSON Schema parsing and evaluation, isolated so each schema builds in its own registry (no global $id clashes, no fetching).</summary>
public static class SchemaCheck
{
    /// <summary>Null when <paramref name="schemaText"/> is a usable schema, else why not.</summary>
    public static string? Parse(string schemaText, out JsonSchema? schema)
    {
        schema = null;
        try
        {
            schema = JsonSchema.FromText(schemaText, new BuildOptions { SchemaRegistry = new SchemaRegistry() });
            return null;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return e.Message;
        }
    }

    /// <summary>Up to <paramref name="limit"/> messages like <c>$.features[3]: Value should be at most 1</c>; empty when valid.</summary>
    public static IReadOnlyList<string> Evaluate(JsonSchema schema, JsonElement instance, int limit = 10)
    {
        EvaluationResults results;
        try
        {
            results = schema.Evaluate(instance, new EvaluationOptions { OutputFormat = OutputFormat.List });
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A schema can parse yet fail here, e.g. a $ref to a document that is never fetched.
            return [$"the unit's schema cannot be evaluated: {e.Message}"];
        }
        if (results.IsValid)
        {
            return [];
        }
        var messages = new List<string>();
        foreach (var detail in results.Details ?? [])
        {
            foreach (var (keyword, error) in detail.Errors ?? new Dictionary<string, string>())
            {
                if (messages.Count == limit)
                {
                    return messages;
                }
                var at = detail.InstanceLocation.ToString();
                messages.Add($"{(at.Length == 0 ? "/" : at)} ({keyword}): {error}");
            }
        }
        if (messages.Count == 0)
        {
            messages.Add("content does not match the schema");
        }
        return messages;
    }
}
