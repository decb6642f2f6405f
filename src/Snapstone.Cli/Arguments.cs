using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Snapstone.Cli;

/// <summary>Option and argument shapes several commands share, so they read and fail the same everywhere.</summary>
public static partial class Arguments
{
    /// <summary>A path segment for a name the user typed: the server checks the name, escaping keeps it one segment.</summary>
    public static string Segment(string value) => Uri.EscapeDataString(value);

    public static Argument<string> Name(string name, string description) => new(name) { Description = description };

    public static Argument<long> Version(string name = "version", string description = "a package version (1, 2, …)") => new(name)
    {
        Description = description,
        CustomParser = r => long.TryParse(r.Tokens.Single().Value, NumberStyles.None, CultureInfo.InvariantCulture, out var v) && v >= 1
            ? v
            : Invalid(r, $"{name} must be a whole number of 1 or more (got '{r.Tokens.Single().Value}')", 0L),
    };

    public static Option<string> Reason(bool required, string description = "why, for the timeline and the audit log") => new("--reason", "-r")
    {
        Description = description,
        HelpName = "text",
        Required = required,
    };

    /// <summary><c>--timeout</c>: how long <c>--wait</c> or <c>watch</c> waits; <c>0</c> waits for ever.</summary>
    public static Option<TimeSpan> Timeout(TimeSpan fallback) => new("--timeout")
    {
        Description = $"how long to wait, like 90s, 15m, 2h or 1h30m; 0 waits for ever (default {Durations.Describe(fallback)})",
        HelpName = "duration",
        DefaultValueFactory = _ => fallback,
        CustomParser = r => Durations.TryParse(r.Tokens.Single().Value, out var d)
            ? d
            : Invalid(r, $"--timeout must be a duration like 90s, 15m, 2h or 1h30m (got '{r.Tokens.Single().Value}')", TimeSpan.Zero),
    };

    private static T Invalid<T>(ArgumentResult result, string message, T placeholder)
    {
        result.AddError(message);
        return placeholder;
    }
}

/// <summary>Durations as people type them: <c>90</c> (seconds), <c>90s</c>, <c>15m</c>, <c>2h</c>, <c>1h30m</c>.</summary>
public static partial class Durations
{
    public static bool TryParse(string text, out TimeSpan duration)
    {
        duration = TimeSpan.Zero;
        if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
        {
            duration = TimeSpan.FromSeconds(seconds);
            return seconds <= 366L * 24 * 3600;
        }
        var match = Pattern().Match(text);
        if (!match.Success || text.Length == 0)
        {
            return false;
        }
        static long Part(Group g) => g.Success ? long.Parse(g.Value, CultureInfo.InvariantCulture) : 0;
        var total = Part(match.Groups["h"]) * 3600 + Part(match.Groups["m"]) * 60 + Part(match.Groups["s"]);
        duration = TimeSpan.FromSeconds(total);
        return total <= 366L * 24 * 3600;
    }

    public static string Describe(TimeSpan duration) => duration switch
    {
        { TotalSeconds: 0 } => "0",
        { TotalSeconds: < 60 } => $"{duration.TotalSeconds:0}s",
        { TotalMinutes: < 60 } when duration.Seconds == 0 => $"{duration.TotalMinutes:0}m",
        { TotalHours: < 100 } when duration.Minutes == 0 && duration.Seconds == 0 => $"{duration.TotalHours:0}h",
        _ => $"{(int)duration.TotalHours}h{duration.Minutes}m{duration.Seconds}s",
    };

    [GeneratedRegex(@"^(?:(?<h>\d{1,4})h)?(?:(?<m>\d{1,6})m)?(?:(?<s>\d{1,8})s)?$")]
    private static partial Regex Pattern();
}
