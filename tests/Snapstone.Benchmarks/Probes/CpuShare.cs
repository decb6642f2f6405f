using System.Diagnostics;
using System.Globalization;

namespace Snapstone.Benchmarks.Probes;

/// <summary>
/// How many cores the server and this process (the fleet) kept busy over a period, from each process's
/// total processor time: 1.5 means one and a half cores on average. Started by <see cref="Start"/>, read by
/// <see cref="Read"/> at the end of the period. On a shared machine this is what separates "the server is
/// slow" from "the server did not get the cores".
/// </summary>
public sealed class CpuShare
{
    private readonly int _serverPid;
    private readonly TimeSpan _server;
    private readonly TimeSpan _fleet;
    private readonly long _started;

    private CpuShare(int serverPid)
    {
        _serverPid = serverPid;
        _server = ProcessorTime(serverPid);
        _fleet = ProcessorTime(Environment.ProcessId);
        _started = Stopwatch.GetTimestamp();
    }

    public static CpuShare Start(int serverPid) => new(serverPid);

    public CpuUse Read()
    {
        var wall = Stopwatch.GetElapsedTime(_started).TotalSeconds;
        return new CpuUse(
            (ProcessorTime(_serverPid) - _server).TotalSeconds / wall,
            (ProcessorTime(Environment.ProcessId) - _fleet).TotalSeconds / wall);
    }

    private static TimeSpan ProcessorTime(int pid)
    {
        using var process = Process.GetProcessById(pid);
        return process.TotalProcessorTime;
    }
}

/// <summary>Average cores busy in the server and in this process over a period.</summary>
public sealed record CpuUse(double ServerCores, double FleetCores)
{
    /// <summary>E.g. "server 1.21 cores, fleet 0.64 cores".</summary>
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"server {ServerCores:0.00} cores, fleet {FleetCores:0.00} cores");
}
