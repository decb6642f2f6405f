using System.Text.Json;

namespace Snapstone.Domain.Units;

/// <summary>
/// The small JSONPath subset validators need: <c>$</c>, then <c>.name</c> or <c>[index]</c> steps.
/// <c>$.features</c> selects the <c>features</c> property of the root; <c>$.rules[0].items</c> walks deeper.
/// </summary>
public sealed class JsonPath
{
    private readonly IReadOnlyList<object> _steps;

    private JsonPath(string text, IReadOnlyList<object> steps)
    {
        Text = text;
        _steps = steps;
    }

    public string Text { get; }

    /// <summary>Null on success, else why <paramref name="text"/> is not a path.</summary>
    public static string? TryParse(string? text, out JsonPath? path)
    {
        path = null;
        if (string.IsNullOrEmpty(text) || text[0] != '$')
        {
            return "must start with '$' (e.g. $.features)";
        }
        if (text.Length > 500)
        {
            return "must be at most 500 characters";
        }
        var steps = new List<object>();
        var i = 1;
        while (i < text.Length)
        {
            if (text[i] == '.')
            {
                var start = ++i;
                while (i < text.Length && text[i] != '.' && text[i] != '[')
                {
                    i++;
                }
                if (i == start)
                {
                    return $"has an empty property name at position {start}";
                }
                steps.Add(text[start..i]);
            }
            else if (text[i] == '[')
            {
                var close = text.IndexOf(']', i);
                if (close < 0 || !int.TryParse(text.AsSpan(i + 1, close - i - 1), out var index) || index < 0)
                {
                    return $"has a bad index at position {i} (use [0], [1], ...)";
                }
                steps.Add(index);
                i = close + 1;
            }
            else
            {
                return $"has an unexpected '{text[i]}' at position {i}";
            }
        }
        path = new JsonPath(text, steps);
        return null;
    }

    /// <summary>The element the path selects, or null when some step is missing.</summary>
    public JsonElement? Select(JsonElement root)
    {
        var current = root;
        foreach (var step in _steps)
        {
            switch (step)
            {
                case string name when current.ValueKind == JsonValueKind.Object && current.TryGetProperty(name, out var child):
                    current = child;
                    break;
                case int index when current.ValueKind == JsonValueKind.Array && index < current.GetArrayLength():
                    current = current[index];
                    break;
                default:
                    return null;
            }
        }
        return current;
    }
}
