using Microsoft.Extensions.Diagnostics.HealthChecks;
using Snapstone.Grains.Storage;

namespace Snapstone.Server.Hosting;

/// <summary>Ready when package storage answers.</summary>
public sealed class StorageReadiness(IPackageStore store) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
    {
        try
        {
            await store.PingAsync(ct);
            return HealthCheckResult.Healthy("blob storage answers");
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return HealthCheckResult.Unhealthy($"blob storage does not answer: {e.GetType().Name}");
        }
    }
}

/// <summary>Ready when the silo activates a grain that reads table storage.</summary>
public sealed class SiloReadiness(IGrainFactory grains) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
    {
        try
        {
            var catalog = await grains.GetGrain<ICatalogGrain>(ICatalogGrain.Key).Get().WaitAsync(TimeSpan.FromSeconds(5), ct);
            return HealthCheckResult.Healthy($"silo answers; catalog at version {catalog.Version}");
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return HealthCheckResult.Unhealthy($"silo does not answer: {e.GetType().Name}");
        }
    }
}
