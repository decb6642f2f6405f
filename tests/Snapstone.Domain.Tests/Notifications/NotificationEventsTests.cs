using Snapstone.Domain.Incidents;
using Snapstone.Domain.Notifications;
using Snapstone.Domain.Rollouts;
using static Snapstone.Domain.Tests.Notifications.NotificationTestData;

namespace Snapstone.Domain.Tests.Notifications;

public sealed class NotificationEventsTests
{
    [Theory]
    [InlineData(TimelineTypes.Created, 0, 0, NotificationEventType.RolloutStarted, "canary")]
    [InlineData(TimelineTypes.AwaitingApproval, 1, 1, NotificationEventType.RolloutAwaitingApproval, "ten")]
    [InlineData(TimelineTypes.WavePassed, 2, 2, NotificationEventType.RolloutWavePassed, "ten")]
    [InlineData(TimelineTypes.WavePassed, 3, 2, NotificationEventType.RolloutWavePassed, "all")]
    [InlineData(TimelineTypes.Paused, 1, 1, NotificationEventType.RolloutPaused, "ten")]
    [InlineData(TimelineTypes.RolledBack, 0, 0, NotificationEventType.RolloutRolledBack, "canary")]
    [InlineData(TimelineTypes.Aborted, 1, 1, NotificationEventType.RolloutAborted, "ten")]
    [InlineData(TimelineTypes.Completed, 3, 2, NotificationEventType.RolloutCompleted, "all")]
    public void A_rollout_entry_becomes_its_event_about_the_right_wave(string entryType, int passed, int current, NotificationEventType expected, string wave)
    {
        var (status, entry) = Rollout(entryType, passed, current: current);
        var e = NotificationEvents.OfRollout(Spec, status, entry);
        Assert.NotNull(e);
        Assert.Equal(expected, e.Type);
        Assert.Equal(wave, e.Rollout!.Wave);
        Assert.Equal(3, e.Rollout.WaveCount);
        Assert.Equal(["bot-features"], e.Units);
        Assert.Equal($"{entryType} happened", e.Rollout.Message);
        Assert.Null(e.Severity);
    }

    [Theory]
    [InlineData(TimelineTypes.WaveStarted)]
    [InlineData(TimelineTypes.WaveAssigned)]
    [InlineData(TimelineTypes.WaveBaking)]
    [InlineData(TimelineTypes.WaveInconclusive)]
    [InlineData(TimelineTypes.NodeSignal)]
    [InlineData(TimelineTypes.Approved)]
    [InlineData(TimelineTypes.Resumed)]
    [InlineData(TimelineTypes.RollbackStarted)]
    [InlineData(TimelineTypes.RollbackAssigned)]
    public void Other_rollout_entries_are_not_notified(string entryType)
    {
        var (status, entry) = Rollout(entryType);
        Assert.Null(NotificationEvents.OfRollout(Spec, status, entry));
    }

    [Fact]
    public void Two_entries_of_one_rollout_never_share_an_event_id()
    {
        var (first, e1) = Rollout(TimelineTypes.WavePassed, 1);
        var second = first with { Timeline = [.. first.Timeline, e1 with { At = e1.At.AddSeconds(3) }] };
        Assert.NotEqual(NotificationEvents.OfRollout(Spec, first, e1)!.Id, NotificationEvents.OfRollout(Spec, second, second.Timeline[^1])!.Id);
    }

    [Theory]
    [InlineData("r-1", true, false, NotificationEventType.IncidentOpened, IncidentPhase.Opened)]
    [InlineData("r-1", false, false, NotificationEventType.IncidentUpdated, IncidentPhase.Updated)]
    [InlineData("r-1", false, true, NotificationEventType.IncidentResolved, IncidentPhase.Resolved)]
    [InlineData("freeze", true, false, NotificationEventType.IncidentOpened, IncidentPhase.Opened)]
    [InlineData("drift", true, false, NotificationEventType.DriftIncident, IncidentPhase.Opened)]
    [InlineData("drift", false, false, NotificationEventType.DriftIncident, IncidentPhase.Updated)]
    [InlineData("drift", false, true, NotificationEventType.DriftIncident, IncidentPhase.Resolved)]
    public void An_incident_change_becomes_opened_updated_or_resolved_and_drift_has_its_own_event(string source, bool opened, bool resolved, NotificationEventType type, IncidentPhase phase)
    {
        var incident = OpenIncident(IncidentSeverity.Sev2, source);
        if (resolved) incident = incident.With(IncidentStatus.Resolved, "done", "oncall", T0.AddMinutes(9));
        else if (!opened) incident = incident.With(IncidentStatus.Monitoring, "watching", "snapstone", T0.AddMinutes(2));
        var e = NotificationEvents.OfIncident(incident, opened);
        Assert.Equal(type, e.Type);
        Assert.Equal(phase, e.Phase);
        Assert.Equal(IncidentSeverity.Sev2, e.Severity);
        Assert.Equal("inc-1", e.Incident!.Id);
        Assert.Equal(incident.Updates[^1].Message, e.Incident.Latest!.Message);
    }

    [Theory]
    [InlineData("rollout.started", NotificationEventType.RolloutStarted)]
    [InlineData("rollout.awaiting-approval", NotificationEventType.RolloutAwaitingApproval)]
    [InlineData("rollout.wave-passed", NotificationEventType.RolloutWavePassed)]
    [InlineData("rollout.paused", NotificationEventType.RolloutPaused)]
    [InlineData("rollout.rolled-back", NotificationEventType.RolloutRolledBack)]
    [InlineData("rollout.aborted", NotificationEventType.RolloutAborted)]
    [InlineData("rollout.completed", NotificationEventType.RolloutCompleted)]
    [InlineData("incident.opened", NotificationEventType.IncidentOpened)]
    [InlineData("incident.updated", NotificationEventType.IncidentUpdated)]
    [InlineData("incident.resolved", NotificationEventType.IncidentResolved)]
    [InlineData("drift.incident", NotificationEventType.DriftIncident)]
    public void Wire_names_round_trip(string name, NotificationEventType type)
    {
        Assert.Equal(type, NotificationEvents.Parse(name));
        Assert.Equal(name, type.WireName());
    }

    [Theory]
    [InlineData("Rollout.Started")]
    [InlineData("rollout.*")]
    [InlineData("")]
    [InlineData(null)]
    public void Unknown_wire_names_parse_to_nothing(string? name) => Assert.Null(NotificationEvents.Parse(name));
}
