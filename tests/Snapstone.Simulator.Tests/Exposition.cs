using System.Globalization;
using System.Text.RegularExpressions;

namespace Snapstone.Simulator.Tests;

/// <summary>One sample of a scrape: <c>name{label="value",…} 12.5</c>.</summary>
internal sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value)
{
    public string Node => Labels["node"];
}

/// <summary>Reads the Prometheus text format the way a scraper would, so tests check the wire, not the registry.</summary>
internal static partial class Exposition
{
    [GeneratedRegex("""^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>.*)\})? (?<value>\S+)( \d+)?$""")]
    private static partial Regex Line();

    [GeneratedRegex("""(?<key>[a-zA-Z_][a-zA-Z0-9_]*)="(?<value>(\\.|[^"\\])*)",?""")]
    private static partial Regex Label();

    public static List<Sample> Parse(string text)
    {
        var samples = new List<Sample>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.StartsWith('#'))
            {
                continue;
            }
            var match = Line().Match(line);
            Assert.True(match.Success, $"not a sample line: {line}");
            var labels = Label().Matches(match.Groups["labels"].Value).ToDictionary(m => m.Groups["key"].Value, m => m.Groups["value"].Value);
            samples.Add(new Sample(match.Groups["name"].Value, labels, double.Parse(match.Groups["value"].Value, CultureInfo.InvariantCulture)));
        }
        return samples;
    }

    /// <summary>One value per node for the metric named <paramref name="name"/> (a counter, a gauge, or a histogram's _sum/_count).</summary>
    public static Dictionary<string, double> PerNode(IEnumerable<Sample> samples, string name) =>
        samples.Where(s => s.Name == name).ToDictionary(s => s.Node, s => s.Value);
}
