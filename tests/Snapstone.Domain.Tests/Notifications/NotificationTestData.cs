using Snapstone.Domain.Incidents;
using Snapstone.Domain.Notifications;
using Snapstone.Domain.Plans;
using Snapstone.Domain.Rollouts;

namespace Snapstone.Domain.Tests.Notifications;

/// <summary>Events and definitions shared by the notification tables.</summary>
internal static class NotificationTestData
{
    public static readonly DateTimeOffset T0 = new(2026, 12, 1, 10, 0, 0, TimeSpan.Zero);

    public static readonly RolloutSpec Spec = new()
    {
        Id = "r-0123abcd", Unit = "bot-features", Version = 8, Sha256 = new string('a', 64), PreviousVersion = 7,
        PreviousSha256 = new string('b', 64), PlanName = "standard", Reason = "weekly refresh", CreatedBy = "ci", CreatedAt = T0,
        Plan = new Plan(
        [
            new WaveSpec { Name = "canary", Select = new WaveSelect { Tier = "canary" }, BakeSeconds = 60 },
            new WaveSpec { Name = "ten", Select = new WaveSelect { Percent = 10 }, BakeSeconds = 120 },
            new WaveSpec { Name = "all", Select = new WaveSelect { Percent = 100 }, BakeSeconds = 300 },
        ]),
    };

    /// <summary>A rollout with <paramref name="passed"/> waves passed, in <paramref name="state"/>, whose newest entry is <paramref name="type"/>.</summary>
    public static (RolloutStatus Status, TimelineEntry Entry) Rollout(string type, int passed = 0, RolloutState state = RolloutState.Running, int current = 0)
    {
        var entry = new TimelineEntry(T0.AddMinutes(5), type, $"{type} happened");
        var status = RolloutStatus.Start(Spec, T0) with
        {
            State = state,
            CurrentWave = current,
            Waves = [.. Spec.Plan.Waves.Select((w, i) => new WaveStatus { Name = w.Name, State = i < passed ? WaveState.Passed : WaveState.Pending })],
        };
        return (status with { Timeline = [.. status.Timeline, entry] }, entry);
    }

    public static NotificationEvent RolloutEvent(NotificationEventType type = NotificationEventType.RolloutRolledBack, string unit = "bot-features") => new()
    {
        Id = "r-1-5-rolled-back-1",
        Type = type,
        At = T0,
        Units = [unit],
        Rollout = new RolloutNotice
        {
            Id = "r-1", Unit = unit, Version = 8, PreviousVersion = 7, State = RolloutState.RolledBack,
            Wave = "canary", WaveIndex = 0, WaveCount = 3, Message = "4/4 node(s) confirmed back on the previous package",
        },
    };

    public static Incident OpenIncident(IncidentSeverity severity = IncidentSeverity.Sev3, string source = "r-1", params string[] units) =>
        IncidentRules.Open("inc-1", "Rollout r-1 of bot-features v8 rolled back", severity, units.Length == 0 ? ["bot-features"] : units, source,
            IncidentStatus.Detected, "cohort error rate 3.10% > ceiling 1.00%", "snapstone", T0);

    public static NotificationEvent IncidentEvent(IncidentSeverity severity = IncidentSeverity.Sev3, bool opened = true, bool resolved = false, params string[] units)
    {
        var incident = OpenIncident(severity, "r-1", units);
        if (resolved) incident = incident.With(IncidentStatus.Resolved, "fixed", "oncall", T0.AddMinutes(30));
        else if (!opened) incident = incident.With(IncidentStatus.RollingBack, "4 node(s) told to return to v7", "snapstone", T0.AddMinutes(1));
        return NotificationEvents.OfIncident(incident, opened && !resolved);
    }

    public static Notification Define(string kind = "slack", string[]? events = null, string[]? units = null, string? minSeverity = null)
    {
        var request = new NotificationRequest(kind, kind == "pagerduty" ? null : $"https://hooks.example/{kind}",
            kind == "pagerduty" ? new string('k', 32) : null, kind == "webhook" ? "a-secret-of-16-chars" : null, events, units, minSeverity);
        var (notification, errors) = NotificationRules.Check("oncall", request, allowHttp: false, "admin", T0);
        Assert.True(notification is not null, string.Join("; ", errors));
        return notification;
    }
}
