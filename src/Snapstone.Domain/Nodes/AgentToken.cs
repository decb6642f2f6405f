namespace Snapstone.Domain.Nodes;

/// <summary>
/// What Snapstone knows of the token a report came with: its name, the PoPs and node ids it may report for
/// (<c>Pops</c> and <c>Nodes</c> on a token in <c>Snapstone:Auth:Tokens</c>; none: any), and how many nodes it may
/// enrol. A report outside the binding is refused before it reaches the node, so a stolen or misused PoP agent's
/// token cannot invent or impersonate nodes of other PoPs, such as the canary ones.
/// </summary>
/// <example>
/// Pops [ams01, ams02], Nodes [ams0*-edge-*]: node ams01-edge-7 in PoP ams01 → allowed; node ams01-edge-7 claiming
/// PoP fra01 → refused (Pops); node fra01-edge-1 in PoP ams01 → refused (Nodes).
/// </example>
[GenerateSerializer, Immutable, Alias("snapstone.AgentToken")]
public sealed record AgentToken(
    [property: Id(0)] string Name,
    [property: Id(1)] IReadOnlyList<string>? Pops = null,
    [property: Id(2)] IReadOnlyList<string>? Nodes = null,
    /// <summary>How many nodes this token may have enrolled at once; null: no limit of its own.</summary>
    [property: Id(3)] int? MaxNodes = null)
{
    /// <summary>Null when the token may report for <paramref name="node"/> in <paramref name="pop"/>; else the refusal naming the binding. Allocates nothing when allowed.</summary>
    public string? Refusal(string node, string pop)
    {
        if (Pops is { Count: > 0 } pops && !Contains(pops, pop))
        {
            return $"token '{Name}' may report only for PoPs {string.Join(", ", pops)} (its Pops binding in Snapstone:Auth:Tokens); " +
                   $"node '{node}' reports PoP '{pop}'";
        }
        if (Nodes is { Count: > 0 } patterns && !MatchesAny(patterns, node))
        {
            return $"token '{Name}' may report only for nodes matching {string.Join(", ", patterns)} (its Nodes binding in Snapstone:Auth:Tokens); " +
                   $"not for node '{node}'";
        }
        return null;
    }

    private static bool Contains(IReadOnlyList<string> pops, string pop)
    {
        for (var i = 0; i < pops.Count; i++)
        {
            if (pops[i] == pop)
            {
                return true;
            }
        }
        return false;
    }

    private static bool MatchesAny(IReadOnlyList<string> patterns, string node)
    {
        for (var i = 0; i < patterns.Count; i++)
        {
            if (Matches(patterns[i], node))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// A node-id pattern: a name in which <c>*</c> stands for any run of characters (none included), matched whole.
    /// <c>ams01-*</c> matches ams01-n1 and ams01-; <c>*-canary-*</c> matches fra01-canary-3; <c>ams01-n1</c> only itself.
    /// </summary>
    public static bool Matches(string pattern, string node) => Matches(pattern.AsSpan(), node.AsSpan());

    private static bool Matches(ReadOnlySpan<char> pattern, ReadOnlySpan<char> text)
    {
        // Greedy with backtracking to the last star: linear in practice, and patterns are short.
        int p = 0, t = 0, star = -1, mark = 0;
        while (t < text.Length)
        {
            if (p < pattern.Length && pattern[p] == '*')
            {
                star = p++;
                mark = t;
            }
            else if (p < pattern.Length && pattern[p] == text[t])
            {
                p++;
                t++;
            }
            else if (star >= 0)
            {
                p = star + 1;
                t = ++mark;
            }
            else
            {
                return false;
            }
        }
        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }
        return p == pattern.Length;
    }

    /// <summary>A pattern is a name that may hold <c>*</c>: lower-case letters, digits, '.', '_', '-', at most 100 characters.</summary>
    public static bool IsPattern(string pattern) =>
        pattern.Length is > 0 and <= 100 && pattern.All(c => c is '*' or '.' or '_' or '-' or >= 'a' and <= 'z' or >= '0' and <= '9');
}
