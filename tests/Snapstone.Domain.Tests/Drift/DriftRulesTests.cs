using Snapstone.Domain.Drift;
using Snapstone.Domain.Nodes;

namespace Snapstone.Domain.Tests.Drift;

public class DriftRulesTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 10, 0, 0, TimeSpan.Zero);
    private static readonly string V7 = new('7', 64);
    private static readonly string V8 = new('8', 64);
    private static readonly string Foreign = new('f', 64);
    private static readonly DriftSettings Settings = new(); // grace 2 report intervals, stale after 30 s (3 intervals at least), 10 attempts

    /// <summary>Snapstone issued v7 and v8 of bot-features (v9 failed validation; nothing else exists).</summary>
    private static bool Issued(string unit, AppliedPackage applied) =>
        unit == "bot-features" && applied.Version switch
        {
            7 => applied.Sha256 is null || applied.Sha256 == V7,
            8 => applied.Sha256 is null || applied.Sha256 == V8,
            _ => false,
        };

    private static AppliedPackage Ok(long version, string? sha) => new() { Version = version, Sha256 = sha };

    /// <summary>A node reporting every second, last at 10:00:00 unless <paramref name="lastReport"/> says otherwise; desired v8.</summary>
    private static (NodeDriftFacts Node, UnitDriftFacts Unit) Facts(AppliedPackage? applied, int? divergedAt = null, int lastReport = 0,
        double interval = 1, bool desired = true, int attempts = 0)
    {
        var unit = new UnitDriftFacts
        {
            Unit = "bot-features",
            DesiredVersion = desired ? 8 : null,
            DesiredSha256 = desired ? V8 : null,
            Applied = applied,
            AppliedSince = T0.AddSeconds(-100),
            DivergedSince = divergedAt is { } d ? T0.AddSeconds(d) : null,
            Attempts = attempts,
        };
        var node = new NodeDriftFacts { Node = "ams01-n001", Pop = "ams01", LastReportAt = T0.AddSeconds(lastReport), IntervalSeconds = interval, Units = [unit] };
        return (node, unit);
    }

    public static TheoryData<string, int, DriftKind> Cases => new()
    {
        // name, seconds after 10:00:00 when classified, expected
        { "runs the desired package", 1, DriftKind.Converged },
        { "runs the desired version, no hash reported", 1, DriftKind.Converged },
        { "diverged 1 s ago", 1, DriftKind.Diverging },
        { "diverged exactly the grace ago", 2, DriftKind.Diverging },
        { "diverged just past the grace", 3, DriftKind.Drifted },
        { "slow reporter: diverged 15 s ago, interval 10 s", 15, DriftKind.Diverging },
        { "slow reporter: diverged 21 s ago, interval 10 s", 21, DriftKind.Drifted },
        { "diverged, no mark yet (desired changed since the last report)", 5, DriftKind.Diverging },
        { "never reported the unit", 5, DriftKind.Drifted },
        { "refused the desired package", 5, DriftKind.Drifted },
        { "desired version with a foreign hash", 1, DriftKind.OutOfBand },
        { "a version never issued", 1, DriftKind.OutOfBand },
        { "a version that failed validation", 1, DriftKind.OutOfBand },
        { "an issued package that is not desired", 1, DriftKind.Diverging },
        { "nothing desired, runs an issued package", 5, DriftKind.Converged },
        { "nothing desired, runs a foreign package", 5, DriftKind.OutOfBand },
        { "silent 30 s (not yet stale)", 30, DriftKind.Converged },
        { "silent 31 s", 31, DriftKind.Stale },
        { "silent 31 s while drifted", 31, DriftKind.Stale },
        { "silent 31 s with a foreign package", 31, DriftKind.Stale },
        { "slow reporter: silent 100 s, interval 60 s", 100, DriftKind.Converged },
        { "slow reporter: silent 181 s, interval 60 s", 181, DriftKind.Stale },
    };

    private static readonly Dictionary<string, (NodeDriftFacts Node, UnitDriftFacts Unit)> Situations = new()
    {
        ["runs the desired package"] = Facts(Ok(8, V8)),
        ["runs the desired version, no hash reported"] = Facts(Ok(8, null)),
        ["diverged 1 s ago"] = Facts(Ok(7, V7), divergedAt: 0),
        ["diverged exactly the grace ago"] = Facts(Ok(7, V7), divergedAt: 0),
        ["diverged just past the grace"] = Facts(Ok(7, V7), divergedAt: 0),
        ["slow reporter: diverged 15 s ago, interval 10 s"] = Facts(Ok(7, V7), divergedAt: 0, interval: 10),
        ["slow reporter: diverged 21 s ago, interval 10 s"] = Facts(Ok(7, V7), divergedAt: 0, interval: 10),
        ["diverged, no mark yet (desired changed since the last report)"] = Facts(Ok(7, V7)),
        ["never reported the unit"] = Facts(null, divergedAt: 0),
        ["refused the desired package"] = Facts(new AppliedPackage { Version = 8, Sha256 = V8, Status = ApplyStatus.Rejected, Error = "too big" }, divergedAt: 0),
        ["desired version with a foreign hash"] = Facts(Ok(8, Foreign), divergedAt: 0),
        ["a version never issued"] = Facts(Ok(12, Foreign), divergedAt: 0),
        ["a version that failed validation"] = Facts(Ok(9, null), divergedAt: 0),
        ["an issued package that is not desired"] = Facts(Ok(7, null), divergedAt: 0),
        ["nothing desired, runs an issued package"] = Facts(Ok(7, V7), desired: false),
        ["nothing desired, runs a foreign package"] = Facts(Ok(7, Foreign), desired: false),
        ["silent 30 s (not yet stale)"] = Facts(Ok(8, V8)),
        ["silent 31 s"] = Facts(Ok(8, V8)),
        ["silent 31 s while drifted"] = Facts(Ok(7, V7), divergedAt: -60),
        ["silent 31 s with a foreign package"] = Facts(Ok(8, Foreign), divergedAt: -60),
        ["slow reporter: silent 100 s, interval 60 s"] = Facts(Ok(8, V8), interval: 60),
        ["slow reporter: silent 181 s, interval 60 s"] = Facts(Ok(8, V8), interval: 60),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Classify_names_what_a_node_runs_against_what_it_should(string situation, int at, DriftKind expected)
    {
        var (node, unit) = Situations[situation];
        Assert.Equal(expected, DriftRules.Classify(node, unit, T0.AddSeconds(at), Settings, Issued));
    }

    [Fact]
    public void Every_situation_has_a_case() =>
        Assert.Equal(Situations.Keys.Order(), Cases.Select(c => (string)c[0]).Order());

    [Fact]
    public void Without_knowing_what_was_issued_nothing_is_out_of_band()
    {
        var (node, unit) = Facts(Ok(12, Foreign), divergedAt: 0);
        Assert.Equal(DriftKind.Diverging, DriftRules.Classify(node, unit, T0.AddSeconds(1), Settings, issued: null));
        Assert.Equal(DriftKind.Drifted, DriftRules.Classify(node, unit, T0.AddSeconds(3), Settings, issued: null));
    }

    [Fact]
    public void A_configured_grace_replaces_the_report_intervals()
    {
        var (node, unit) = Facts(Ok(7, V7), divergedAt: 0, interval: 10);
        var fiveSeconds = Settings with { Grace = TimeSpan.FromSeconds(5) };
        Assert.Equal(DriftKind.Diverging, DriftRules.Classify(node, unit, T0.AddSeconds(5), fiveSeconds, Issued));
        Assert.Equal(DriftKind.Drifted, DriftRules.Classify(node, unit, T0.AddSeconds(6), fiveSeconds, Issued));
    }

    [Theory]
    [InlineData(1, null, 2, 30)]
    [InlineData(10, null, 20, 30)]
    [InlineData(60, null, 120, 180)]
    [InlineData(1, 5.0, 5, 30)]
    [InlineData(0, null, 2, 30)] // a nonsensical interval counts as the default second
    public void Grace_and_staleness_scale_with_the_nodes_interval(double interval, double? grace, double expectedGrace, double expectedStale)
    {
        var settings = Settings with { Grace = grace is { } g ? TimeSpan.FromSeconds(g) : null };
        Assert.Equal(TimeSpan.FromSeconds(expectedGrace), settings.GraceFor(interval));
        Assert.Equal(TimeSpan.FromSeconds(expectedStale), settings.StaleAfterFor(interval));
    }

    public static TheoryData<string, DriftMark?, AppliedPackage?, int, bool, DriftMark?> TrackCases => new()
    {
        // name, mark before, applied, seconds after 10:00:00, remediation (a report), mark after
        { "converged: no mark", null, Ok(8, V8), 0, true, null },
        { "converging clears the mark", new DriftMark(8, V8, T0, 4), Ok(8, V8), 9, true, null },
        { "first divergence starts a mark", null, Ok(7, V7), 0, true, new DriftMark(8, V8, T0) },
        { "within the grace: no attempt", new DriftMark(8, V8, T0), Ok(7, V7), 2, true, new DriftMark(8, V8, T0) },
        { "past the grace: one more attempt", new DriftMark(8, V8, T0, 3), Ok(7, V7), 3, true, new DriftMark(8, V8, T0, 4) },
        { "past the grace, but a scan: no attempt", new DriftMark(8, V8, T0, 3), Ok(7, V7), 3, false, new DriftMark(8, V8, T0, 3) },
        { "a new desired package starts over", new DriftMark(7, V7, T0, 12), Ok(6, null), 30, true, new DriftMark(8, V8, T0.AddSeconds(30)) },
        { "a refusal is divergence", null, new AppliedPackage { Version = 8, Sha256 = V8, Status = ApplyStatus.Rejected }, 0, true, new DriftMark(8, V8, T0) },
        { "never reported the unit", null, null, 0, true, new DriftMark(8, V8, T0) },
    };

    [Theory]
    [MemberData(nameof(TrackCases))]
    public void Track_keeps_since_when_a_unit_diverged_and_counts_attempts_past_the_grace(string name, DriftMark? before, AppliedPackage? applied,
        int at, bool remediation, DriftMark? expected)
    {
        var after = DriftRules.Track(before, 8, V8, applied, T0.AddSeconds(at), Settings.GraceFor(1), remediation);
        Assert.True(expected == after, $"{name}: expected {expected}, got {after}");
    }

    [Fact]
    public void Nothing_desired_tracks_nothing() =>
        Assert.Null(DriftRules.Track(new DriftMark(8, V8, T0, 3), null, null, Ok(7, V7), T0.AddSeconds(9), TimeSpan.FromSeconds(2), true));

    [Theory]
    [InlineData(9, 10, false)]
    [InlineData(10, 10, true)]
    [InlineData(11, 10, true)]
    [InlineData(1000, 0, false)] // 0 never excludes
    public void A_node_is_excluded_once_its_attempts_reach_the_limit(int attempts, int maxAttempts, bool excluded) =>
        Assert.Equal(excluded, DriftRules.Excluded(new DriftMark(8, V8, T0, attempts), Settings with { MaxAttempts = maxAttempts }));

    [Theory]
    // mark since (s before now), attempts → stored: (since, excluded) or nothing
    [InlineData("no mark", null, 0, null, false)]
    [InlineData("still applying", 1, 0, null, false)]
    [InlineData("exactly at the grace", 2, 0, null, false)]
    [InlineData("past the grace", 3, 1, 3, false)]
    [InlineData("past the grace, more attempts", 9, 7, 9, false)]
    [InlineData("excluded", 20, 10, 20, true)]
    public void Only_marks_past_the_grace_or_excluding_the_node_are_stored(string name, int? sinceSeconds, int attempts, int? storedSince, bool excluded)
    {
        var now = T0.AddSeconds(60);
        var mark = sinceSeconds is { } s ? new DriftMark(8, V8, now.AddSeconds(-s), attempts) : null;

        var stored = DriftRules.Durable(mark, now, TimeSpan.FromSeconds(2), Settings);

        Assert.True((storedSince is null ? null : new DurableMark(8, V8, now.AddSeconds(-storedSince.Value), excluded)) == stored, name);
    }

    [Fact]
    public void An_attempt_does_not_change_what_is_stored_until_it_excludes_the_node()
    {
        var now = T0.AddSeconds(60);
        var grace = TimeSpan.FromSeconds(2);
        Assert.Equal(DriftRules.Durable(new DriftMark(8, V8, T0, 3), now, grace, Settings), DriftRules.Durable(new DriftMark(8, V8, T0, 4), now, grace, Settings));
        Assert.NotEqual(DriftRules.Durable(new DriftMark(8, V8, T0, 9), now, grace, Settings), DriftRules.Durable(new DriftMark(8, V8, T0, 10), now, grace, Settings));
    }

    [Fact]
    public void Entries_list_drifted_stale_and_out_of_band_units_with_since_attempts_and_exclusion()
    {
        var drifted = new UnitDriftFacts { Unit = "b-drifted", DesiredVersion = 8, DesiredSha256 = V8, Applied = Ok(7, V7), DivergedSince = T0.AddSeconds(-20), Attempts = 12 };
        var diverging = new UnitDriftFacts { Unit = "c-diverging", DesiredVersion = 8, DesiredSha256 = V8, Applied = Ok(7, V7), DivergedSince = T0.AddSeconds(-1) };
        var converged = new UnitDriftFacts { Unit = "d-converged", DesiredVersion = 8, DesiredSha256 = V8, Applied = Ok(8, V8) };
        var foreign = new UnitDriftFacts { Unit = "a-foreign", DesiredVersion = 8, DesiredSha256 = V8, Applied = Ok(8, Foreign), AppliedSince = T0.AddSeconds(-5), DivergedSince = T0.AddSeconds(-4) };
        var node = new NodeDriftFacts { Node = "ams01-n001", Pop = "ams01", LastReportAt = T0, Units = [drifted, diverging, converged, foreign] };

        var entries = DriftRules.Entries(node, T0, Settings, (unit, applied) => unit != "a-foreign");

        Assert.Equal(
        [
            new DriftEntry { Node = "ams01-n001", Pop = "ams01", Unit = "a-foreign", Kind = DriftKind.OutOfBand, DesiredVersion = 8, AppliedVersion = 8, AppliedSha256 = Foreign, Since = T0.AddSeconds(-4) },
            new DriftEntry { Node = "ams01-n001", Pop = "ams01", Unit = "b-drifted", Kind = DriftKind.Drifted, DesiredVersion = 8, AppliedVersion = 7, AppliedSha256 = V7, Since = T0.AddSeconds(-20), Attempts = 12, Excluded = true },
        ], entries);

        var silent = DriftRules.Entries(node with { LastReportAt = T0.AddSeconds(-31) }, T0, Settings, null);
        Assert.Equal(["a-foreign", "b-drifted", "c-diverging", "d-converged"], silent.Select(e => e.Unit));
        Assert.All(silent, e => Assert.Equal((DriftKind.Stale, T0.AddSeconds(-31)), (e.Kind, e.Since)));
    }
}
