namespace Snapstone.Benchmarks.Measurements;

/// <summary>The cheapest grain call there is: the baseline that report ingest is compared with.</summary>
public interface IEchoGrain : IGrainWithIntegerKey
{
    Task<int> Echo(int value);
}

public sealed class EchoGrain : Grain, IEchoGrain
{
    public Task<int> Echo(int value) => Task.FromResult(value);
}
