using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Dashboard;

namespace Snapstone.Benchmarks.Measurements;

/// <summary>
/// (c, baseline) How many trivial grain calls per second Orleans itself does on this machine: a silo in
/// this process (localhost clustering on free ports, in-memory storage), one <see cref="IEchoGrain"/>
/// per node key, activated first, warmed up for a few seconds, then called round-robin by a fixed number
/// of concurrent callers.
/// Run while the server is not, so the baseline has the machine to itself. With
/// <paramref name="withDashboard"/> the silo also runs the Orleans dashboard, as the server does: its
/// grain-call filter times every call, and this row shows what that costs. With <paramref name="heldReferences"/>
/// the callers use references made once per key instead of <c>GetGrain</c> per call: Orleans then does not look
/// up the interface's grain type on every call, as the server's report path does not (<c>GrainReferences.ByKey</c>).
/// </summary>
public sealed class RawGrainCallRate(BenchmarkOptions options, bool withDashboard = false, bool heldReferences = false)
{
    private static readonly TimeSpan Warmup = TimeSpan.FromSeconds(3);

    public async Task<ResultRow> RunAsync(TextWriter log, CancellationToken cancellationToken)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders().AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace).SetMinimumLevel(LogLevel.Warning);
        builder.UseOrleans(silo =>
        {
            silo.UseLocalhostClustering(FreePort(), FreePort(), serviceId: "snapstone-benchmark", clusterId: "snapstone-benchmark")
                .AddMemoryGrainStorageAsDefault();
            if (withDashboard)
            {
                silo.AddDashboard();
            }
        });
        using var host = builder.Build();
        await host.StartAsync(cancellationToken);
        try
        {
            var grains = host.Services.GetRequiredService<IGrainFactory>();
            var keys = options.Nodes;
            log.WriteLine($"raw grain calls{(withDashboard ? " with the dashboard" : "")}: activating {keys:N0} echo grains …");
            var activation = Stopwatch.StartNew();
            await Parallel.ForEachAsync(Enumerable.Range(0, keys),
                new ParallelOptions { MaxDegreeOfParallelism = options.RawConcurrency, CancellationToken = cancellationToken },
                async (key, _) => await grains.GetGrain<IEchoGrain>(key).Echo(key));
            var activationRate = keys / activation.Elapsed.TotalSeconds;

            // Calls before the measured ones, so that tiered JIT has compiled the hot path.
            Func<int, IEchoGrain> grain = k => grains.GetGrain<IEchoGrain>(k);
            if (heldReferences)
            {
                var held = Enumerable.Range(0, keys).Select(k => grains.GetGrain<IEchoGrain>(k)).ToArray();
                grain = k => held[k];
            }
            await CallAsync(grain, keys, Warmup, cancellationToken);
            log.WriteLine($"raw grain calls: {options.RawConcurrency} callers for {options.RawDuration.TotalSeconds:0} s …");
            var processorBefore = ProcessorTime();
            var (calls, elapsed, bestSecond) = await CallAsync(grain, keys, options.RawDuration, cancellationToken);
            var cores = (ProcessorTime() - processorBefore).TotalSeconds / elapsed.TotalSeconds;
            var rate = calls / elapsed.TotalSeconds;
            return new ResultRow("c", withDashboard
                    ? "raw grain calls with the Orleans dashboard on, as in the server"
                    : heldReferences
                        ? "raw grain calls with references made once per grain, no type lookup per call (as the server's report path)"
                        : "raw grain calls (baseline): in-process silo, trivial echo grain",
                $"{ResultRow.Number(rate)} calls/s", $"{ResultRow.Number(calls)} calls in {elapsed.TotalSeconds:0.0} s over {keys:N0} activated grains, " +
                $"{options.RawConcurrency} in flight, {cores:0.00} cores busy; best second {ResultRow.Number(bestSecond)} calls/s; " +
                $"first activation of each ran at {ResultRow.Number(activationRate)} calls/s", rate, cores, bestSecond);
        }
        finally
        {
            await host.StopAsync(CancellationToken.None);
        }
    }

    /// <summary>
    /// Calls for <paramref name="duration"/>; returns the calls, the time they took, and the best rate over
    /// one second of it (the capacity left when other work on the machine paused).
    /// </summary>
    private async Task<(long Calls, TimeSpan Elapsed, double BestSecond)> CallAsync(
        Func<int, IEchoGrain> grain, int keys, TimeSpan duration, CancellationToken cancellationToken)
    {
        long next = -1;
        long calls = 0;
        var watch = Stopwatch.StartNew();
        using var done = new CancellationTokenSource();
        var seconds = RatePerSecondAsync(() => Interlocked.Read(ref calls), done.Token);
        var callers = Enumerable.Range(0, options.RawConcurrency).Select(async _ =>
        {
            await Task.Yield();
            while (watch.Elapsed < duration && !cancellationToken.IsCancellationRequested)
            {
                var key = (int)(Interlocked.Increment(ref next) % keys);
                await grain(key).Echo(key);
                Interlocked.Increment(ref calls);
            }
        }).ToArray();
        await Task.WhenAll(callers);
        var elapsed = watch.Elapsed;
        await done.CancelAsync();
        var perSecond = await seconds;
        cancellationToken.ThrowIfCancellationRequested();
        return (calls, elapsed, perSecond.Count == 0 ? calls / elapsed.TotalSeconds : perSecond.Max());
    }

    /// <summary>
    /// The rate at which <paramref name="count"/> grew over each stretch of at least 0.9 s until cancelled,
    /// divided by the stretch's measured length. A starved timer fires late and then early: a tick a few
    /// milliseconds after the last one used to make a stretch of its own, and the calls that completed in that
    /// burst read as millions a second.
    /// </summary>
    private static async Task<List<double>> RatePerSecondAsync(Func<long> count, CancellationToken cancellationToken)
    {
        var rates = new List<double>();
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        var (last, lastAt) = (count(), Stopwatch.GetTimestamp());
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                var (now, nowAt) = (count(), Stopwatch.GetTimestamp());
                var stretch = Stopwatch.GetElapsedTime(lastAt, nowAt);
                if (stretch < TimeSpan.FromSeconds(0.9))
                {
                    continue;
                }
                rates.Add((now - last) / stretch.TotalSeconds);
                (last, lastAt) = (now, nowAt);
            }
        }
        catch (OperationCanceledException)
        {
        }
        return rates;
    }

    private static TimeSpan ProcessorTime()
    {
        using var self = Process.GetCurrentProcess();
        return self.TotalProcessorTime;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
