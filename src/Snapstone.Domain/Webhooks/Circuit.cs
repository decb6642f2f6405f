namespace Snapstone.Domain.Webhooks;

public enum CircuitState
{
    /// <summary>Deliveries go.</summary>
    Closed,
    /// <summary>Too many failures in a row: nothing is sent until the cooling period ends.</summary>
    Open,
    /// <summary>The cooling period ended: one probe is out; its outcome closes or reopens the circuit.</summary>
    HalfOpen,
}

/// <summary>What the breaker tells one delivery: go (maybe as the probe), or wait until a time.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.CircuitPermit")]
public sealed record CircuitPermit([property: Id(0)] bool Go, [property: Id(1)] DateTimeOffset? WaitUntil);

/// <summary>
/// One receiver's circuit breaker: after <c>failures</c> consecutive failed attempts it opens for
/// <c>cooldown</c>; then one attempt (the probe) may go: success closes it, failure opens it again. Bounded: a
/// few fields per receiver. Immutable; every transition returns the next breaker.
/// </summary>
[GenerateSerializer, Immutable, Alias("snapstone.Circuit")]
public sealed record Circuit
{
    [Id(0)] public CircuitState State { get; init; } = CircuitState.Closed;
    [Id(1)] public int ConsecutiveFailures { get; init; }
    [Id(2)] public DateTimeOffset? OpenUntil { get; init; }
    /// <summary>When the probe went out (half-open); a probe that never reports back frees the slot after a cooling period.</summary>
    [Id(3)] public DateTimeOffset? ProbeSince { get; init; }
    [Id(4)] public string? LastError { get; init; }
    [Id(5)] public DateTimeOffset? LastErrorAt { get; init; }

    public static readonly Circuit Closed = new();

    /// <summary>
    /// Whether an attempt may go at <paramref name="now"/>. Worked example: open until 12:00:30, asked at 12:00:31 →
    /// go, and the circuit is half-open with this attempt as its probe; asked again at 12:00:32 → wait until 12:01:01.
    /// </summary>
    public (Circuit Next, CircuitPermit Permit) Ask(DateTimeOffset now, TimeSpan cooldown) => State switch
    {
        CircuitState.Closed => (this, new CircuitPermit(true, null)),
        CircuitState.Open when OpenUntil is { } until && now < until => (this, new CircuitPermit(false, until)),
        CircuitState.Open => (this with { State = CircuitState.HalfOpen, ProbeSince = now, OpenUntil = null }, new CircuitPermit(true, null)),
        _ when ProbeSince is { } since && now - since < cooldown => (this, new CircuitPermit(false, since + cooldown)),
        _ => (this with { ProbeSince = now }, new CircuitPermit(true, null)),
    };

    /// <summary>A delivered attempt closes the circuit; the last error stays on show.</summary>
    public Circuit Succeeded() => Closed with { LastError = LastError, LastErrorAt = LastErrorAt };

    /// <summary>A failed attempt: counted; the circuit opens at <paramref name="threshold"/> in a row, and a failed probe reopens it at once.</summary>
    public Circuit Failed(DateTimeOffset now, string error, int threshold, TimeSpan cooldown)
    {
        var failures = ConsecutiveFailures + 1;
        var opens = State == CircuitState.HalfOpen || failures >= threshold;
        return new Circuit
        {
            State = opens ? CircuitState.Open : CircuitState.Closed,
            ConsecutiveFailures = failures,
            OpenUntil = opens ? now + cooldown : null,
            LastError = error.Length <= 300 ? error : error[..299] + "…",
            LastErrorAt = now,
        };
    }

    /// <summary>The wire name: <c>closed</c>, <c>open</c>, <c>half-open</c>.</summary>
    public string WireState => State switch
    {
        CircuitState.Open => "open",
        CircuitState.HalfOpen => "half-open",
        _ => "closed",
    };
}
