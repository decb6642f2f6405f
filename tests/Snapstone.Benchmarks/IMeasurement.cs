namespace Snapstone.Benchmarks;

/// <summary>One thing the benchmark measures against the running server; one row of the table.</summary>
public interface IMeasurement
{
    Task<ResultRow> RunAsync(BenchmarkContext context, CancellationToken cancellationToken);
}
