using System.Text.RegularExpressions;

namespace Snapstone.Domain;

/// <summary>The naming rule shared by units, plans, nodes, PoPs, regions and tiers.</summary>
public static partial class Names
{
    public const string Pattern = "^[a-z0-9][a-z0-9._-]{0,99}$";

    // Same rule as Pattern, but anchored with \z: in .NET '$' also matches before a final '\n', so "abc\n" would pass.
    [GeneratedRegex(@"^[a-z0-9][a-z0-9._-]{0,99}\z", RegexOptions.CultureInvariant)]
    private static partial Regex Rule();

    public static bool IsValid(string? name) => name is not null && Rule().IsMatch(name);

    /// <summary>
    /// Null when <paramref name="value"/> is a valid name, else a message naming the field and the rule,
    /// e.g. <c>unit 'Bot Features' must match ^[a-z0-9][a-z0-9._-]{0,99}$ (lower-case letters, digits, '.', '_', '-'; at most 100 characters)</c>.
    /// </summary>
    public static string? Check(string field, string? value) => IsValid(value)
        ? null
        : value is null or ""
            ? $"{field} is required and must match {Pattern}"
            : $"{field} '{Shorten(value)}' must match {Pattern} (lower-case letters, digits, '.', '_', '-'; at most 100 characters)";

    internal static string Shorten(string value) => value.Length <= 120 ? value : value[..117] + "...";
}
