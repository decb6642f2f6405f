using System.Net;
using System.Net.Sockets;

namespace Snapstone.Testing;

/// <summary>
/// Ports for test servers, Prometheus and receivers. A port the kernel hands out for "any port" (bind to 0) is an
/// ephemeral one: once released, the next bind to 0 or any outgoing connection may take it again before the child
/// process that was told to use it binds — one server was given the same port for its silo and its HTTP gateway that
/// way. These come from below the kernel's ephemeral range, where outgoing connections never land, and none is handed
/// out twice by this process.
/// </summary>
public static class Ports
{
    private const int First = 20_000;
    private const int Last = 32_000;
    private static readonly HashSet<int> Given = [];

    /// <summary>A port nobody listens on at <paramref name="address"/> now, never given before by this process.</summary>
    public static int Free(IPAddress? address = null)
    {
        for (var attempt = 0; attempt < 1_000; attempt++)
        {
            var port = Random.Shared.Next(First, Last);
            lock (Given)
            {
                if (!Given.Add(port))
                {
                    continue;
                }
            }
            try
            {
                using var listener = new TcpListener(address ?? IPAddress.Loopback, port);
                listener.Start();
                return port;
            }
            catch (SocketException)
            {
                // in use by another process: try another
            }
        }
        throw new InvalidOperationException($"no free port between {First} and {Last} at {address ?? IPAddress.Loopback}");
    }
}
