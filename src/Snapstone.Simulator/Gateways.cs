namespace Snapstone.Simulator;

/// <summary>
/// The Snapstone gateways a fleet reports to, and which to try first. Safe to use from concurrent batches.
/// <para>
/// Each batch has a home gateway (batch <c>i</c> of a round → gateway <c>i mod n</c>), so a healthy cluster shares
/// the load. A gateway that fails a request with a connection error, a timeout, a 5xx or a 429 is avoided for a
/// cool-down: its <c>Retry-After</c> when it sent one, otherwise 1 s doubling with each failure in a row, at most
/// 30 s. While avoided it is tried only after every other gateway, so a batch still reaches it when nothing else
/// answers; the first success clears the cool-down.
/// </para>
/// <para>
/// Worked example, gateways a, b, c: batch 4's home is b (4 mod 3 = 1), so it tries b, c, a. After b answers
/// 503 with <c>Retry-After: 5</c>, batches homed on b go c, a, b for the next 5 s; batches homed on a go a, c, b.
/// </para>
/// </summary>
public sealed class Gateways
{
    public static readonly TimeSpan FirstCooldown = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan MaxCooldown = TimeSpan.FromSeconds(30);

    private readonly object _sync = new();
    private readonly Gateway[] _gateways;
    private readonly TimeProvider _time;

    internal Gateways(IReadOnlyList<Uri> urls, TimeProvider time)
    {
        _time = time;
        if (urls.Count == 0)
        {
            throw new ArgumentException("a fleet needs at least one Snapstone URL");
        }
        _gateways = urls.Select(u => new Gateway(u)).ToArray();
    }

    public int Count => _gateways.Length;

    public Uri this[int gateway] => _gateways[gateway].Url;

    /// <summary>Every gateway once, for a request homed on <paramref name="home"/>: those not avoided first, in turn from the home.</summary>
    internal int[] Order(int home)
    {
        var now = _time.GetUtcNow();
        var n = _gateways.Length;
        var turn = Enumerable.Range(0, n).Select(i => (home + i) % n);
        lock (_sync)
        {
            // A stable sort: in turn among the available, then in turn among the avoided.
            return turn.OrderBy(g => _gateways[g].AvoidedUntil > now ? 1 : 0).ToArray();
        }
    }

    /// <summary>The gateway answered; true when it had been avoided until then.</summary>
    internal bool Answered(int gateway)
    {
        lock (_sync)
        {
            var g = _gateways[gateway];
            g.Answered++;
            var wasAvoided = g.FailuresInARow > 0;
            g.FailuresInARow = 0;
            g.AvoidedUntil = DateTimeOffset.MinValue;
            return wasAvoided;
        }
    }

    /// <summary>
    /// The gateway failed in a way another gateway might not: avoid it for its <paramref name="retryAfter"/> or the
    /// next step of its cool-down. Answers how long it is avoided, and whether this failure is the first in a row.
    /// </summary>
    internal (TimeSpan Cooldown, bool First) Failed(int gateway, TimeSpan? retryAfter)
    {
        var now = _time.GetUtcNow();
        lock (_sync)
        {
            var g = _gateways[gateway];
            g.Failed++;
            g.FailuresInARow++;
            var backoff = TimeSpan.FromTicks(Math.Min(MaxCooldown.Ticks, FirstCooldown.Ticks << Math.Min(g.FailuresInARow - 1, 16)));
            var cooldown = retryAfter is { } wait ? TimeSpan.FromTicks(Math.Clamp(wait.Ticks, 0, MaxCooldown.Ticks)) : backoff;
            var until = now + cooldown;
            if (until > g.AvoidedUntil)
            {
                g.AvoidedUntil = until;
            }
            return (cooldown, g.FailuresInARow == 1);
        }
    }

    /// <summary>What each gateway did so far, in the order the fleet was given them.</summary>
    public IReadOnlyList<GatewayStatus> Status()
    {
        var now = _time.GetUtcNow();
        lock (_sync)
        {
            return _gateways.Select(g => new GatewayStatus(g.Url, g.Answered, g.Failed, g.AvoidedUntil > now ? g.AvoidedUntil : null)).ToArray();
        }
    }

    private sealed class Gateway(Uri url)
    {
        public Uri Url { get; } = url;
        public long Answered { get; set; }
        public long Failed { get; set; }
        public int FailuresInARow { get; set; }
        public DateTimeOffset AvoidedUntil { get; set; } = DateTimeOffset.MinValue;
    }
}

/// <summary>
/// One gateway's record: requests it answered (any status that ends the request, success or a refusal), requests
/// that failed on it in a way worth trying elsewhere, and until when it is avoided (null: it is not).
/// </summary>
public sealed record GatewayStatus(Uri Url, long Answered, long Failed, DateTimeOffset? AvoidedUntil);
