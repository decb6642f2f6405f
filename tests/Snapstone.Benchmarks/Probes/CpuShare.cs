using System.Diagnostics;
using System.Globalization;

namespace Snapstone.Benchmarks.Probes;

/// <summary>
/// How many cores the server's silos and this process (the fleet) kept busy over a period, from each process's
/// total processor time: 1.5 means one and a half cores on average. Started by <see cref="Start"/>, read by
/// <see cref="Read"/> at the end of the period. On a shared machine this is what separates "the server is
/// slow" from "the server did not get the cores".
/// </summary>
public sealed class CpuShare
{
    private readonly IReadOnlyList<int> _silos;
    private readonly TimeSpan[] _server;
    private readonly TimeSpan _fleet;
    private readonly long _started;

    private CpuShare(IReadOnlyList<int> silos)
    {
        _silos = silos;
        _server = [.. silos.Select(ProcessorTime)];
        _fleet = ProcessorTime(Environment.ProcessId);
        _started = Stopwatch.GetTimestamp();
    }

    public static CpuShare Start(int serverPid) => new([serverPid]);

    /// <summary>Over every silo of a cluster, each counted on its own too.</summary>
    public static CpuShare Start(IReadOnlyList<int> siloPids) => new(siloPids);

    public CpuUse Read()
    {
        var wall = Stopwatch.GetElapsedTime(_started).TotalSeconds;
        var silos = _silos.Select((pid, i) => (ProcessorTime(pid) - _server[i]).TotalSeconds / wall).ToArray();
        return new CpuUse(silos.Sum(), (ProcessorTime(Environment.ProcessId) - _fleet).TotalSeconds / wall) { Silos = silos };
    }

    private static TimeSpan ProcessorTime(int pid)
    {
        using var process = Process.GetProcessById(pid);
        return process.TotalProcessorTime;
    }
}

/// <summary>Average cores busy in the server (every silo together, and each in <see cref="Silos"/>) and in this process over a period.</summary>
public sealed record CpuUse(double ServerCores, double FleetCores)
{
    public IReadOnlyList<double> Silos { get; init; } = [ServerCores];

    /// <summary>E.g. "server 1.21 cores, fleet 0.64 cores", or with silos "server 1.21 cores (silos 0.40, 0.41, 0.40), fleet 0.64 cores".</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"server {ServerCores:0.00} cores{(Silos.Count > 1 ? $" (silos {string.Join(", ", Silos.Select(s => s.ToString("0.00", CultureInfo.InvariantCulture)))})" : "")}, fleet {FleetCores:0.00} cores");
}
