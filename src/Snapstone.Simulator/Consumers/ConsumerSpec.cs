using System.Globalization;
using System.Numerics;

namespace Snapstone.Simulator.Consumers;

/// <summary>
/// Consumers written as text, for the command line:
/// <list type="bullet">
/// <item><c>plain</c></item>
/// <item><c>features:fail-closed</c>, <c>features:fail-stale:200</c> (mode, then the limit)</item>
/// <item><c>killswitch</c> (= <c>killswitch:proxy=fl1:0.28</c>), <c>killswitch:proxy=fl2:0.5</c></item>
/// <item><c>latency</c></item>
/// </list>
/// </summary>
public static class ConsumerSpec
{
    public static IConsumer Parse(string spec)
    {
        var parts = spec.Split(':');
        return parts[0] switch
        {
            "plain" when parts.Length == 1 => new PlainConsumer(),
            "latency" when parts.Length == 1 => new LatencyConsumer(),
            "features" when parts.Length is 2 or 3 => new FeatureFileConsumer(
                FailureModes.Parse(parts[1]),
                parts.Length == 3 ? Number<int>(parts[2], spec) : FeatureFileConsumer.DefaultMaxFeatures),
            "killswitch" when parts.Length <= 3 => new KillswitchConsumer(
                parts.Length >= 2 ? Label(parts[1], spec) : new LabelMatch("proxy", "fl1"),
                parts.Length == 3 ? Number<double>(parts[2], spec) : KillswitchConsumer.DefaultErrorShare),
            _ => throw new FormatException(
                $"consumer '{spec}' must be plain, latency, features:MODE[:MAX] or killswitch[:KEY=VALUE[:SHARE]]"),
        };
    }

    /// <summary>Parses <c>unit=spec</c>, e.g. <c>bot-features=features:fail-closed</c>.</summary>
    public static KeyValuePair<string, IConsumer> ParseForUnit(string text)
    {
        var at = text.IndexOf('=');
        if (at <= 0)
        {
            throw new FormatException($"'{text}' must look like UNIT=CONSUMER, e.g. bot-features=features:fail-closed");
        }
        var unit = text[..at];
        if (!Shape.FleetShape.IsName(unit))
        {
            throw new FormatException($"unit '{unit}' must match {Shape.FleetShape.NamePattern}");
        }
        return new(unit, Parse(text[(at + 1)..]));
    }

    private static LabelMatch Label(string text, string spec)
    {
        var at = text.IndexOf('=');
        return at > 0 && at < text.Length - 1
            ? new LabelMatch(text[..at], text[(at + 1)..])
            : throw new FormatException($"consumer '{spec}': '{text}' must look like KEY=VALUE");
    }

    private static T Number<T>(string text, string spec) where T : INumber<T> =>
        T.TryParse(text, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw new FormatException($"consumer '{spec}': '{text}' is not a number");
}
