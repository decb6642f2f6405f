using System.Text.Json;

namespace Snapstone.Simulator.Consumers;

/// <summary>
/// A control flag read as <c>{"killswitch": true}</c>. Switching it on sends the nodes matching
/// <see cref="Affected"/> down a code path that answers HTTP 500 for <see cref="ErrorShare"/> of their
/// requests (28% by default); every other node is unaffected. Off, absent or null changes nothing. A
/// package that is not a JSON object is refused.
/// </summary>
public sealed class KillswitchConsumer(LabelMatch affected, double errorShare = KillswitchConsumer.DefaultErrorShare, string flag = "killswitch") : IConsumer
{
    public const double DefaultErrorShare = 0.28;

    public LabelMatch Affected { get; } = affected;
    public double ErrorShare { get; } = errorShare is >= 0 and <= 1 ? errorShare : throw new ArgumentOutOfRangeException(nameof(errorShare));
    public string Flag { get; } = flag;

    public string Describe() => $"killswitch({Affected} fails {ErrorShare * 100:0.#}%)";

    public ConsumerOutcome Consume(ReadOnlySpan<byte> content)
    {
        using var document = Json.TryParse(content, out var error);
        if (document is null)
        {
            return ConsumerOutcome.Rejected($"flag file is {error}");
        }
        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            return ConsumerOutcome.Rejected("flag file must be a JSON object");
        }
        var on = document.RootElement.TryGetProperty(Flag, out var value) && value.ValueKind == JsonValueKind.True;
        return ConsumerOutcome.Applied(on ? new PackageEffect(ErrorShare, Affected) : PackageEffect.None);
    }
}
