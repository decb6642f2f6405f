using System.Text.Json;

namespace Snapstone.Simulator.Consumers;

/// <summary>
/// A proxy module that loads a generated feature file and preallocates room for at most
/// <see cref="MaxFeatures"/> entries at <c>$.features</c> (an array, or an object counted by its
/// properties). A file with 200 entries loads; one with 201, or one that is not JSON or has no
/// <c>features</c>, is fatal for a fail-closed consumer, refused by a fail-stale one and ignored by a
/// fail-open one.
/// </summary>
public sealed class FeatureFileConsumer(FailureMode mode, int maxFeatures = FeatureFileConsumer.DefaultMaxFeatures) : IConsumer
{
    public const int DefaultMaxFeatures = 200;

    public FailureMode Mode { get; } = mode;
    public int MaxFeatures { get; } = maxFeatures >= 0 ? maxFeatures : throw new ArgumentOutOfRangeException(nameof(maxFeatures));

    public string Describe() => $"features({Mode.Name()}, max {MaxFeatures})";

    public ConsumerOutcome Consume(ReadOnlySpan<byte> content)
    {
        var problem = Problem(content);
        if (problem is null)
        {
            return ConsumerOutcome.Applied(PackageEffect.None);
        }
        return Mode switch
        {
            FailureMode.FailClosed => ConsumerOutcome.Crashed(problem),
            FailureMode.FailStale => ConsumerOutcome.Rejected(problem),
            _ => ConsumerOutcome.Applied(PackageEffect.None),
        };
    }

    private string? Problem(ReadOnlySpan<byte> content)
    {
        using var document = Json.TryParse(content, out var error);
        if (document is null)
        {
            return $"feature file is {error}";
        }
        if (document.RootElement.ValueKind != JsonValueKind.Object ||
            !document.RootElement.TryGetProperty("features", out var features))
        {
            return "feature file has no $.features";
        }
        var count = features.ValueKind switch
        {
            JsonValueKind.Array => features.GetArrayLength(),
            JsonValueKind.Object => features.EnumerateObject().Count(),
            _ => -1,
        };
        if (count < 0)
        {
            return $"feature file's $.features is a {features.ValueKind}, not a list";
        }
        return count > MaxFeatures
            ? $"feature file has {count} features, more than the {MaxFeatures} this proxy can hold"
            : null;
    }
}
