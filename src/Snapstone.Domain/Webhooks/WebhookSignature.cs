using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Snapstone.Domain.Webhooks;

/// <summary>
/// How Snapstone signs what it sends, and how a receiver checks it. The signature covers the timestamp and the
/// body together (<c>{timestamp}.{body}</c>), so a captured request cannot be replayed later with its old
/// signature: the receiver refuses a timestamp older than its tolerance.
/// </summary>
public static class WebhookSignature
{
    public const string SignatureHeader = "X-Snapstone-Signature";
    public const string TimestampHeader = "X-Snapstone-Timestamp";
    public const string Prefix = "sha256=";

    /// <summary>The default tolerance of <see cref="Verify"/>: five minutes either way.</summary>
    public static readonly TimeSpan DefaultTolerance = TimeSpan.FromMinutes(5);

    /// <summary>
    /// <c>sha256=</c> and the lower-case hex HMAC-SHA256, under <paramref name="secret"/>, of the unix-seconds
    /// timestamp, a '.', and the body's bytes. Worked example: secret <c>s</c>, timestamp 1700000000, body <c>{}</c>
    /// → HMAC of <c>1700000000.{}</c>.
    /// </summary>
    public static string Sign(string secret, long timestamp, ReadOnlySpan<byte> body)
    {
        var prefix = Encoding.UTF8.GetBytes(timestamp.ToString(CultureInfo.InvariantCulture) + ".");
        var signed = new byte[prefix.Length + body.Length];
        prefix.CopyTo(signed, 0);
        body.CopyTo(signed.AsSpan(prefix.Length));
        return Prefix + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), signed));
    }

    /// <summary>
    /// The receiver's check: the timestamp header is unix seconds within <paramref name="tolerance"/> of
    /// <paramref name="now"/>, and the signature header equals the recomputed one (compared in constant time).
    /// </summary>
    public static SignatureCheck Verify(string secret, string? timestampHeader, string? signatureHeader, ReadOnlySpan<byte> body, DateTimeOffset now, TimeSpan? tolerance = null)
    {
        if (!long.TryParse(timestampHeader, NumberStyles.None, CultureInfo.InvariantCulture, out var timestamp))
        {
            return SignatureCheck.MissingTimestamp;
        }
        if (signatureHeader is null || !signatureHeader.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return SignatureCheck.MissingSignature;
        }
        var age = now.ToUnixTimeSeconds() - timestamp;
        if (Math.Abs(age) > (long)(tolerance ?? DefaultTolerance).TotalSeconds)
        {
            return SignatureCheck.Stale;
        }
        var expected = Encoding.ASCII.GetBytes(Sign(secret, timestamp, body));
        var given = Encoding.ASCII.GetBytes(signatureHeader);
        return CryptographicOperations.FixedTimeEquals(expected, given) ? SignatureCheck.Valid : SignatureCheck.Mismatch;
    }
}

public enum SignatureCheck
{
    Valid,
    /// <summary>No <c>X-Snapstone-Timestamp</c>, or not unix seconds.</summary>
    MissingTimestamp,
    /// <summary>No <c>X-Snapstone-Signature</c>, or not <c>sha256=…</c>.</summary>
    MissingSignature,
    /// <summary>The timestamp is further from now than the tolerance: a replay, or a clock far off.</summary>
    Stale,
    /// <summary>The signature is not the body's and timestamp's under this secret.</summary>
    Mismatch,
}
