using System.Globalization;

namespace Snapstone.Domain.BreakGlass;

/// <summary>A freeze: no rollout of the unit (or of any unit, when <see cref="Unit"/> is null) may move until it ends.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.Freeze")]
public sealed record Freeze
{
    [Id(0)] public string? Unit { get; init; }
    [Id(1)] public required string Reason { get; init; }
    [Id(2)] public required string By { get; init; }
    [Id(3)] public required DateTimeOffset At { get; init; }
    /// <summary>When the freeze lifts by itself; null: only when lifted.</summary>
    [Id(4)] public DateTimeOffset? Until { get; init; }

    public bool ActiveAt(DateTimeOffset now) => Until is null || now < Until;

    public bool Covers(string unit) => Unit is null || Unit == unit;

    /// <summary>E.g. <c>unit 'bot-features' is frozen by oncall until 2026-11-26T12:00:00Z: bad deploy in progress</c>.</summary>
    public string Describe() =>
        $"{(Unit is null ? "all units are frozen (global freeze)" : $"unit '{Unit}' is frozen")} by {By}" +
        $"{(Until is { } until ? " until " + until.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture) : "")}: {Reason}";
}

/// <summary>The rules every break-glass action shares.</summary>
public static class BreakGlassRules
{
    /// <summary>In bytes of UTF-8 (<see cref="TextLimits"/>).</summary>
    public const int MaxReasonBytes = 2000;
    public const int MaxTtlSeconds = 7 * 24 * 3600;

    /// <summary>Null when the reason is acceptable, else why not: break-glass always says why.</summary>
    public static string? CheckReason(string? reason) =>
        string.IsNullOrWhiteSpace(reason) ? "reason is required for every break-glass action"
        : TextLimits.TooLong("reason", reason, MaxReasonBytes) is { } tooLong ? tooLong
        : null;

    public static string? CheckTtl(int? ttlSeconds) =>
        ttlSeconds is { } ttl && (ttl < 1 || ttl > MaxTtlSeconds) ? $"ttlSeconds must be between 1 and {MaxTtlSeconds} (got {ttl})" : null;

    /// <summary>The freeze that applies to <paramref name="unit"/> now: a unit freeze wins over the global one, as it names the unit.</summary>
    public static Freeze? Applicable(IEnumerable<Freeze> freezes, string unit, DateTimeOffset now) =>
        freezes.Where(f => f.ActiveAt(now) && f.Covers(unit)).OrderBy(f => f.Unit is null ? 1 : 0).FirstOrDefault();
}
