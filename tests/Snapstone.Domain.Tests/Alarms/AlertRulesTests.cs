using Snapstone.Domain.Alarms;

namespace Snapstone.Domain.Tests.Alarms;

public class AlertRulesTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 1, 17, 0, 0, TimeSpan.Zero);

    private static AlertDraft Draft(Dictionary<string, string>? labels = null, string? status = "firing", string? fingerprint = "3fa1c2d4e5f60718",
        DateTimeOffset? startsAt = null, Dictionary<string, string>? annotations = null) =>
        new(status, labels ?? new() { ["alertname"] = "EdgeErrors", ["snapstone_unit"] = "bot-features" }, annotations ?? new() { ["summary"] = "errors above 5%" },
            startsAt ?? Start, DateTimeOffset.Parse("0001-01-01T00:00:00Z"), "http://prometheus/graph", fingerprint);

    private static AlertBatchDraft Batch(params AlertDraft?[] alerts) => new("4", "firing", null, null, null, alerts);

    private static readonly AlarmLimits Limits = new() { MaxAlerts = 3, MaxLabels = 4, MaxAnnotations = 2, MaxValueLength = 20, MaxAnnotationLength = 30 };

    [Fact]
    public void A_good_alert_reads_with_its_name_summary_target_and_key()
    {
        var (alerts, errors) = AlertRules.Read(Batch(Draft()), new AlarmLimits());
        Assert.Empty(errors);
        var alert = Assert.Single(alerts);
        Assert.Equal("EdgeErrors", alert.Name);
        Assert.Equal("errors above 5%", alert.Summary);
        Assert.Equal(AlertStatus.Firing, alert.Status);
        Assert.Null(alert.EndsAt);
        Assert.Equal(new AlarmTarget { Unit = "bot-features" }.Describe(), alert.Target.Describe());
        Assert.Equal("3fa1c2d4e5f60718@2026-12-01T17:00:00.000Z/firing", alert.Key);
        Assert.Equal("alarm 'EdgeErrors' firing (alertname=EdgeErrors, snapstone_unit=bot-features): errors above 5%", alert.Describe());
    }

    [Theory]
    [InlineData("snapstone_unit=bot-features", false, "bot-features", "", "")]
    [InlineData("snapstone_pop=ams01", false, null, "ams01", "")]
    [InlineData("snapstone_pop=fra02, ams01,ams01", false, null, "ams01,fra02", "")]
    [InlineData("snapstone_region=eu-west", false, null, "", "eu-west")]
    [InlineData("snapstone_unit=bot-features;snapstone_pop=ams01", false, "bot-features", "ams01", "")]
    [InlineData("snapstone_scope=global;snapstone_unit=bot-features", true, null, "", "")]
    [InlineData("snapstone_scope=local", false, null, "", "")]
    [InlineData("team=edge", false, null, "", "")]
    public void The_labels_say_what_the_alert_names(string labels, bool global, string? unit, string pops, string regions)
    {
        var map = labels.Split(';').Select(l => l.Split('=')).ToDictionary(l => l[0], l => l[1]);
        var errors = new List<string>();
        var target = AlertRules.TargetOf("alerts[0]", map, new AlarmLimits(), errors);
        Assert.Empty(errors);
        Assert.NotNull(target);
        Assert.Equal(global, target.Global);
        Assert.Equal(unit, target.Unit);
        Assert.Equal(pops, string.Join(",", target.Pops));
        Assert.Equal(regions, string.Join(",", target.Regions));
    }

    [Fact]
    public void The_global_label_is_configurable()
    {
        var errors = new List<string>();
        var target = AlertRules.TargetOf("a", new Dictionary<string, string> { ["severity_scope"] = "global" }, new AlarmLimits { GlobalLabel = "severity_scope" }, errors);
        Assert.True(target!.Global);
        Assert.False(AlertRules.TargetOf("a", new Dictionary<string, string> { ["snapstone_scope"] = "global" }, new AlarmLimits { GlobalLabel = "severity_scope" }, errors)!.Global);
    }

    public static TheoryData<string, AlertBatchDraft> Refused => new()
    {
        { "version is required (Alertmanager's webhook payload version 4)", Batch(Draft()) with { Version = null } },
        { "version '3' is not supported; Snapstone reads Alertmanager's webhook payload version 4", Batch(Draft()) with { Version = "3" } },
        { "status 'burning' must be firing or resolved", Batch(Draft()) with { Status = "burning" } },
        { "alerts is required (a list of alerts)", Batch() with { Alerts = null } },
        { "alerts holds 4 alerts; at most 3 per notification (set max_alerts in the receiver)", Batch(Draft(), Draft(), Draft(), Draft()) },
        { "alerts[0] must be an alert object", Batch([null]) },
        { "alerts[0].status is required (firing or resolved)", Batch(Draft(status: null)) },
        { "alerts[0].status 'pending' must be firing or resolved", Batch(Draft(status: "pending")) },
        { "alerts[0].fingerprint is required", Batch(Draft(fingerprint: null)) },
        { "alerts[0].fingerprint 'not/hex' must be 1 to 64 letters or digits", Batch(Draft(fingerprint: "not/hex")) },
        { "alerts[1].labels holds 5 labels; at most 4", Batch(Draft(), Draft(new() { ["a"] = "1", ["b"] = "2", ["c"] = "3", ["d"] = "4", ["e"] = "5" })) },
        { "alerts[0].labels.alertname is 21 characters; at most 20", Batch(Draft(new() { ["alertname"] = new string('x', 21) })) },
        { "alerts[0].labels has 'bad-name', which is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)", Batch(Draft(new() { ["bad-name"] = "x" })) },
        { "alerts[0].annotations.summary is 31 characters; at most 30", Batch(Draft(annotations: new() { ["summary"] = new string('x', 31) })) },
        { "alerts[0].annotations holds 3 annotations; at most 2", Batch(Draft(annotations: new() { ["a"] = "1", ["b"] = "2", ["c"] = "3" })) },
        { "commonLabels holds 5 labels; at most 4", Batch(Draft()) with { CommonLabels = new Dictionary<string, string> { ["a"] = "1", ["b"] = "2", ["c"] = "3", ["d"] = "4", ["e"] = "5" } } },
        { "alerts[0].labels.snapstone_unit 'Bot' must match ^[a-z0-9][a-z0-9._-]{0,99}$ (lower-case letters, digits, '.', '_', '-'; at most 100 characters)",
            Batch(Draft(new() { ["snapstone_unit"] = "Bot" })) },
        { "alerts[0].labels.snapstone_pop 'AMS' must match ^[a-z0-9][a-z0-9._-]{0,99}$ (lower-case letters, digits, '.', '_', '-'; at most 100 characters)",
            Batch(Draft(new() { ["snapstone_pop"] = "ams01,AMS" })) },
        { "alerts[0].labels.snapstone_region is empty; list one or more names, comma-separated", Batch(Draft(new() { ["snapstone_region"] = " , " })) },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public void A_payload_out_of_shape_or_bounds_is_refused_whole_naming_the_field_and_the_limit(string error, AlertBatchDraft batch)
    {
        var (alerts, errors) = AlertRules.Read(batch, Limits);
        Assert.Empty(alerts);
        Assert.Contains(error, errors);
    }

    [Fact]
    public void A_resolution_has_its_own_key_and_its_end()
    {
        var draft = Draft(status: "resolved") with { EndsAt = Start.AddMinutes(5) };
        var alert = AlertRules.Read(Batch(draft), new AlarmLimits()).Alerts.Single();
        Assert.Equal("3fa1c2d4e5f60718@2026-12-01T17:00:00.000Z/resolved", alert.Key);
        Assert.Equal(Start.AddMinutes(5), alert.EndsAt);
    }
}
