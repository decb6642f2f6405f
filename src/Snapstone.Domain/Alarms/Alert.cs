using System.Globalization;
using Snapstone.Domain.Rollouts;

namespace Snapstone.Domain.Alarms;

/// <summary>Alertmanager's two states of an alert.</summary>
public enum AlertStatus { Firing, Resolved }

/// <summary>
/// What an alert names, read from its labels by <see cref="AlertRules.TargetOf"/>: a unit, PoPs and regions, or the
/// whole fleet. An alert with none of them names nothing and changes nothing.
/// </summary>
[GenerateSerializer, Immutable, Alias("snapstone.AlarmTarget")]
public sealed record AlarmTarget
{
    /// <summary>Every active rollout pauses; the other labels are not looked at.</summary>
    [Id(0)] public bool Global { get; init; }
    [Id(1)] public string? Unit { get; init; }
    [Id(2)] public IReadOnlyList<string> Pops { get; init; } = [];
    [Id(3)] public IReadOnlyList<string> Regions { get; init; } = [];

    /// <summary>Rollouts are picked by where their cohort is, not only by unit.</summary>
    public bool ByPlace => Pops.Count > 0 || Regions.Count > 0;

    public bool None => !Global && Unit is null && !ByPlace;

    /// <summary><c>global</c>, <c>unit bot-features</c>, <c>unit bot-features in PoP ams01</c>, <c>PoPs ams01, fra02 or region eu-west</c>.</summary>
    public string Describe()
    {
        if (Global)
        {
            return "every active rollout";
        }
        var place = string.Join(" or ", new[]
        {
            Pops.Count == 0 ? null : $"PoP{(Pops.Count > 1 ? "s" : "")} {string.Join(", ", Pops)}",
            Regions.Count == 0 ? null : $"region{(Regions.Count > 1 ? "s" : "")} {string.Join(", ", Regions)}",
        }.OfType<string>());
        return (Unit, place.Length) switch
        {
            (null, 0) => "nothing",
            (null, _) => place,
            (_, 0) => $"unit {Unit}",
            _ => $"unit {Unit} in {place}",
        };
    }
}

/// <summary>
/// One alert of an Alertmanager notification, checked (<see cref="AlertRules.Read"/>). Alertmanager sends the same
/// alert again on every group interval and repeat interval; <see cref="Key"/> is the same on each of those deliveries
/// and differs for a new firing of the same label set (a new <see cref="StartsAt"/>), so it is what deliveries dedupe on.
/// </summary>
[GenerateSerializer, Immutable, Alias("snapstone.Alert")]
public sealed record Alert
{
    /// <summary>Alertmanager's fingerprint of the label set (16 hex digits in Alertmanager 0.25).</summary>
    [Id(0)] public required string Fingerprint { get; init; }
    [Id(1)] public required AlertStatus Status { get; init; }
    /// <summary>The <c>alertname</c> label; empty when the alert has none.</summary>
    [Id(2)] public string Name { get; init; } = "";
    [Id(3)] public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();
    /// <summary>The <c>summary</c> annotation (or <c>description</c>), shortened; empty when there is none.</summary>
    [Id(4)] public string Summary { get; init; } = "";
    [Id(5)] public required DateTimeOffset StartsAt { get; init; }
    [Id(6)] public DateTimeOffset? EndsAt { get; init; }
    [Id(7)] public string? GeneratorUrl { get; init; }
    [Id(8)] public required AlarmTarget Target { get; init; }

    /// <summary><c>3fa1c2d4e5f60718@2026-12-01T17:00:00.000Z/firing</c>: one firing of one label set, and its resolution apart.</summary>
    public string Key => $"{Fingerprint}@{StartsAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture)}/{(Status == AlertStatus.Firing ? "firing" : "resolved")}";

    /// <summary>How the timeline and the audit log name it: <c>alarm 'EdgeErrors' firing (alertname=EdgeErrors, snapstone_unit=bot-features): errors above 5%</c>.</summary>
    public string Describe()
    {
        var name = Name.Length > 0 ? $"'{Name}'" : $"{Fingerprint}";
        var state = Status == AlertStatus.Firing ? "firing" : "resolved";
        var summary = Summary.Length > 0 ? $": {Summary}" : "";
        return $"alarm {name} {state} ({AlertRules.Render(Labels)}){summary}";
    }
}

/// <summary>What an alarm did to one rollout.</summary>
public enum AlarmAction { RolledBack, Paused, None }

/// <summary>One rollout's answer to one alert, as the gateway reports it back.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.AlarmEffect")]
public sealed record AlarmEffect(
    [property: Id(0)] string Rollout,
    [property: Id(1)] string Unit,
    [property: Id(2)] AlarmAction Action,
    [property: Id(3)] string Reason);

/// <summary>What one alert did: an effect per rollout it concerned (none when it concerned none), and why, when it concerned none.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.AlarmOutcome")]
public sealed record AlarmOutcome
{
    [Id(0)] public required Alert Alert { get; init; }
    [Id(1)] public IReadOnlyList<AlarmEffect> Effects { get; init; } = [];
    /// <summary>Why no rollout was concerned (no Snapstone label, no active rollout of the unit...); null when some were.</summary>
    [Id(2)] public string? Note { get; init; }
}

/// <summary>A rollout paused by a firing alert; only a person resumes it (the alert resolving does not).</summary>
[GenerateSerializer, Immutable, Alias("snapstone.PauseReason.Alarm")]
public sealed record AlarmPause([property: Id(0)] string Actor, [property: Id(1)] string Alarm) : PauseReason
{
    public override string By => Actor;
    public override string Describe() => $"{Alarm} (posted by {Actor})";
}
