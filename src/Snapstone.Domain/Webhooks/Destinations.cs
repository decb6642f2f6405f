using System.Net;
using System.Net.Sockets;

namespace Snapstone.Domain.Webhooks;

/// <summary>
/// The addresses a webhook or notification may not be sent to unless the allow-list names them: whatever is inside
/// the cluster's own network rather than out on the internet. Pure: the caller resolves names and passes the addresses.
/// </summary>
public static class Destinations
{
    /// <summary>The configuration key of the allow-list, as refusals name it.</summary>
    public const string AllowListKey = "Snapstone:Webhooks:AllowedDestinations";

    private static readonly (IPNetwork Network, string Why)[] Inward =
    [
        (IPNetwork.Parse("0.0.0.0/8"), "unspecified (0.0.0.0/8)"),
        (IPNetwork.Parse("127.0.0.0/8"), "loopback (127.0.0.0/8)"),
        (IPNetwork.Parse("10.0.0.0/8"), "private (10.0.0.0/8)"),
        (IPNetwork.Parse("172.16.0.0/12"), "private (172.16.0.0/12)"),
        (IPNetwork.Parse("192.168.0.0/16"), "private (192.168.0.0/16)"),
        (IPNetwork.Parse("169.254.0.0/16"), "link-local (169.254.0.0/16, where cloud metadata services answer)"),
        (IPNetwork.Parse("100.64.0.0/10"), "carrier-grade NAT (100.64.0.0/10)"),
        (IPNetwork.Parse("224.0.0.0/4"), "multicast (224.0.0.0/4)"),
        (IPNetwork.Parse("240.0.0.0/4"), "reserved (240.0.0.0/4, broadcast included)"),
        (IPNetwork.Parse("::/128"), "unspecified (::)"),
        (IPNetwork.Parse("::1/128"), "loopback (::1)"),
        (IPNetwork.Parse("fe80::/10"), "link-local (fe80::/10)"),
        (IPNetwork.Parse("fc00::/7"), "unique-local (fc00::/7)"),
        (IPNetwork.Parse("ff00::/8"), "multicast (ff00::/8)"),
    ];

    /// <summary>
    /// Why <paramref name="address"/> is inward, or null for an address out on the internet. IPv4-mapped
    /// (<c>::ffff:10.0.0.1</c>), IPv4-compatible (<c>::10.0.0.1</c>), NAT64 (<c>64:ff9b::/96</c>) and 6to4
    /// (<c>2002::/16</c>) forms are judged by the IPv4 address they carry.
    /// Worked example: <c>::ffff:169.254.169.254</c> → "link-local (169.254.0.0/16, …)"; <c>93.184.215.14</c> → null.
    /// </summary>
    public static string? Inwardness(IPAddress address)
    {
        if (address.AddressFamily == AddressFamily.InterNetworkV6 && Embedded(address) is { } v4)
        {
            return Inwardness(v4);
        }
        foreach (var (network, why) in Inward)
        {
            if (network.BaseAddress.AddressFamily == address.AddressFamily && network.Contains(address))
            {
                return why;
            }
        }
        return null;
    }

    /// <summary>The IPv4 address an IPv6 address stands for, where it is a form that carries one.</summary>
    private static IPAddress? Embedded(IPAddress v6)
    {
        if (v6.IsIPv4MappedToIPv6)
        {
            return v6.MapToIPv4();
        }
        var bytes = v6.GetAddressBytes();
        // IPv4-compatible ::a.b.c.d (deprecated, still routed by some stacks); :: and ::1 themselves are judged as IPv6.
        if (bytes.AsSpan(0, 12).IndexOfAnyExcept((byte)0) < 0 && !(bytes[12] == 0 && bytes[13] == 0 && bytes[14] == 0 && bytes[15] <= 1))
        {
            return new IPAddress(bytes.AsSpan(12, 4));
        }
        // NAT64 well-known prefix 64:ff9b::/96.
        if (bytes[0] == 0 && bytes[1] == 0x64 && bytes[2] == 0xff && bytes[3] == 0x9b && bytes.AsSpan(4, 8).IndexOfAnyExcept((byte)0) < 0)
        {
            return new IPAddress(bytes.AsSpan(12, 4));
        }
        // 6to4 2002:a.b.c.d::/48.
        if (bytes[0] == 0x20 && bytes[1] == 0x02)
        {
            return new IPAddress(bytes.AsSpan(2, 4));
        }
        return null;
    }

    /// <summary>
    /// Null when a request to <paramref name="host"/> at <paramref name="address"/> may go; otherwise the refusal,
    /// naming the address, why it is inward and the key that would allow it.
    /// </summary>
    public static string? Check(string host, IPAddress address, AllowList allowed)
    {
        if (Inwardness(address) is not { } why || allowed.Allows(host, address))
        {
            return null;
        }
        var shown = address.ToString();
        var named = string.Equals(host.Trim('[', ']'), shown, StringComparison.OrdinalIgnoreCase) ? $"'{shown}'" : $"'{host}' resolves to {shown}, which";
        return $"{named} is {why}: webhooks and notifications are not sent inside the cluster's network unless {AllowListKey} names the address or host";
    }

    /// <summary>
    /// Null when every one of <paramref name="addresses"/> may be reached (a name resolving to one inward address
    /// among outward ones is refused: the connection could be made to any of them); otherwise the first refusal.
    /// </summary>
    public static string? Check(string host, IEnumerable<IPAddress> addresses, AllowList allowed)
    {
        foreach (var address in addresses)
        {
            if (Check(host, address, allowed) is { } refusal)
            {
                return refusal;
            }
        }
        return null;
    }
}

/// <summary>
/// The destinations that may be inward (<see cref="Destinations.AllowListKey"/>): CIDR blocks (<c>10.20.0.0/16</c>),
/// single addresses (<c>127.0.0.1</c>) and host names (<c>hooks.internal.example</c>, matched whole and
/// case-insensitively; a name allows whatever it resolves to).
/// </summary>
public sealed class AllowList
{
    public static readonly AllowList None = new([], new HashSet<string>());

    private readonly IReadOnlyList<IPNetwork> _networks;
    private readonly IReadOnlySet<string> _hosts;

    private AllowList(IReadOnlyList<IPNetwork> networks, IReadOnlySet<string> hosts)
    {
        _networks = networks;
        _hosts = hosts;
    }

    public bool IsEmpty => _networks.Count == 0 && _hosts.Count == 0;

    /// <summary>
    /// The list from its entries (blank ones skipped), or every entry that is neither a CIDR, an address nor a host name.
    /// Worked example: <c>["127.0.0.1", "10.0.0.0/8", "hooks.lab"]</c> allows 127.0.0.1, all of 10/8 and the host hooks.lab.
    /// </summary>
    public static (AllowList List, IReadOnlyList<string> Errors) Parse(IEnumerable<string?> entries)
    {
        var networks = new List<IPNetwork>();
        var hosts = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var errors = new List<string>();
        foreach (var raw in entries)
        {
            var entry = raw?.Trim() ?? "";
            if (entry.Length == 0)
            {
                continue;
            }
            if (entry.Contains('/'))
            {
                if (IPNetwork.TryParse(entry, out var network)) networks.Add(network);
                else errors.Add($"{Destinations.AllowListKey} entry '{entry}' is not a CIDR block (e.g. 10.20.0.0/16)");
            }
            else if (IPAddress.TryParse(entry.Trim('[', ']'), out var address))
            {
                networks.Add(new IPNetwork(address, address.AddressFamily == AddressFamily.InterNetwork ? 32 : 128));
            }
            else if (Uri.CheckHostName(entry) == UriHostNameType.Dns)
            {
                hosts.Add(entry.TrimEnd('.'));
            }
            else
            {
                errors.Add($"{Destinations.AllowListKey} entry '{entry}' is neither a CIDR block, an address nor a host name");
            }
        }
        return (new AllowList(networks, hosts), errors);
    }

    public bool Allows(string host, IPAddress address)
    {
        if (_hosts.Contains(host.TrimEnd('.')))
        {
            return true;
        }
        var v4 = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
        return _networks.Any(n => n.BaseAddress.AddressFamily == v4.AddressFamily ? n.Contains(v4) : n.Contains(address));
    }
}
