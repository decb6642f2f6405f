using System.Net;
using System.Net.Sockets;
using System.Text;
using Snapstone.Server.Hosting;

namespace Snapstone.Server.Tests;

/// <summary>
/// A silo's storage clients open at most <c>Snapstone:Storage:MaxConnections</c> connections to an endpoint however
/// many requests it sends at once; the others wait for a free connection. Against a real HTTP endpoint that holds
/// every request a moment, so that without the cap each concurrent request would open a connection of its own.
/// </summary>
public sealed class StorageConnectionTests
{
    private const string Key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    [Theory]
    [InlineData(4)]
    [InlineData(16)]
    public async Task Concurrent_requests_beyond_MaxConnections_wait_for_a_connection_instead_of_opening_one(int cap)
    {
        await using var endpoint = HoldingEndpoint.Start(TimeSpan.FromMilliseconds(50));
        var account = StorageAccount.FromConnectionString(endpoint.ConnectionString(Key), maxConnections: cap);
        var container = account.Container("packages");
        var table = account.Table("grains");

        var requests = Enumerable.Range(0, 10 * cap).Select(i => i % 2 == 0
            ? container.ExistsAsync().ContinueWith(t => t.Result.Value)
            : table.DeleteEntityAsync("p", $"r{i}").ContinueWith(t => t.Result.Status == 204)).ToList();
        var answers = await Task.WhenAll(requests);

        Assert.All(answers, Assert.True);
        Assert.Equal(10 * cap, endpoint.Requests);
        Assert.InRange(endpoint.MostConnectionsAtOnce, 1, cap);
    }

    [Fact]
    public async Task Membership_and_the_probe_have_a_pool_of_their_own_that_a_busy_data_pool_does_not_hold_up()
    {
        await using var endpoint = HoldingEndpoint.Start(TimeSpan.FromMilliseconds(300));
        var account = StorageAccount.FromConnectionString(endpoint.ConnectionString(Key), maxConnections: 1);
        var busy = Enumerable.Range(0, 20).Select(i => account.Table("grains").DeleteEntityAsync("p", $"r{i}")).ToList();
        await endpoint.Busy;

        var probe = account.ControlTables().GetTableClient("grains").DeleteEntityAsync("p", "probe");
        var first = await Task.WhenAny(probe, Task.WhenAll(busy));

        Assert.Same(probe, first);
        Assert.Equal(204, (await probe).Status);
        await Task.WhenAll(busy);
        Assert.Equal(2, endpoint.MostConnectionsAtOnce);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(10_001)]
    public void A_cap_out_of_range_is_refused_naming_the_key(int cap)
    {
        var refusal = Assert.Throws<InvalidOperationException>(() => StorageAccount.FromConnectionString("UseDevelopmentStorage=true", maxConnections: cap));
        Assert.Equal($"Snapstone:Storage:MaxConnections must be between 1 and 10000 (got {cap})", refusal.Message);
    }

    /// <summary>
    /// An HTTP/1.1 endpoint on loopback that answers every request after <c>hold</c> (200 for a HEAD or GET, 204
    /// otherwise), keeps connections alive, and counts the connections open at once.
    /// </summary>
    private sealed class HoldingEndpoint : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly TimeSpan _hold;
        private readonly CancellationTokenSource _stop = new();
        private readonly TaskCompletionSource _busy = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly List<Task> _connections = [];
        private Task _accepting = Task.CompletedTask;
        private int _open;
        private int _most;
        private int _requests;

        private HoldingEndpoint(TimeSpan hold) => _hold = hold;

        public int MostConnectionsAtOnce => Volatile.Read(ref _most);

        public int Requests => Volatile.Read(ref _requests);

        /// <summary>Completes once a request is being held.</summary>
        public Task Busy => _busy.Task;

        public static HoldingEndpoint Start(TimeSpan hold)
        {
            var endpoint = new HoldingEndpoint(hold);
            endpoint._listener.Start();
            endpoint._accepting = endpoint.AcceptAsync();
            return endpoint;
        }

        public string ConnectionString(string key)
        {
            var at = $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/devstoreaccount1";
            return $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={key};BlobEndpoint={at};TableEndpoint={at}";
        }

        private async Task AcceptAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                TcpClient client;
                try
                {
                    client = await _listener.AcceptTcpClientAsync(_stop.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                var open = Interlocked.Increment(ref _open);
                InterlockedMax(ref _most, open);
                lock (_connections)
                {
                    _connections.Add(ServeAsync(client));
                }
            }
        }

        private async Task ServeAsync(TcpClient client)
        {
            try
            {
                using (client)
                {
                    var stream = client.GetStream();
                    var reader = new StreamReader(stream, Encoding.ASCII);
                    while (await reader.ReadLineAsync(_stop.Token) is { } requestLine)
                    {
                        var length = 0;
                        while (await reader.ReadLineAsync(_stop.Token) is { Length: > 0 } header)
                        {
                            if (header.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
                            {
                                length = int.Parse(header["Content-Length:".Length..].Trim());
                            }
                        }
                        if (length > 0)
                        {
                            await reader.ReadBlockAsync(new char[length], _stop.Token);
                        }
                        Interlocked.Increment(ref _requests);
                        _busy.TrySetResult();
                        await Task.Delay(_hold, _stop.Token);
                        var read = requestLine.StartsWith("HEAD ") || requestLine.StartsWith("GET ");
                        var answer = read ? "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n" : "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n";
                        await stream.WriteAsync(Encoding.ASCII.GetBytes(answer), _stop.Token);
                    }
                }
            }
            catch (Exception e) when (e is OperationCanceledException or IOException)
            {
            }
            finally
            {
                Interlocked.Decrement(ref _open);
            }
        }

        private static void InterlockedMax(ref int target, int value)
        {
            for (var seen = Volatile.Read(ref target); value > seen; seen = Volatile.Read(ref target))
            {
                if (Interlocked.CompareExchange(ref target, value, seen) == seen)
                {
                    return;
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            await _accepting;
            Task[] connections;
            lock (_connections)
            {
                connections = [.. _connections];
            }
            await Task.WhenAll(connections);
            _stop.Dispose();
        }
    }
}
