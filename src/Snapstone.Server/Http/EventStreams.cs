using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using Snapstone.Domain;
using Snapstone.Server.Hosting;

namespace Snapstone.Server.Http;

/// <summary>
/// The event streams open on this gateway, counted per token: a stream holds a connection and a grain call for as
/// long as the rollout runs, so one token may hold at most <see cref="GatewayOptions.MaxStreamsPerToken"/> at once.
/// </summary>
public sealed class EventStreams(IOptions<ServerOptions> options)
{
    private readonly ConcurrentDictionary<string, int> _open = new(StringComparer.Ordinal);

    public TimeSpan Heartbeat { get; } = TimeSpan.FromSeconds(options.Value.Gateway.StreamHeartbeatSeconds);

    /// <summary>Counts a stream for <paramref name="token"/> until the returned lease is disposed; refuses past the limit (429).</summary>
    public IDisposable Open(string token)
    {
        var limit = options.Value.Gateway.MaxStreamsPerToken;
        var open = _open.AddOrUpdate(token, 1, (_, n) => n + 1);
        if (open > limit)
        {
            Close(token);
            throw new SnapstoneException(ProblemKind.TooMany,
                $"token '{token}' already holds {limit} open event streams on this gateway (Snapstone:Gateway:MaxStreamsPerToken); close one first");
        }
        return new Lease(this, token);
    }

    private void Close(string token)
    {
        if (_open.AddOrUpdate(token, 0, (_, n) => n - 1) <= 0)
        {
            _open.TryRemove(new KeyValuePair<string, int>(token, 0));
        }
    }

    private sealed class Lease(EventStreams streams, string token) : IDisposable
    {
        private int _closed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _closed, 1) == 0)
            {
                streams.Close(token);
            }
        }
    }
}
