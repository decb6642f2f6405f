namespace Snapstone.Domain.Incidents;

/// <summary>Where an incident stands; the automatic timeline walks these in order.</summary>
public enum IncidentStatus { Detected, Halted, RollingBack, RolledBack, Monitoring, Resolved }

public enum IncidentSeverity { Sev1, Sev2, Sev3, Sev4 }

/// <summary>One line of an incident's timeline.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.IncidentUpdate")]
public sealed record IncidentUpdate(
    [property: Id(0)] DateTimeOffset At,
    [property: Id(1)] IncidentStatus Status,
    [property: Id(2)] string Message,
    [property: Id(3)] string By);

/// <summary>An incident: opened by an automated rollback, a halted rollout or any break-glass action.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.Incident")]
public sealed record Incident
{
    [Id(0)] public required string Id { get; init; }
    [Id(1)] public required string Title { get; init; }
    [Id(2)] public required IncidentSeverity Severity { get; init; }
    [Id(3)] public IncidentStatus Status { get; init; }
    [Id(4)] public required DateTimeOffset OpenedAt { get; init; }
    [Id(5)] public DateTimeOffset? ResolvedAt { get; init; }
    [Id(6)] public IReadOnlyList<string> Units { get; init; } = [];
    [Id(7)] public IReadOnlyList<IncidentUpdate> Updates { get; init; } = [];
    /// <summary>What opened it: a rollout id, a break-glass action id.</summary>
    [Id(8)] public string Source { get; init; } = "";

    public const int MaxUpdates = 200;
    /// <summary>In bytes of UTF-8 (<see cref="TextLimits"/>).</summary>
    public const int MaxMessageBytes = 4000;

    public bool IsOpen => Status != IncidentStatus.Resolved;

    public DateTimeOffset LastUpdateAt => Updates.Count > 0 ? Updates[^1].At : OpenedAt;
}

/// <summary>Pure incident rules: severity, updates, and resolution after a quiet period.</summary>
public static class IncidentRules
{
    /// <summary>
    /// Severity from the blast radius, the share of the fleet that took the change.
    /// Worked example: 12 of 10,000 nodes (0.12%) → sev4; 150 (1.5%) → sev3; 1,500 (15%) → sev2; 6,000 (60%) → sev1.
    /// </summary>
    public static IncidentSeverity SeverityOf(int affected, int fleet)
    {
        var share = fleet <= 0 ? 0 : (double)affected / fleet;
        return share >= 0.5 ? IncidentSeverity.Sev1 : share >= 0.1 ? IncidentSeverity.Sev2 : share >= 0.01 ? IncidentSeverity.Sev3 : IncidentSeverity.Sev4;
    }

    public static Incident Open(string id, string title, IncidentSeverity severity, IReadOnlyList<string> units, string source, IncidentStatus status, string message, string by, DateTimeOffset now) =>
        new Incident { Id = id, Title = title, Severity = severity, Units = units, Source = source, OpenedAt = now, Status = status }
            .With(status, message, by, now);

    /// <summary>Adds an update; a resolved incident stays resolved (a new problem opens a new incident).</summary>
    public static Incident With(this Incident incident, IncidentStatus status, string message, string by, DateTimeOffset now)
    {
        if (incident.Status == IncidentStatus.Resolved && incident.Updates.Count > 0)
        {
            return incident;
        }
        var updates = incident.Updates.Append(new IncidentUpdate(now, status, message, by));
        return incident with
        {
            Status = status,
            Updates = [.. updates.Skip(Math.Max(0, incident.Updates.Count + 1 - Incident.MaxUpdates))],
            ResolvedAt = status == IncidentStatus.Resolved ? now : null,
        };
    }

    /// <summary>True when nothing has happened for <paramref name="quiet"/> since the incident reached rolled-back or monitoring.</summary>
    public static bool QuietLongEnough(Incident incident, DateTimeOffset now, TimeSpan quiet) =>
        incident.Status is IncidentStatus.RolledBack or IncidentStatus.Monitoring && now - incident.LastUpdateAt >= quiet;

    public static string? CheckMessage(string? message) =>
        string.IsNullOrWhiteSpace(message) ? "message is required"
        : TextLimits.TooLong("message", message, Incident.MaxMessageBytes) is { } tooLong ? tooLong
        : null;
}
