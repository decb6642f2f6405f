namespace Snapstone.Simulator.Consumers;

/// <summary>Takes any package and is not changed by it.</summary>
public sealed class PlainConsumer : IConsumer
{
    public string Describe() => "plain";

    public ConsumerOutcome Consume(ReadOnlySpan<byte> content) => ConsumerOutcome.Applied(PackageEffect.None);
}
