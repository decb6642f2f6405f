using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Snapstone.Testing;

/// <summary>
/// A small network of hosts on this machine, made with Linux network namespaces: one bridge in the root namespace
/// (address <c>.1</c> of a /24 of its own, where the test process, its fleet and its storage live) and one namespace
/// per host, joined to the bridge by a veth pair (addresses <c>.2</c>, <c>.3</c>, …). A process run through
/// <see cref="Launcher"/> sees only its host's interface, as a pod or a VM would; <see cref="CutAsync"/> takes a
/// host's link down (nothing in or out, connections hang rather than refuse) and <see cref="RestoreAsync"/> brings it
/// back.
/// <para>
/// Everything is named after the test process and a random id (<c>snapstone-chaos-PID-ID-N</c> namespaces, <c>scIDb</c>
/// bridge, <c>scIDhN</c> links; interface names stop at 15 characters) on a /24 no route of this machine covers, so
/// two runs on one machine never meet. Disposing tears it all down; a watchdog outside the test process's tree does
/// the same if the test process dies first, and a new network sweeps away what a dead run left behind (a namespace
/// whose owner process is gone and that holds no process).
/// </para>
/// Needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) and iproute2's <c>ip</c>: <see cref="TryCreateAsync"/> says why not
/// where it cannot be made.
/// </summary>
public sealed class NamespaceNetwork : IAsyncDisposable
{
    public const string NamespacePrefix = "snapstone-chaos-";
    private const string Ip = "ip";

    private readonly string _marker;
    private int _disposed;

    private NamespaceNetwork(string id, byte second, byte third, int hosts)
    {
        Id = id;
        Subnet = $"10.{second}.{third}.0/24";
        Bridge = $"sc{id}b";
        BridgeAddress = IPAddress.Parse($"10.{second}.{third}.1");
        Hosts = Enumerable.Range(0, hosts)
            .Select(i => new NetworkHost(i, $"{NamespacePrefix}{Environment.ProcessId}-{id}-{i}", IPAddress.Parse($"10.{second}.{third}.{i + 2}"), $"sc{id}h{i}"))
            .ToArray();
        _marker = Path.Combine(Path.GetTempPath(), $"snapstone-chaos-{id}.done");
    }

    /// <summary>Six hex digits, part of every name this network uses.</summary>
    public string Id { get; }

    /// <summary>The /24 of the network, e.g. <c>10.213.7.0/24</c>.</summary>
    public string Subnet { get; }

    public string Bridge { get; }

    /// <summary>The root namespace's address on the bridge: where hosts reach the test process and its storage.</summary>
    public IPAddress BridgeAddress { get; }

    public IReadOnlyList<NetworkHost> Hosts { get; }

    /// <summary>The command prefix that runs a process in host <paramref name="host"/>'s namespace.</summary>
    public IReadOnlyList<string> Launcher(int host) => [Ip, "netns", "exec", Hosts[host].Namespace];

    /// <summary>
    /// Makes the bridge and <paramref name="hosts"/> namespaces, or answers why it cannot (not Linux, not root, no
    /// <c>ip</c>, or the kernel refused), leaving nothing behind.
    /// </summary>
    public static async Task<(NamespaceNetwork? Network, string? WhyNot)> TryCreateAsync(int hosts)
    {
        if (!OperatingSystem.IsLinux())
        {
            return (null, "network namespaces are Linux only");
        }
        if (Geteuid() != 0)
        {
            return (null, "making network namespaces needs root (the suite runs as root in CI)");
        }
        if ((await RunAsync(Ip, ["-V"], check: false)).Exit != 0)
        {
            return (null, "iproute2's ip command is missing (apt-get install iproute2)");
        }
        await SweepAsync();
        var routes = await RunAsync(Ip, ["-4", "route", "show", "table", "all"], check: false);
        var addresses = await RunAsync(Ip, ["-4", "-o", "addr", "show"], check: false);
        var taken = Prefixes(routes.Output + "\n" + addresses.Output);
        for (var attempt = 0; attempt < 20; attempt++)
        {
            var second = (byte)Random.Shared.Next(160, 240);
            var third = (byte)Random.Shared.Next(0, 256);
            if (taken.Any(p => Overlaps(p, (10u << 24) | ((uint)second << 16) | ((uint)third << 8), 24)))
            {
                continue;
            }
            var network = new NamespaceNetwork(Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(3)), second, third, hosts);
            try
            {
                await network.CreateAsync();
                return (network, null);
            }
            catch (Exception e)
            {
                await network.DisposeAsync();
                return (null, $"the kernel refused a network namespace or bridge: {e.Message}");
            }
        }
        return (null, "found no free 10.x.y.0/24 for the bridge");
    }

    private async Task CreateAsync()
    {
        StartWatchdog();
        await RunAsync(Ip, ["link", "add", Bridge, "type", "bridge"]);
        await RunAsync(Ip, ["addr", "add", $"{BridgeAddress}/24", "dev", Bridge]);
        await RunAsync(Ip, ["link", "set", Bridge, "up"]);
        foreach (var host in Hosts)
        {
            await RunAsync(Ip, ["netns", "add", host.Namespace]);
            await RunAsync(Ip, ["link", "add", host.Link, "type", "veth", "peer", "name", "eth0", "netns", host.Namespace]);
            await RunAsync(Ip, ["link", "set", host.Link, "master", Bridge, "up"]);
            await RunAsync(Ip, ["-n", host.Namespace, "addr", "add", $"{host.Address}/24", "dev", "eth0"]);
            await RunAsync(Ip, ["-n", host.Namespace, "link", "set", "eth0", "up"]);
            await RunAsync(Ip, ["-n", host.Namespace, "link", "set", "lo", "up"]);
        }
        // The bridge forwards once its ports leave the learning state; a TCP connect from each host proves it.
        using var listener = new TcpListener(BridgeAddress, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var accepting = Task.Run(async () =>
        {
            for (var i = 0; i < Hosts.Count; i++)
            {
                using var accepted = await listener.AcceptTcpClientAsync();
            }
        });
        foreach (var host in Hosts)
        {
            await Eventually.Until(async () => (await RunAsync(Ip,
                    ["netns", "exec", host.Namespace, "timeout", "2", "bash", "-c", $"exec 3<>/dev/tcp/{BridgeAddress}/{port}"], check: false)).Exit == 0,
                $"host {host.Index} ({host.Address}) to reach {BridgeAddress} over the bridge", TimeSpan.FromSeconds(20));
        }
        await accepting.WaitAsync(TimeSpan.FromSeconds(10));
    }

    /// <summary>Takes host <paramref name="host"/>'s link down: it reaches nothing and nothing reaches it.</summary>
    public Task CutAsync(int host) => RunAsync(Ip, ["link", "set", Hosts[host].Link, "down"]);

    /// <summary>Brings host <paramref name="host"/>'s link up again.</summary>
    public Task RestoreAsync(int host) => RunAsync(Ip, ["link", "set", Hosts[host].Link, "up"]);

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }
        await RunAsync("sh", ["-c", Teardown()], check: false);
        await File.WriteAllTextAsync(_marker, "torn down by the test process\n");
    }

    /// <summary>A shell script that kills what runs in the namespaces and deletes them and the links; safe to run twice.</summary>
    private string Teardown() => TeardownScript(Hosts.Select(h => h.Namespace), [.. Hosts.Select(h => h.Link), Bridge]);

    private static string TeardownScript(IEnumerable<string> namespaces, IEnumerable<string> links)
    {
        var script = new System.Text.StringBuilder();
        foreach (var ns in namespaces)
        {
            script.Append(CultureInfo.InvariantCulture, $"for p in $(ip netns pids {ns} 2>/dev/null); do kill -9 $p 2>/dev/null; done; ");
            script.Append(CultureInfo.InvariantCulture, $"ip netns del {ns} 2>/dev/null; ");
        }
        foreach (var link in links)
        {
            script.Append(CultureInfo.InvariantCulture, $"ip link del {link} 2>/dev/null; ");
        }
        return script.Append("true").ToString();
    }

    /// <summary>
    /// A shell outside the test process's tree (so a tree kill of the test host spares it) that tears the network
    /// down if the test process dies before it disposes the network, and exits quietly once it has.
    /// </summary>
    private void StartWatchdog()
    {
        File.Delete(_marker);
        var us = Environment.ProcessId;
        var watch = $"while kill -0 {us} 2>/dev/null && [ ! -e '{_marker}' ]; do sleep 1; done; " +
                    $"if [ ! -e '{_marker}' ]; then sleep 2; {Teardown()}; fi; rm -f '{_marker}'";
        var start = new ProcessStartInfo("sh") { UseShellExecute = false, RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("-c");
        // The script travels as $0, so nothing in it is expanded by this shell.
        start.ArgumentList.Add(File.Exists("/usr/bin/setsid")
            ? "exec setsid -f sh -c \"$0\" </dev/null >/dev/null 2>&1"
            : "sh -c \"$0\" </dev/null >/dev/null 2>&1 &");
        start.ArgumentList.Add(watch);
        using var launcher = Process.Start(start) ?? throw new InvalidOperationException("could not start the network's watchdog");
        launcher.WaitForExit(5000);
    }

    /// <summary>
    /// Deletes what earlier runs left: namespaces named after a process that no longer exists, holding no process, with
    /// their bridge. A live run's namespaces are never touched (its process exists).
    /// </summary>
    private static async Task SweepAsync()
    {
        var list = await RunAsync(Ip, ["netns", "list"], check: false);
        var stale = new Dictionary<string, List<string>>();
        foreach (var line in list.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var name = line.Split(' ')[0];
            if (!name.StartsWith(NamespacePrefix, StringComparison.Ordinal))
            {
                continue;
            }
            var parts = name[NamespacePrefix.Length..].Split('-');
            if (parts.Length != 3 || !int.TryParse(parts[0], CultureInfo.InvariantCulture, out var owner) || Directory.Exists($"/proc/{owner}"))
            {
                continue;
            }
            if ((await RunAsync(Ip, ["netns", "pids", name], check: false)).Output.Trim().Length > 0)
            {
                continue;
            }
            (stale.TryGetValue(parts[1], out var names) ? names : stale[parts[1]] = []).Add(name);
        }
        foreach (var (id, names) in stale)
        {
            await RunAsync("sh", ["-c", TeardownScript(names, [$"sc{id}b"])], check: false);
        }
    }

    /// <summary>Every IPv4 prefix named in <c>ip route</c> and <c>ip addr</c> output (the default route excluded).</summary>
    private static List<(uint Network, int Length)> Prefixes(string text)
    {
        var found = new List<(uint, int)>();
        foreach (var word in text.Split([' ', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries))
        {
            var cidr = word.Split('/');
            if (IPAddress.TryParse(cidr[0], out var address) && address.AddressFamily == AddressFamily.InterNetwork &&
                cidr[0].Count(c => c == '.') == 3)
            {
                var length = cidr.Length == 2 && int.TryParse(cidr[1], CultureInfo.InvariantCulture, out var l) ? l : 32;
                var bytes = address.GetAddressBytes();
                found.Add(((uint)bytes[0] << 24 | (uint)bytes[1] << 16 | (uint)bytes[2] << 8 | bytes[3], length));
            }
        }
        return found;
    }

    private static bool Overlaps((uint Network, int Length) a, uint network, int length)
    {
        var shortest = Math.Min(a.Length, length);
        var mask = shortest == 0 ? 0u : uint.MaxValue << (32 - shortest);
        return (a.Network & mask) == (network & mask);
    }

    /// <summary>Runs a command to its end; with <paramref name="check"/> a non-zero exit throws with what it printed.</summary>
    public static async Task<(int Exit, string Output, string Error)> RunAsync(string file, IReadOnlyList<string> arguments, bool check = true)
    {
        var start = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {file}");
        }
        catch (System.ComponentModel.Win32Exception e) when (!check)
        {
            return (127, "", e.Message);
        }
        using (process)
        {
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            var result = (process.ExitCode, await output, await error);
            if (check && result.ExitCode != 0)
            {
                throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} exited with {result.ExitCode}: {result.Item3.Trim()}");
            }
            return result;
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "geteuid")]
    private static extern uint Geteuid();
}

/// <summary>One host of a <see cref="NamespaceNetwork"/>: its namespace, its address, and its link in the root namespace.</summary>
public sealed record NetworkHost(int Index, string Namespace, IPAddress Address, string Link);
