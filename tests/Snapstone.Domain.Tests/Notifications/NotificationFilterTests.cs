using Snapstone.Domain.Incidents;
using Snapstone.Domain.Notifications;
using static Snapstone.Domain.Tests.Notifications.NotificationTestData;

namespace Snapstone.Domain.Tests.Notifications;

public sealed class NotificationFilterTests
{
    public static TheoryData<string, string[]?, string[]?, string?, NotificationEvent, bool> Cases() => new()
    {
        // description, events, units, minSeverity, event, wanted
        { "every event by default", null, null, null, RolloutEvent(), true },
        { "listed event", ["rollout.rolled-back"], null, null, RolloutEvent(), true },
        { "unlisted event", ["rollout.completed"], null, null, RolloutEvent(), false },
        { "unit in the filter", null, ["bot-features", "waf-rules"], null, RolloutEvent(), true },
        { "unit not in the filter", null, ["waf-rules"], null, RolloutEvent(), false },
        { "an incident naming no unit reaches every unit filter", null, ["waf-rules"], null, NotificationEvents.OfIncident(IncidentRules.Open("inc-g", "Freeze of all units", IncidentSeverity.Sev3, [], "freeze", IncidentStatus.Detected, "m", "oncall", T0), true), true },
        { "incident of one of several units", null, ["waf-rules"], null, IncidentEvent(IncidentSeverity.Sev3, true, false, "bot-features", "waf-rules"), true },
        { "sev3 at min sev3", null, null, "sev3", IncidentEvent(IncidentSeverity.Sev3), true },
        { "sev2 at min sev3", null, null, "sev3", IncidentEvent(IncidentSeverity.Sev2), true },
        { "sev1 at min sev1", null, null, "sev1", IncidentEvent(IncidentSeverity.Sev1), true },
        { "sev4 at min sev3", null, null, "sev3", IncidentEvent(IncidentSeverity.Sev4), false },
        { "sev3 at min sev2", null, null, "sev2", IncidentEvent(IncidentSeverity.Sev3), false },
        { "a rollout event has no severity and passes the filter", null, null, "sev1", RolloutEvent(), true },
        { "severity and unit must both hold", null, ["waf-rules"], "sev4", IncidentEvent(IncidentSeverity.Sev1), false },
        { "resolved passes only when listed", ["incident.opened"], null, null, IncidentEvent(resolved: true), false },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Filters_by_event_unit_and_minimum_severity(string description, string[]? events, string[]? units, string? minSeverity, NotificationEvent e, bool wanted) =>
        Assert.True(Define("slack", events, units, minSeverity).Wants(e) == wanted, description);
}
