namespace Snapstone.Domain.Webhooks;

/// <summary>What one attempt's answer means for the delivery.</summary>
public enum AttemptVerdict
{
    Delivered,
    /// <summary>Tried again later, with backoff: 5xx, 408, 429, a timeout, a refused connection.</summary>
    Retry,
    /// <summary>Never tried again: the receiver refused it for good (4xx other than 408/429), or redirected it.</summary>
    Permanent,
}

/// <summary>
/// One attempt's outcome as the delivery sees it: an HTTP status (with its redirect and Retry-After) or a transport
/// error; <paramref name="Refused"/> when Snapstone itself would not connect (the name now resolves inward).
/// </summary>
public sealed record AttemptOutcome(int? Status, string? Location = null, TimeSpan? RetryAfter = null, string? Error = null, bool Refused = false);

/// <summary>
/// Retries and their pauses. Pure: the caller passes the attempt number and a random draw.
/// </summary>
public static class DeliveryPolicy
{
    /// <summary>Attempts before a delivery is given up.</summary>
    public const int MaxAttempts = 12;
    /// <summary>The first pause; each later one doubles, up to <see cref="MaxDelay"/>.</summary>
    public static readonly TimeSpan BaseDelay = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan MaxDelay = TimeSpan.FromMinutes(10);
    /// <summary>The longest <c>Retry-After</c> honoured; a longer one waits this long.</summary>
    public static readonly TimeSpan MaxRetryAfter = TimeSpan.FromMinutes(30);
    /// <summary>A delivery still pending this long after its event (a receiver whose circuit never closes) is given up.</summary>
    public static readonly TimeSpan MaxAge = TimeSpan.FromHours(24);

    /// <summary>
    /// Worked examples: 204 → delivered; 302 to /elsewhere → permanent ("redirect … not followed"); 404 → permanent;
    /// 408, 429, 503 → retry; a connection refused → retry.
    /// </summary>
    public static (AttemptVerdict Verdict, string? Error) Judge(AttemptOutcome outcome) => outcome.Status switch
    {
        null when outcome.Refused => (AttemptVerdict.Permanent, outcome.Error ?? "destination refused"),
        null => (AttemptVerdict.Retry, outcome.Error ?? "no answer"),
        >= 200 and < 300 => (AttemptVerdict.Delivered, null),
        >= 300 and < 400 => (AttemptVerdict.Permanent, $"HTTP {outcome.Status}: redirect to {(string.IsNullOrEmpty(outcome.Location) ? "(no Location)" : Shorten(outcome.Location))} not followed"),
        408 or 429 => (AttemptVerdict.Retry, $"HTTP {outcome.Status}"),
        >= 400 and < 500 => (AttemptVerdict.Permanent, $"HTTP {outcome.Status}: refused by the receiver, not retried"),
        _ => (AttemptVerdict.Retry, $"HTTP {outcome.Status}"),
    };

    /// <summary>
    /// The pause after failed attempt number <paramref name="attempt"/> (1 for the first): "full jitter" between half
    /// and all of <c>BaseDelay·2^(attempt-1)</c> capped at <see cref="MaxDelay"/>, or the receiver's Retry-After
    /// (capped at <see cref="MaxRetryAfter"/>) when it asks for longer. <paramref name="draw"/> is in [0, 1).
    /// Worked example: attempt 3, draw 0.5 → 3 s; attempt 3 with Retry-After 120 s → 120 s.
    /// </summary>
    public static TimeSpan Pause(int attempt, double draw, TimeSpan? retryAfter = null)
    {
        var exponent = Math.Clamp(attempt - 1, 0, 30);
        var ceiling = TimeSpan.FromTicks(Math.Min(MaxDelay.Ticks, BaseDelay.Ticks * (1L << Math.Min(exponent, 20))));
        var pause = ceiling * (0.5 + 0.5 * Math.Clamp(draw, 0, 1));
        if (retryAfter is { } asked && asked > pause)
        {
            pause = asked < MaxRetryAfter ? asked : MaxRetryAfter;
        }
        return pause;
    }

    private static string Shorten(string value) => value.Length <= 200 ? value : value[..199] + "…";
}
