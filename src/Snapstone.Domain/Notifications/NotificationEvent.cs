using Snapstone.Domain.Incidents;
using Snapstone.Domain.Rollouts;

namespace Snapstone.Domain.Notifications;

/// <summary>What a notification can be told about. <see cref="NotificationEvents.WireName"/> gives each its name on the wire.</summary>
public enum NotificationEventType
{
    RolloutStarted,
    RolloutAwaitingApproval,
    RolloutWavePassed,
    RolloutPaused,
    RolloutRolledBack,
    RolloutAborted,
    RolloutCompleted,
    IncidentOpened,
    IncidentUpdated,
    IncidentResolved,
    /// <summary>A drift incident opened, changed or resolved (its <see cref="NotificationEvent.Phase"/> says which).</summary>
    DriftIncident,
}

/// <summary>Where an incident's event stands in its life: PagerDuty triggers on the first and resolves on the last.</summary>
public enum IncidentPhase { None, Opened, Updated, Resolved }

/// <summary>The rollout an event is about, as far as a message needs it.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.RolloutNotice")]
public sealed record RolloutNotice
{
    [Id(0)] public required string Id { get; init; }
    [Id(1)] public required string Unit { get; init; }
    [Id(2)] public required long Version { get; init; }
    [Id(3)] public long? PreviousVersion { get; init; }
    [Id(4)] public required RolloutState State { get; init; }
    /// <summary>The wave the event is about (the one that passed, or the current one); empty for a plan with no waves.</summary>
    [Id(5)] public string Wave { get; init; } = "";
    /// <summary>Zero-based index of <see cref="Wave"/>.</summary>
    [Id(6)] public int WaveIndex { get; init; }
    [Id(7)] public int WaveCount { get; init; }
    /// <summary>The timeline entry's message.</summary>
    [Id(8)] public string Message { get; init; } = "";
}

/// <summary>The incident an event is about: its identity and its newest update, never its whole timeline.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.IncidentNotice")]
public sealed record IncidentNotice
{
    [Id(0)] public required string Id { get; init; }
    [Id(1)] public required string Title { get; init; }
    [Id(2)] public required IncidentSeverity Severity { get; init; }
    [Id(3)] public required IncidentStatus Status { get; init; }
    [Id(4)] public IReadOnlyList<string> Units { get; init; } = [];
    /// <summary>What opened it: a rollout id, a break-glass action, <c>drift</c>.</summary>
    [Id(5)] public string Source { get; init; } = "";
    [Id(6)] public required DateTimeOffset OpenedAt { get; init; }
    [Id(7)] public DateTimeOffset? ResolvedAt { get; init; }
    [Id(8)] public IncidentUpdate? Latest { get; init; }
}

/// <summary>One thing that happened, published once by the grain that made it happen, rendered per notification.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.NotificationEvent")]
public sealed record NotificationEvent
{
    /// <summary>Stable for the one occurrence: a delivery keyed by it is made at most once per notification.</summary>
    [Id(0)] public required string Id { get; init; }
    [Id(1)] public required NotificationEventType Type { get; init; }
    [Id(2)] public required DateTimeOffset At { get; init; }
    /// <summary>The units concerned; none means the whole fleet (a global freeze), which every unit filter lets through.</summary>
    [Id(3)] public IReadOnlyList<string> Units { get; init; } = [];
    [Id(4)] public RolloutNotice? Rollout { get; init; }
    [Id(5)] public IncidentNotice? Incident { get; init; }
    [Id(6)] public IncidentPhase Phase { get; init; }

    /// <summary>Only incidents have one; rollout events pass every severity filter.</summary>
    public IncidentSeverity? Severity => Incident?.Severity;
}

/// <summary>Turns what rollouts and incidents record into the events notifications are told about.</summary>
public static class NotificationEvents
{
    private static readonly (NotificationEventType Type, string Name)[] Names =
    [
        (NotificationEventType.RolloutStarted, "rollout.started"),
        (NotificationEventType.RolloutAwaitingApproval, "rollout.awaiting-approval"),
        (NotificationEventType.RolloutWavePassed, "rollout.wave-passed"),
        (NotificationEventType.RolloutPaused, "rollout.paused"),
        (NotificationEventType.RolloutRolledBack, "rollout.rolled-back"),
        (NotificationEventType.RolloutAborted, "rollout.aborted"),
        (NotificationEventType.RolloutCompleted, "rollout.completed"),
        (NotificationEventType.IncidentOpened, "incident.opened"),
        (NotificationEventType.IncidentUpdated, "incident.updated"),
        (NotificationEventType.IncidentResolved, "incident.resolved"),
        (NotificationEventType.DriftIncident, "drift.incident"),
    ];

    /// <summary>Every event, in the order the docs list them.</summary>
    public static IReadOnlyList<NotificationEventType> All { get; } = [.. Names.Select(n => n.Type)];

    public static string WireName(this NotificationEventType type) => Names.First(n => n.Type == type).Name;

    public static NotificationEventType? Parse(string? name) =>
        Names.FirstOrDefault(n => n.Name == name) is { Name: not null } found ? found.Type : null;

    /// <summary>
    /// The event a rollout's new timeline entry stands for, or null when notifications do not hear of that kind
    /// of entry (a wave baking, a node signal). Worked example: an entry <c>wave-passed</c> after wave 1 of 3 passed
    /// gives <c>rollout.wave-passed</c> about wave 1 (index 1, count 3).
    /// </summary>
    public static NotificationEvent? OfRollout(RolloutSpec spec, RolloutStatus status, TimelineEntry entry)
    {
        NotificationEventType? type = entry.Type switch
        {
            TimelineTypes.Created => NotificationEventType.RolloutStarted,
            TimelineTypes.AwaitingApproval => NotificationEventType.RolloutAwaitingApproval,
            TimelineTypes.WavePassed => NotificationEventType.RolloutWavePassed,
            TimelineTypes.Paused => NotificationEventType.RolloutPaused,
            TimelineTypes.RolledBack => NotificationEventType.RolloutRolledBack,
            TimelineTypes.Aborted => NotificationEventType.RolloutAborted,
            TimelineTypes.Completed => NotificationEventType.RolloutCompleted,
            _ => null,
        };
        if (type is not { } found)
        {
            return null;
        }
        var wave = found == NotificationEventType.RolloutWavePassed
            ? LastIndex(status.Waves, w => w.State == WaveState.Passed)
            : Math.Clamp(status.CurrentWave, 0, Math.Max(0, status.Waves.Count - 1));
        return new NotificationEvent
        {
            // The timeline is capped, so its length alone may repeat; with the type and the millisecond it does not.
            Id = $"{spec.Id}-{status.Timeline.Count}-{entry.Type}-{entry.At.ToUnixTimeMilliseconds()}",
            Type = found,
            At = entry.At,
            Units = [spec.Unit],
            Rollout = new RolloutNotice
            {
                Id = spec.Id,
                Unit = spec.Unit,
                Version = spec.Version,
                PreviousVersion = spec.PreviousVersion,
                State = status.State,
                Wave = status.Waves.Count > 0 && wave >= 0 ? status.Waves[wave].Name : "",
                WaveIndex = Math.Max(0, wave),
                WaveCount = status.Waves.Count,
                Message = entry.Message,
            },
        };
    }

    /// <summary>
    /// The event an incident's change stands for. A drift incident (source <c>drift</c>) is always
    /// <see cref="NotificationEventType.DriftIncident"/>; any other is opened, updated, or resolved (whoever resolved it).
    /// </summary>
    /// <param name="id">The change's event id, unique per change (the incident grain makes one); without it, one is derived from the incident's updates.</param>
    public static NotificationEvent OfIncident(Incident incident, bool opened, string? id = null)
    {
        var phase = opened ? IncidentPhase.Opened : incident.IsOpen ? IncidentPhase.Updated : IncidentPhase.Resolved;
        var type = incident.Source == DriftSource ? NotificationEventType.DriftIncident
            : phase switch
            {
                IncidentPhase.Opened => NotificationEventType.IncidentOpened,
                IncidentPhase.Resolved => NotificationEventType.IncidentResolved,
                _ => NotificationEventType.IncidentUpdated,
            };
        var latest = incident.Updates.Count > 0 ? incident.Updates[^1] : null;
        return new NotificationEvent
        {
            Id = id ?? $"{incident.Id}-{incident.Updates.Count}-{incident.LastUpdateAt.ToUnixTimeMilliseconds()}",
            Type = type,
            At = incident.LastUpdateAt,
            Units = incident.Units,
            Phase = phase,
            Incident = new IncidentNotice
            {
                Id = incident.Id,
                Title = incident.Title,
                Severity = incident.Severity,
                Status = incident.Status,
                Units = incident.Units,
                Source = incident.Source,
                OpenedAt = incident.OpenedAt,
                ResolvedAt = incident.ResolvedAt,
                Latest = latest is null ? null : latest with { Message = Text.Cut(latest.Message, 1000) },
            },
        };
    }

    /// <summary>The source drift incidents carry (<see cref="Drift.DriftIncidentPolicy.Source"/>).</summary>
    private const string DriftSource = Drift.DriftIncidentPolicy.Source;

    private static int LastIndex<T>(IReadOnlyList<T> items, Func<T, bool> match)
    {
        for (var i = items.Count - 1; i >= 0; i--)
        {
            if (match(items[i]))
            {
                return i;
            }
        }
        return -1;
    }
}

/// <summary>Text limits shared by the renderers.</summary>
internal static class Text
{
    /// <summary><paramref name="value"/> at most <paramref name="max"/> characters, ending in "…" when cut.</summary>
    public static string Cut(string value, int max) => value.Length <= max ? value : value[..(max - 1)] + "…";
}
