using System.Text.Json;

namespace Snapstone.Simulator.Consumers;

/// <summary>
/// A package that slows every request down without failing any: <c>{"extraLatencyMs": 80}</c> adds
/// 80 ms to the node's p99. Absent means 0; a negative or non-numeric value, or content that is not a
/// JSON object, is refused.
/// </summary>
public sealed class LatencyConsumer(string field = "extraLatencyMs") : IConsumer
{
    public string Field { get; } = field;

    public string Describe() => "latency";

    public ConsumerOutcome Consume(ReadOnlySpan<byte> content)
    {
        using var document = Json.TryParse(content, out var error);
        if (document is null)
        {
            return ConsumerOutcome.Rejected($"latency file is {error}");
        }
        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            return ConsumerOutcome.Rejected("latency file must be a JSON object");
        }
        if (!document.RootElement.TryGetProperty(Field, out var value))
        {
            return ConsumerOutcome.Applied(PackageEffect.None);
        }
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetDouble(out var ms) || ms < 0 || !double.IsFinite(ms))
        {
            return ConsumerOutcome.Rejected($"{Field} must be a number of 0 or more");
        }
        return ConsumerOutcome.Applied(new PackageEffect(ExtraLatencyMs: ms));
    }
}
