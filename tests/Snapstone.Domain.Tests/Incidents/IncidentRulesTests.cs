using Snapstone.Domain.BreakGlass;
using Snapstone.Domain.Incidents;

namespace Snapstone.Domain.Tests.Incidents;

public sealed class IncidentRulesTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 26, 10, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData(12, 10_000, IncidentSeverity.Sev4)]
    [InlineData(99, 10_000, IncidentSeverity.Sev4)]
    [InlineData(100, 10_000, IncidentSeverity.Sev3)]
    [InlineData(1_500, 10_000, IncidentSeverity.Sev2)]
    [InlineData(5_000, 10_000, IncidentSeverity.Sev1)]
    [InlineData(3, 0, IncidentSeverity.Sev4)]
    public void Severity_follows_the_blast_radius(int affected, int fleet, IncidentSeverity expected) =>
        Assert.Equal(expected, IncidentRules.SeverityOf(affected, fleet));

    [Fact]
    public void Updates_walk_the_timeline_and_a_resolved_incident_stays_resolved()
    {
        var incident = IncidentRules.Open("inc-1", "t", IncidentSeverity.Sev3, ["u"], "r-1", IncidentStatus.Detected, "seen", "snapstone", T0)
            .With(IncidentStatus.Halted, "halted", "snapstone", T0.AddSeconds(1))
            .With(IncidentStatus.Resolved, "fixed", "oncall", T0.AddSeconds(2));
        Assert.Equal([IncidentStatus.Detected, IncidentStatus.Halted, IncidentStatus.Resolved], incident.Updates.Select(u => u.Status));
        Assert.Equal(T0.AddSeconds(2), incident.ResolvedAt);
        Assert.Same(incident, incident.With(IncidentStatus.Monitoring, "again", "x", T0.AddSeconds(3)));
    }

    [Theory]
    [InlineData(IncidentStatus.Monitoring, 30, true)]
    [InlineData(IncidentStatus.Monitoring, 29, false)]
    [InlineData(IncidentStatus.RolledBack, 31, true)]
    [InlineData(IncidentStatus.RollingBack, 600, false)]
    [InlineData(IncidentStatus.Detected, 600, false)]
    public void Quiet_resolution_needs_a_settled_incident_and_the_full_quiet_period(IncidentStatus status, int minutesLater, bool resolve)
    {
        var incident = IncidentRules.Open("inc-1", "t", IncidentSeverity.Sev3, [], "", status, "m", "snapstone", T0);
        Assert.Equal(resolve, IncidentRules.QuietLongEnough(incident, T0.AddMinutes(minutesLater), TimeSpan.FromMinutes(30)));
    }

    [Fact]
    public void A_unit_freeze_is_chosen_over_the_global_one_and_expired_freezes_do_not_apply()
    {
        var global = new Freeze { Reason = "all hands", By = "oncall", At = T0 };
        var unit = new Freeze { Unit = "flags", Reason = "bad flag", By = "oncall", At = T0, Until = T0.AddMinutes(5) };
        Assert.Same(unit, BreakGlassRules.Applicable([global, unit], "flags", T0.AddMinutes(1)));
        Assert.Same(global, BreakGlassRules.Applicable([global, unit], "flags", T0.AddMinutes(6)));
        Assert.Null(BreakGlassRules.Applicable([unit], "other", T0));
        Assert.Equal("unit 'flags' is frozen by oncall until 2026-11-26T10:05:00Z: bad flag", unit.Describe());
    }

    [Theory]
    [InlineData(null, "reason is required for every break-glass action")]
    [InlineData("   ", "reason is required for every break-glass action")]
    [InlineData("bad deploy", null)]
    public void Break_glass_always_says_why(string? reason, string? problem) => Assert.Equal(problem, BreakGlassRules.CheckReason(reason));
}
