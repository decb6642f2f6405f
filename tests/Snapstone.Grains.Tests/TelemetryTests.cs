using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Snapstone.Domain;
using Snapstone.Domain.Audit;
using Snapstone.Domain.Health;
using Snapstone.Domain.Nodes;
using Snapstone.Domain.Plans;
using Snapstone.Domain.Rollouts;
using Snapstone.Grains.Telemetry;
using Snapstone.Server.Hosting;
using Snapstone.Testing;

namespace Snapstone.Grains.Tests;

/// <summary>
/// Each instrument of the Snapstone meter records what it should, heard through a <see cref="MeterListener"/> while
/// real grains run a rollout on fake time (so every duration is exact). Measurements are told apart by their unit
/// label: other tests' rollouts run in the same process. A cluster of its own: its nodes must not join other
/// tests' cohorts (a unit without targets is consumed by every node the cluster knows).
/// </summary>
[Collection(TelemetryClusterCollection.Name)]
public sealed class TelemetryTests(ClusterFixture fixture)
{
    [Fact]
    public async Task A_good_rollout_counts_its_start_each_wave_s_duration_and_healthy_verdict_and_its_completion()
    {
        var (unit, v1, v2, labels) = await fixture.UnitWithTwoPackages("telemetry-good");
        // Heard from here on: the unit's first package went through waves of its own.
        using var meter = new MeterRecorder();
        var pop = TestStorage.Unique("pop");
        var nodes = new[] { ($"{pop}-c", "canary"), ($"{pop}-e", "edge") };
        async Task ReportAll()
        {
            foreach (var (node, tier) in nodes)
            {
                await Report(node, pop, tier, labels, unit, await DesiredOf(node, unit) ?? v1);
            }
        }

        await ReportAll();
        var rollout = await fixture.StartRollout(unit, v1, v2, RolloutGrainTests.TwoWaves);
        for (var step = 0; step < 6 && (await rollout.Get())!.Status.State != RolloutState.Completed; step++)
        {
            await ReportAll();
            await rollout.Wake();
            fixture.Time.Advance(TimeSpan.FromSeconds(31));
            await ReportAll();
            await rollout.Wake();
        }

        var status = (await rollout.Get())!.Status;
        Assert.Equal(RolloutState.Completed, status.State);
        var passedAt = status.Timeline.Single(e => e.Type == TimelineTypes.WavePassed).At;
        var completedAt = status.Timeline.Single(e => e.Type == TimelineTypes.Completed).At;
        Assert.Equal(1, meter.Sum("snapstone.rollouts.started", unit));
        Assert.Equal(1, meter.Sum("snapstone.rollouts.completed", unit));
        Assert.Equal(0, meter.Sum("snapstone.rollouts.rolled_back", unit));
        Assert.Equal(2, meter.Sum("snapstone.verdicts", unit, ("result", "healthy")));
        Assert.Equal(2, meter.Sum("snapstone.verdicts", unit));
        Assert.Equal(
            [(passedAt - status.Waves[0].StartedAt!.Value).TotalSeconds, (completedAt - status.Waves[1].StartedAt!.Value).TotalSeconds],
            meter.Values("snapstone.wave.duration", unit, ("outcome", "passed")));
        Assert.Empty(meter.Values("snapstone.time_to_safe", unit));
    }

    [Fact]
    public async Task A_rollout_that_crashes_counts_one_rollback_the_nodes_told_and_its_time_to_safe()
    {
        var (unit, v1, v2, labels) = await fixture.UnitWithTwoPackages("telemetry-crash");
        using var meter = new MeterRecorder();
        var pop = TestStorage.Unique("pop");
        var (first, second) = ($"{pop}-c1", $"{pop}-c2");
        await Report(first, pop, "canary", labels, unit, v1);
        await Report(second, pop, "canary", labels, unit, v1);
        var rollout = await fixture.StartRollout(unit, v1, v2, RolloutGrainTests.TwoWaves);

        fixture.Time.Advance(TimeSpan.FromSeconds(2));
        await Report(first, pop, "canary", labels, unit, v2, crashed: true);
        await Report(second, pop, "canary", labels, unit, v2);
        await rollout.Wake();
        Assert.Equal(RolloutState.RollingBack, (await rollout.Get())!.Status.State);

        fixture.Time.Advance(TimeSpan.FromSeconds(5));
        await Report(first, pop, "canary", labels, unit, v1);
        await Report(second, pop, "canary", labels, unit, v1);
        await rollout.Wake();

        // The rollout's own tick timer runs on real time, so whether the crash arrived as the node's signal or in the
        // wave's verdict depends on timing: the reason is one of the two, and the figures are read from the status.
        var status = (await rollout.Get())!.Status;
        var timeline = meter.Dump(unit) + string.Join("\n", status.Timeline.Select(e => $"{e.At:HH:mm:ss} {e.Type}: {e.Message}"));
        Assert.True(status.State == RolloutState.RolledBack, timeline);
        Assert.Equal((2, 2), (status.Rollback!.Targeted, status.Rollback.Confirmed));
        Assert.Equal(1, meter.Sum("snapstone.rollouts.started", unit));
        Assert.True(meter.Sum("snapstone.rollouts.rolled_back", unit) == 1, timeline);
        Assert.True(meter.Sum("snapstone.rollouts.rolled_back", unit, ("reason", "crash")) + meter.Sum("snapstone.rollouts.rolled_back", unit, ("reason", "unhealthy")) == 1, timeline);
        Assert.Equal(2, meter.Sum("snapstone.rollback.nodes", unit));
        Assert.Equal([(status.Rollback.StartedAt - status.Waves[0].StartedAt!.Value).TotalSeconds], meter.Values("snapstone.wave.duration", unit, ("outcome", "failed")));
        var timeToSafe = Assert.Single(meter.Values("snapstone.time_to_safe", unit));
        Assert.Equal((status.Rollback.CompletedAt!.Value - RolloutMetrics.FirstBadEvidence(status, status.Rollback)).TotalSeconds, timeToSafe);
        Assert.InRange(timeToSafe, 5, 7);
        Assert.Equal(0, meter.Sum("snapstone.rollouts.completed", unit));
    }

    [Fact]
    public async Task A_pause_and_an_abort_count_by_kind_and_an_aborted_rollback_records_no_time_to_safe()
    {
        var (unit, v1, v2, labels) = await fixture.UnitWithTwoPackages("telemetry-abort");
        using var meter = new MeterRecorder();
        var node = $"{TestStorage.Unique("pop")}-c";
        var pop = node[..^2];
        await Report(node, pop, "canary", labels, unit, v1);
        var rollout = await fixture.StartRollout(unit, v1, v2, RolloutGrainTests.TwoWaves);
        await rollout.Pause("alice", "looking at a dashboard");
        await rollout.Resume("alice", null);
        await rollout.Abort("alice", "wrong file");
        await Report(node, pop, "canary", labels, unit, v1);
        await rollout.Wake();

        Assert.Equal(RolloutState.Aborted, (await rollout.Get())!.Status.State);
        Assert.Equal(1, meter.Sum("snapstone.rollouts.paused", unit, ("reason", "manual")));
        Assert.Equal(1, meter.Sum("snapstone.rollouts.aborted", unit));
        Assert.Equal(0, meter.Sum("snapstone.rollouts.rolled_back", unit));
        Assert.Equal(1, meter.Sum("snapstone.rollback.nodes", unit));
        Assert.Empty(meter.Values("snapstone.time_to_safe", unit));
    }

    [Fact]
    public async Task Enrolled_nodes_are_sampled_per_pop_and_open_incidents_per_severity_with_zeros()
    {
        var (unit, v1, _, labels) = await fixture.UnitWithTwoPackages("telemetry-fleet");
        using var meter = new MeterRecorder();
        var pop = TestStorage.Unique("pop");
        await Report($"{pop}-a", pop, "edge", labels, unit, v1);
        await Report($"{pop}-b", pop, "edge", labels, unit, v1);
        await Report($"{pop}-c", pop, "canary", labels, unit, v1);

        SnapstoneMetrics.Fleet = await FleetGauges.SampleAsync(fixture.Client);
        meter.Observe();

        Assert.Equal(3, meter.Last("snapstone.nodes.enrolled", ("pop", pop)));
        Assert.Equal(["sev1", "sev2", "sev3", "sev4"], meter.TagValues("snapstone.incidents.open", "severity"));
        SnapstoneMetrics.Fleet = null;
    }

    [Fact]
    public async Task Break_glass_actions_count_as_they_are_audited_and_other_audited_writes_do_not()
    {
        using var meter = new MeterRecorder();
        var audit = fixture.Client.GetGrain<IAuditWriterGrain>(IAuditGrain.Key);
        var before = meter.Sum("snapstone.breakglass.actions", unit: null, ("action", "freeze"));
        await audit.Append(new AuditIntent(Guid.NewGuid().ToString("N"), new AuditRecord("oncall", "breakglass.freeze", "unit/x", "edge errors"), fixture.Time.GetUtcNow()));
        await audit.Append(new AuditIntent(Guid.NewGuid().ToString("N"), new AuditRecord("ci", "unit.define", "unit/x", ""), fixture.Time.GetUtcNow()));

        Assert.Equal(before + 1, meter.Sum("snapstone.breakglass.actions", unit: null, ("action", "freeze")));
        Assert.Equal(0, meter.Sum("snapstone.breakglass.actions", unit: null, ("action", "define")));
    }

    [Fact]
    public void A_batch_counts_its_accepted_reports_once_and_each_refusal_by_kind()
    {
        using var meter = new MeterRecorder();
        var ingested = meter.Sum("snapstone.reports.ingested", unit: null);
        var forbidden = meter.Sum("snapstone.reports.refused", unit: null, ("reason", "forbidden"));
        var invalid = meter.Sum("snapstone.reports.refused", unit: null, ("reason", "invalid"));
        var desired = new DesiredState(new Dictionary<string, DesiredPackage>(), 0);
        ReportMetering.Counted(
        [
            new ReportResult("a", desired, null),
            new ReportResult("b", desired, null),
            new ReportResult("c", null, "no such PoP for this token", ProblemKind.Forbidden),
            new ReportResult(null, null, "report must be an object", ProblemKind.Invalid),
        ]);

        Assert.Equal(ingested + 2, meter.Sum("snapstone.reports.ingested", unit: null));
        Assert.Equal(forbidden + 1, meter.Sum("snapstone.reports.refused", unit: null, ("reason", "forbidden")));
        Assert.Equal(invalid + 1, meter.Sum("snapstone.reports.refused", unit: null, ("reason", "invalid")));
    }

    private async Task<DesiredPackage?> DesiredOf(string node, string unit) =>
        (await fixture.Client.GetGrain<INodeHealthGrain>(node).GetView())?.Desired.GetValueOrDefault(unit);

    private Task<DesiredState> Report(string node, string pop, string tier, Dictionary<string, string> labels, string unit, DesiredPackage running, bool crashed = false) =>
        fixture.Client.GetGrain<INodeHealthGrain>(node).Report(new NodeReport
        {
            Node = node, Pop = pop, Tier = tier, Labels = labels,
            Applied = new Dictionary<string, AppliedPackage> { [unit] = new() { Version = running.Version, Sha256 = running.Sha256 } },
            Metrics = crashed
                ? new NodeMetrics { Requests = 1000, Errors = 1, P99LatencyMs = 20, Crashes = 1 }
                : new NodeMetrics { Requests = 1000, Errors = 1, P99LatencyMs = 20 },
        });
}

/// <summary>Every measurement of the Snapstone meter while it lives, for assertions on exact values.</summary>
internal sealed class MeterRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentQueue<(string Instrument, double Value, Dictionary<string, string?> Tags)> _seen = new();

    public MeterRecorder()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == SnapstoneMetrics.MeterName)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((i, value, tags, _) => Add(i, value, tags));
        _listener.SetMeasurementEventCallback<double>((i, value, tags, _) => Add(i, value, tags));
        _listener.Start();
    }

    /// <summary>Asks the observable gauges for their values now.</summary>
    public void Observe() => _listener.RecordObservableInstruments();

    public double Sum(string instrument, string? unit, params (string Key, string Value)[] tags) => Matching(instrument, unit, tags).Sum();

    public double[] Values(string instrument, string? unit, params (string Key, string Value)[] tags) => [.. Matching(instrument, unit, tags)];

    public double Last(string instrument, params (string Key, string Value)[] tags) =>
        Matching(instrument, null, tags).DefaultIfEmpty(double.NaN).Last();

    public string[] TagValues(string instrument, string key) =>
        [.. _seen.Where(m => m.Instrument == instrument).Select(m => m.Tags.GetValueOrDefault(key) ?? "").Distinct().Order(StringComparer.Ordinal)];

    public void Dispose() => _listener.Dispose();

    public string Dump(string unit) => string.Join("\n", _seen.Where(m => m.Tags.GetValueOrDefault("unit") == unit)
        .Select(m => $"{m.Instrument} {m.Value} {string.Join(",", m.Tags.Select(t => $"{t.Key}={t.Value}"))}")) + "\n";

    private IEnumerable<double> Matching(string instrument, string? unit, (string Key, string Value)[] tags) =>
        _seen.Where(m => m.Instrument == instrument
                         && (unit is null || m.Tags.GetValueOrDefault("unit") == unit)
                         && tags.All(t => m.Tags.GetValueOrDefault(t.Key) == t.Value))
             .Select(m => m.Value);

    private void Add(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var copy = new Dictionary<string, string?>();
        foreach (var tag in tags)
        {
            copy[tag.Key] = tag.Value?.ToString();
        }
        _seen.Enqueue((instrument.Name, value, copy));
    }
}

[CollectionDefinition(Name)]
public sealed class TelemetryClusterCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "telemetry-cluster";
}

/// <summary>What one persisted transition records, from statuses built by hand: exact figures, no timing.</summary>
public sealed class RolloutTransitionMetricsTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 1, 12, 0, 0, TimeSpan.Zero);

    private static RolloutSpec Spec(string unit, int maxCrashes = 0) => new()
    {
        Id = "r-0000000000000001", Unit = unit, Version = 2, Sha256 = new string('b', 64), PreviousVersion = 1, PreviousSha256 = new string('a', 64),
        Plan = new Plan(
        [
            new WaveSpec { Name = "canary", Select = new WaveSelect { Tier = "canary" }, BakeSeconds = 60, Gates = new Gates { MaxCrashes = maxCrashes } },
            new WaveSpec { Name = "all", Select = new WaveSelect { Percent = 100 }, BakeSeconds = 60 },
        ]),
        PlanName = "two-waves", CreatedBy = "ci",
    };

    /// <summary>Wave 0 started at T0 and failed at T0+4 s; a node signalled at T0+1 s; one signal is from before the wave.</summary>
    private static RolloutStatus RollingBack(params NodeSignal[] signals) => new()
    {
        State = RolloutState.RollingBack,
        Waves = [new WaveStatus { Name = "canary", State = WaveState.Failed, StartedAt = T0, Targeted = 2 }, new WaveStatus { Name = "all" }],
        Signals = signals,
        Rollback = new RollbackStatus { Reason = "crashed", By = RolloutStatus.Self, ThroughWave = 0, StartedAt = T0.AddSeconds(4), AssignedAt = T0.AddSeconds(4), Targeted = 2 },
        Timeline =
        [
            new TimelineEntry(T0.AddSeconds(-10), TimelineTypes.NodeSignal, "an earlier node signal, before this wave"),
            new TimelineEntry(T0, TimelineTypes.WaveStarted, "wave 0"),
            new TimelineEntry(T0.AddSeconds(1), TimelineTypes.NodeSignal, "node c1 crashed"),
            new TimelineEntry(T0.AddSeconds(4), TimelineTypes.RollbackStarted, "rolling back"),
        ],
        UpdatedAt = T0.AddSeconds(4),
    };

    private static RolloutStatus Finished(RolloutStatus rollingBack, int confirmed, bool aborted = false) => rollingBack with
    {
        State = aborted ? RolloutState.Aborted : RolloutState.RolledBack,
        Rollback = rollingBack.Rollback! with { Confirmed = confirmed, CompletedAt = T0.AddSeconds(9), Aborted = aborted },
        FinishedAt = T0.AddSeconds(9),
        UpdatedAt = T0.AddSeconds(9),
    };

    [Fact]
    public void Time_to_safe_runs_from_the_earliest_node_signal_of_the_failed_wave_to_the_last_confirmation()
    {
        using var meter = new MeterRecorder();
        var unit = TestStorage.Unique("unit");
        var rollingBack = RollingBack(new NodeSignal("c1", SignalKind.Crash, "crashed"));
        RolloutMetrics.Saved(Spec(unit), rollingBack, Finished(rollingBack, confirmed: 2));

        Assert.Equal([8.0], meter.Values("snapstone.time_to_safe", unit));
        Assert.Equal(0, meter.Sum("snapstone.rollback.unconfirmed", unit));
    }

    [Fact]
    public void Without_a_node_signal_time_to_safe_runs_from_the_verdict_that_started_the_rollback()
    {
        using var meter = new MeterRecorder();
        var unit = TestStorage.Unique("unit");
        var rollingBack = RollingBack() with { Timeline = [new TimelineEntry(T0.AddSeconds(4), TimelineTypes.RollbackStarted, "unhealthy")] };
        RolloutMetrics.Saved(Spec(unit), rollingBack, Finished(rollingBack, confirmed: 2));

        Assert.Equal([5.0], meter.Values("snapstone.time_to_safe", unit));
    }

    [Fact]
    public void A_rollback_that_ends_unconfirmed_counts_the_missing_nodes_and_no_time_to_safe()
    {
        using var meter = new MeterRecorder();
        var unit = TestStorage.Unique("unit");
        var rollingBack = RollingBack();
        RolloutMetrics.Saved(Spec(unit), rollingBack, Finished(rollingBack, confirmed: 1));

        Assert.Empty(meter.Values("snapstone.time_to_safe", unit));
        Assert.Equal(1, meter.Sum("snapstone.rollback.unconfirmed", unit));
    }

    [Fact]
    public void An_abort_that_finishes_records_no_time_to_safe()
    {
        using var meter = new MeterRecorder();
        var unit = TestStorage.Unique("unit");
        var rollingBack = RollingBack() with { Rollback = RollingBack().Rollback! with { Aborted = true, By = "alice" } };
        RolloutMetrics.Saved(Spec(unit), rollingBack, Finished(rollingBack, confirmed: 2, aborted: true));

        Assert.Empty(meter.Values("snapstone.time_to_safe", unit));
        Assert.Equal(0, meter.Sum("snapstone.rollouts.aborted", unit));
    }

    [Fact]
    public void Writing_the_same_status_again_records_nothing()
    {
        using var meter = new MeterRecorder();
        var unit = TestStorage.Unique("unit");
        var status = RollingBack();
        RolloutMetrics.Saved(Spec(unit), status, status);
        RolloutMetrics.Saved(Spec(unit), status, status with { UpdatedAt = T0.AddSeconds(5) });

        Assert.Equal("", meter.Dump(unit).Trim());
    }

    /// <summary>The rollback's reason as the policy weighs dangers: breach, crashes past the gate, rejections past the gate, verdict.</summary>
    [Theory]
    [InlineData("breach", 0, "crash,breach", null)]
    [InlineData("crash", 0, "crash", null)]
    [InlineData("rejected", 1, "crash,rejected", null)]
    [InlineData("unhealthy", 1, "crash", "unhealthy")]
    [InlineData("other", 0, "", "healthy")]
    public void A_rollback_counts_under_the_kind_of_danger_that_decided_it(string expected, int maxCrashes, string signals, string? verdict)
    {
        using var meter = new MeterRecorder();
        var unit = TestStorage.Unique("unit");
        var kinds = signals.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(k => Enum.Parse<SignalKind>(k, ignoreCase: true));
        var running = new RolloutStatus
        {
            State = RolloutState.Running,
            Waves = [new WaveStatus { Name = "canary", State = WaveState.Baking, StartedAt = T0 }, new WaveStatus { Name = "all" }],
        };
        var failed = running.Waves[0] with
        {
            State = WaveState.Failed,
            Verdict = verdict is null ? null : new Domain.Health.Verdict(Enum.Parse<Domain.Health.VerdictResult>(verdict, ignoreCase: true), ["judged"]),
        };
        var next = running with
        {
            State = RolloutState.RollingBack,
            Waves = [failed, running.Waves[1]],
            Signals = [.. kinds.Select((k, i) => new NodeSignal($"n{i}", k, k.ToString()))],
            Rollback = new RollbackStatus { Reason = "x", By = RolloutStatus.Self, ThroughWave = 0, StartedAt = T0.AddSeconds(30) },
            UpdatedAt = T0.AddSeconds(30),
        };
        RolloutMetrics.Saved(Spec(unit, maxCrashes), running, next);

        Assert.Equal(1, meter.Sum("snapstone.rollouts.rolled_back", unit, ("reason", expected)));
        Assert.Equal([30.0], meter.Values("snapstone.wave.duration", unit, ("outcome", "failed")));
        Assert.Equal(verdict is null ? 0 : 1, meter.Sum("snapstone.verdicts", unit, ("result", verdict ?? "none")));
    }

    [Fact]
    public void A_rollback_an_alarm_started_counts_under_alarm()
    {
        using var meter = new MeterRecorder();
        var unit = TestStorage.Unique("unit");
        var running = new RolloutStatus { State = RolloutState.Running, Waves = [new WaveStatus { Name = "canary", State = WaveState.Baking, StartedAt = T0 }] };
        var next = running with
        {
            State = RolloutState.RollingBack,
            Rollback = new RollbackStatus { Reason = "alarm 'EdgeErrors' firing", By = "alertmanager", ThroughWave = 0, StartedAt = T0.AddSeconds(30) },
            UpdatedAt = T0.AddSeconds(30),
        };
        RolloutMetrics.Saved(Spec(unit), running, next);
        Assert.Equal(1, meter.Sum("snapstone.rollouts.rolled_back", unit, ("reason", "alarm")));
    }

    [Theory]
    [InlineData("manual", "manual")]
    [InlineData("manual-by-a-token-named-freeze", "manual")]
    [InlineData("frozen", "freeze")]
    [InlineData("apply-deadline", "apply-deadline")]
    [InlineData("inconclusive", "inconclusive")]
    [InlineData("inconsistent", "other")]
    [InlineData("alarm", "alarm")]
    public void A_pause_counts_under_who_or_what_paused_it(string pause, string expected)
    {
        PauseReason reason = pause switch
        {
            "manual" => new PauseReason.Manual("alice", "looking at a dashboard"),
            // A person whose token is called freeze pauses as a person: the kind comes from the type, not a name.
            "manual-by-a-token-named-freeze" => new PauseReason.Manual("freeze", "frozen by oncall: edge errors"),
            "frozen" => new PauseReason.Frozen(new Domain.BreakGlass.Freeze { Reason = "edge errors", By = "oncall", At = T0 }),
            "apply-deadline" => new PauseReason.ApplyDeadline("canary", 10, 7, 0, 10, TimeSpan.FromMinutes(10), []),
            "inconclusive" => new PauseReason.Inconclusive("canary", TimeSpan.FromMinutes(2), TimeSpan.FromMinutes(2), "no traffic"),
            "alarm" => new Domain.Alarms.AlarmPause("alertmanager", "alarm 'EdgeErrors' firing (alertname=EdgeErrors, snapstone_scope=global)"),
            _ => new PauseReason.Inconsistent(2, 5, 2),
        };
        using var meter = new MeterRecorder();
        var unit = TestStorage.Unique("unit");
        var running = new RolloutStatus { State = RolloutState.Running, Waves = [new WaveStatus { Name = "canary", State = WaveState.Baking, StartedAt = T0 }] };
        RolloutMetrics.Saved(Spec(unit), running, running with { State = RolloutState.Paused, Pause = reason, UpdatedAt = T0.AddSeconds(1) });

        Assert.Equal(1, meter.Sum("snapstone.rollouts.paused", unit, ("reason", expected)));
        Assert.Equal(1, meter.Sum("snapstone.rollouts.paused", unit));
    }
}
