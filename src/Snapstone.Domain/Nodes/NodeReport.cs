namespace Snapstone.Domain.Nodes;

public enum ApplyStatus
{
    Ok,
    /// <summary>The node refused the package and kept its old one (fail stale).</summary>
    Rejected,
}

/// <summary>What a node says it runs for one unit.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.AppliedPackage")]
public sealed record AppliedPackage
{
    [Id(0)] public required long Version { get; init; }
    [Id(1)] public string? Sha256 { get; init; }
    [Id(2)] public ApplyStatus Status { get; init; } = ApplyStatus.Ok;
    [Id(3)] public string? Error { get; init; }
    /// <summary>
    /// Of the report's <see cref="NodeMetrics.Crashes"/>, those this unit's package caused, when the agent knows (it was
    /// loading or running this unit's file when the process died). Optional: without it a crash is blamed on the change
    /// the node applied last before it (<see cref="Health.Attribution"/>). Per report, never stored with what the node runs.
    /// </summary>
    [Id(4), System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingDefault)]
    public int Crashes { get; init; }
}

/// <summary>Traffic a node served during one report interval.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.NodeMetrics")]
public sealed record NodeMetrics
{
    [Id(0)] public long Requests { get; init; }
    [Id(1)] public long Errors { get; init; }
    [Id(2)] public double P99LatencyMs { get; init; }
    [Id(3)] public int Crashes { get; init; }
}

/// <summary>Who a node is: where it sits and what it carries.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.NodeIdentity")]
public sealed record NodeIdentity(
    [property: Id(0)] string Pop,
    [property: Id(1)] string Region,
    [property: Id(2)] string Tier,
    [property: Id(3)] IReadOnlyDictionary<string, string> Labels)
{
    public bool SameAs(NodeIdentity other) =>
        Pop == other.Pop && Region == other.Region && Tier == other.Tier && SameLabels(Labels, other.Labels);

    /// <summary>Same keys with the same values; null is no labels.</summary>
    public static bool SameLabels(IReadOnlyDictionary<string, string> labels, IReadOnlyDictionary<string, string>? other)
    {
        if (other is null)
        {
            return labels.Count == 0;
        }
        if (labels.Count != other.Count)
        {
            return false;
        }
        foreach (var (key, value) in labels)
        {
            if (!other.TryGetValue(key, out var theirs) || theirs != value)
            {
                return false;
            }
        }
        return true;
    }
}

/// <summary>One report from an edge agent about one node.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.NodeReport")]
public sealed record NodeReport
{
    [Id(0)] public string? Node { get; init; }
    [Id(1)] public string? Pop { get; init; }
    [Id(2)] public string? Region { get; init; }
    [Id(3)] public string? Tier { get; init; }
    [Id(4)] public IReadOnlyDictionary<string, string>? Labels { get; init; }
    [Id(5)] public IReadOnlyDictionary<string, AppliedPackage>? Applied { get; init; }
    [Id(6)] public NodeMetrics? Metrics { get; init; }
    [Id(7)] public double IntervalSeconds { get; init; } = 1;

    public const string DefaultRegion = "default";
    public const string DefaultTier = "standard";

    public NodeIdentity Identity => new(Pop!, Region ?? DefaultRegion, Tier ?? DefaultTier, Labels ?? new Dictionary<string, string>());

    /// <summary>Whether <see cref="Identity"/> would be the same as <paramref name="identity"/>, without building it (every report asks).</summary>
    public bool Describes(NodeIdentity? identity) =>
        identity is not null && identity.Pop == Pop && identity.Region == (Region ?? DefaultRegion) && identity.Tier == (Tier ?? DefaultTier) &&
        NodeIdentity.SameLabels(identity.Labels, Labels);
}
