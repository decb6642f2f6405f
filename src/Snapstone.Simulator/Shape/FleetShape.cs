using System.Text.RegularExpressions;

namespace Snapstone.Simulator.Shape;

/// <summary>
/// How a simulated fleet is laid out and how noisy it is before any change reaches it. The same shape
/// with the same <see cref="Seed"/> always lays out the same fleet: same names, tiers, labels, traffic
/// and flaky nodes.
/// </summary>
public sealed partial record FleetShape
{
    public const string NamePattern = "^[a-z0-9][a-z0-9._-]{0,99}$";
    public const string CanaryTier = "canary";
    public const string StandardTier = "standard";

    public int Nodes { get; init; } = 2000;
    public int Pops { get; init; } = 20;

    /// <summary>Regions, assigned to PoPs in turn (PoP 1 to the first region, PoP 2 to the second, ...).</summary>
    public IReadOnlyList<string> Regions { get; init; } = ["eu-west", "us-east", "us-west", "ap-southeast"];

    /// <summary>Share of each region's nodes in the canary tier; at least one per region when above 0.</summary>
    public double CanaryShare { get; init; } = 0.01;

    /// <summary>Labels every node carries, each value drawn by weight.</summary>
    public IReadOnlyList<LabelSplit> Labels { get; init; } = [LabelSplit.Even("proxy", "fl1", "fl2")];

    public int Seed { get; init; } = 1;

    /// <summary>Share of PoPs whose nodes see only a few requests per second.</summary>
    public double LowTrafficPopShare { get; init; } = 0.15;

    /// <summary>Requests per second of a node in an ordinary PoP, drawn per node between these bounds.</summary>
    public double MinRequestsPerSecond { get; init; } = 200;
    public double MaxRequestsPerSecond { get; init; } = 1200;

    /// <summary>Requests per second of a node in a low-traffic PoP.</summary>
    public double MinLowTrafficRequestsPerSecond { get; init; } = 1;
    public double MaxLowTrafficRequestsPerSecond { get; init; } = 6;

    /// <summary>Typical share of failed requests; each node gets between half and one and a half times this.</summary>
    public double BaseErrorRate { get; init; } = 0.001;

    /// <summary>Share of nodes that fail often whatever they run, from the start.</summary>
    public double FlakyNodeShare { get; init; } = 0.005;
    public double MinFlakyErrorRate { get; init; } = 0.03;
    public double MaxFlakyErrorRate { get; init; } = 0.12;

    /// <summary>Each PoP's p99 latency lies between these bounds; nodes vary around it tick by tick.</summary>
    public double MinPopP99LatencyMs { get; init; } = 15;
    public double MaxPopP99LatencyMs { get; init; } = 60;

    /// <summary>Relative standard deviation of a node's p99 from one interval to the next.</summary>
    public double LatencyJitter { get; init; } = 0.08;

    [GeneratedRegex(NamePattern, RegexOptions.CultureInvariant)]
    private static partial Regex NameRule();

    public static bool IsName(string? value) => value is not null && NameRule().IsMatch(value);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first field that is out of range.</summary>
    public void Check()
    {
        Require(Nodes >= 1, $"nodes must be 1 or more (got {Nodes})");
        Require(Pops >= 1, $"pops must be 1 or more (got {Pops})");
        Require(Pops <= Nodes, $"pops ({Pops}) must not exceed nodes ({Nodes}): every PoP holds at least one node");
        Require(Pops <= 999, $"pops must be at most 999 (got {Pops})");
        Require(Regions.Count >= 1, "regions must name at least one region");
        foreach (var region in Regions)
        {
            Require(IsName(region), $"region '{region}' must match {NamePattern}");
        }
        Require(Regions.Distinct().Count() == Regions.Count, "regions must not repeat");
        Require(CanaryShare is >= 0 and <= 1, $"canaryShare must be between 0 and 1 (got {CanaryShare})");
        Require(LowTrafficPopShare is >= 0 and <= 1, $"lowTrafficPopShare must be between 0 and 1 (got {LowTrafficPopShare})");
        Require(FlakyNodeShare is >= 0 and <= 1, $"flakyNodeShare must be between 0 and 1 (got {FlakyNodeShare})");
        Require(BaseErrorRate is >= 0 and <= 0.5, $"baseErrorRate must be between 0 and 0.5 (got {BaseErrorRate})");
        Require(MinFlakyErrorRate is >= 0 and <= 1 && MaxFlakyErrorRate <= 1 && MinFlakyErrorRate <= MaxFlakyErrorRate,
            "flaky error rates must satisfy 0 <= min <= max <= 1");
        Require(MinRequestsPerSecond >= 0 && MinRequestsPerSecond <= MaxRequestsPerSecond,
            "requests per second must satisfy 0 <= min <= max");
        Require(MinLowTrafficRequestsPerSecond >= 0 && MinLowTrafficRequestsPerSecond <= MaxLowTrafficRequestsPerSecond,
            "low-traffic requests per second must satisfy 0 <= min <= max");
        Require(MinPopP99LatencyMs > 0 && MinPopP99LatencyMs <= MaxPopP99LatencyMs,
            "PoP p99 latency must satisfy 0 < min <= max");
        Require(LatencyJitter is >= 0 and <= 1, $"latencyJitter must be between 0 and 1 (got {LatencyJitter})");
        var keys = new HashSet<string>();
        foreach (var split in Labels)
        {
            split.Check();
            Require(keys.Add(split.Key), $"label '{split.Key}' is split twice");
        }
    }

    private static void Require(bool condition, string message)
    {
        if (!condition)
        {
            throw new ArgumentException(message);
        }
    }
}

/// <summary>
/// A label and the share of nodes carrying each of its values, e.g. <c>proxy</c>: fl1 50%, fl2 50%.
/// Weights are relative; they need not add up to one.
/// </summary>
public sealed record LabelSplit(string Key, IReadOnlyList<LabelShare> Values)
{
    public static LabelSplit Even(string key, params string[] values) =>
        new(key, values.Select(v => new LabelShare(v, 1)).ToArray());

    internal void Check()
    {
        if (!FleetShape.IsName(Key))
        {
            throw new ArgumentException($"label key '{Key}' must match {FleetShape.NamePattern}");
        }
        if (Values.Count == 0 || Values.Sum(v => v.Weight) <= 0)
        {
            throw new ArgumentException($"label '{Key}' needs at least one value with a positive weight");
        }
        foreach (var share in Values)
        {
            if (!FleetShape.IsName(share.Value))
            {
                throw new ArgumentException($"label '{Key}' value '{share.Value}' must match {FleetShape.NamePattern}");
            }
            if (share.Weight < 0 || double.IsNaN(share.Weight))
            {
                throw new ArgumentException($"label '{Key}' value '{share.Value}' has a negative weight");
            }
        }
    }

    internal string Draw(Random random)
    {
        var total = Values.Sum(v => v.Weight);
        var point = random.NextDouble() * total;
        foreach (var share in Values)
        {
            point -= share.Weight;
            if (point < 0)
            {
                return share.Value;
            }
        }
        return Values.Last(v => v.Weight > 0).Value;
    }
}

public sealed record LabelShare(string Value, double Weight);
