using Snapstone.Domain.Drift;
using Snapstone.Domain.Incidents;

namespace Snapstone.Domain.Tests.Drift;

public class DriftIncidentPolicyTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 1, 10, 0, 0, TimeSpan.Zero);
    private static readonly DriftSettings Settings = new(); // over 5 % and at least 3 nodes; updates every 2.5 points

    private static DriftCounts Fleet(int affected, int nodes = 100, int stale = 0) => new()
    {
        ScannedAt = T0, Nodes = nodes, Affected = affected, Drifted = affected, Stale = stale,
        Units = affected == 0 ? new Dictionary<string, int>() : new Dictionary<string, int> { ["bot-features"] = affected },
    };

    private static DriftEntry Entry(string node, string unit, DriftKind kind, bool excluded = false) =>
        new() { Node = node, Pop = "ams01", Unit = unit, Kind = kind, Excluded = excluded };

    [Theory]
    [InlineData(6, 100, true)]
    [InlineData(5, 100, false)] // exactly the threshold is not more than it
    [InlineData(2, 10, false)] // 20 %, but too few nodes to page
    [InlineData(3, 10, true)]
    [InlineData(0, 0, false)]
    public void Over_needs_more_than_the_share_and_enough_nodes(int affected, int nodes, bool over) =>
        Assert.Equal(over, DriftIncidentPolicy.Over(Fleet(affected, nodes), Settings));

    [Theory]
    [InlineData(0.08, 0.10, false)]
    [InlineData(0.08, 0.105, true)]
    [InlineData(0.08, 0.055, true)]
    [InlineData(0.06, 0.07, false)]
    public void Material_means_half_the_threshold(double announced, double share, bool material) =>
        Assert.Equal(material, DriftIncidentPolicy.Material(share, announced, Settings));

    [Theory]
    [InlineData(0.375, 0.5, true)]
    [InlineData(0.375, 0.45, false)]
    public void Material_scales_with_the_threshold(double announced, double share, bool material) =>
        Assert.Equal(material, DriftIncidentPolicy.Material(share, announced, Settings with { IncidentShare = 0.25 }));

    public sealed record Case(DriftIncidentMemory Before, IncidentStatus? Status, string By, int Affected, string Expect, DriftIncidentMemory After);

    private static readonly DriftIncidentMemory Following6 = new() { Incident = "inc-1", AnnouncedShare = 0.06 };
    private static readonly DriftIncidentMemory Silenced = new() { Silenced = true };

    private static readonly Dictionary<string, Case> Cases = new()
    {
        // expect: "-" nothing, "open <id>", or the status of the update posted on inc-1
        ["a quiet fleet"] = new(DriftIncidentMemory.None, null, "", 2, "-", DriftIncidentMemory.None),
        ["exactly the threshold"] = new(DriftIncidentMemory.None, null, "", 5, "-", DriftIncidentMemory.None),
        ["over: opens one"] = new(DriftIncidentMemory.None, null, "", 6, "open inc-new", new() { Incident = "inc-new", AnnouncedShare = 0.06 }),
        ["open, over, barely moved"] = new(Following6, IncidentStatus.Detected, "snapstone", 8, "-", Following6),
        ["open, over, moved up half the threshold"] = new(Following6, IncidentStatus.Detected, "snapstone", 9, "Detected", Following6 with { AnnouncedShare = 0.09 }),
        ["open, over, moved down half the threshold"] = new(Following6 with { AnnouncedShare = 0.10 }, IncidentStatus.Detected, "snapstone", 7, "Detected", Following6 with { AnnouncedShare = 0.07 }),
        ["open, a person's status is kept"] = new(Following6, IncidentStatus.Halted, "oncall", 9, "Halted", Following6 with { AnnouncedShare = 0.09 }),
        ["open, back under"] = new(Following6, IncidentStatus.Detected, "snapstone", 5, "Monitoring", Following6 with { AnnouncedShare = 0.05 }),
        ["monitoring, still under"] = new(Following6 with { AnnouncedShare = 0.05 }, IncidentStatus.Monitoring, "snapstone", 1, "-", Following6 with { AnnouncedShare = 0.05 }),
        ["monitoring, over again"] = new(Following6 with { AnnouncedShare = 0.05 }, IncidentStatus.Monitoring, "snapstone", 6, "Detected", Following6),
        ["resolved by the quiet period, under"] = new(Following6, IncidentStatus.Resolved, "snapstone", 1, "-", DriftIncidentMemory.None),
        ["resolved by the quiet period, over"] = new(Following6, IncidentStatus.Resolved, "snapstone", 6, "open inc-new", new() { Incident = "inc-new", AnnouncedShare = 0.06 }),
        ["resolved by a person while over"] = new(Following6, IncidentStatus.Resolved, "oncall", 7, "-", Silenced),
        ["resolved by a person while under"] = new(Following6, IncidentStatus.Resolved, "oncall", 2, "-", DriftIncidentMemory.None),
        ["silenced, still over"] = new(Silenced, null, "", 20, "-", Silenced),
        ["silenced, falls under"] = new(Silenced, null, "", 2, "-", DriftIncidentMemory.None),
        ["remembered but never stored, over"] = new(Following6, null, "", 6, "open inc-1", Following6),
        ["remembered but never stored, under"] = new(Following6, null, "", 2, "-", DriftIncidentMemory.None),
    };

    public static TheoryData<string> CaseNames => [.. Cases.Keys];

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Decide_keeps_one_incident_updates_it_on_material_change_and_lets_it_settle(string name)
    {
        var c = Cases[name];
        var incident = c.Status is { } status
            ? IncidentRules.Open("inc-1", "Drift", IncidentSeverity.Sev3, ["bot-features"], DriftIncidentPolicy.Source, IncidentStatus.Detected, "seen", "snapstone", T0)
                .With(status, "m", c.By, T0.AddMinutes(1))
            : null;

        var step = DriftIncidentPolicy.Decide(c.Before, incident, Fleet(c.Affected), Settings, "inc-new", T0.AddMinutes(2));

        var did = step.Open is { } open ? $"open {open.Id}" : step.Update is { } update ? update.Status.ToString() : "-";
        Assert.True(c.Expect == did, $"{name}: expected {c.Expect}, did {did}");
        Assert.True(c.After == step.Memory, $"{name}: expected {c.After}, remembered {step.Memory}");
    }

    [Fact]
    public void An_opened_incident_names_the_share_the_units_and_what_is_not_counted()
    {
        var counts = new DriftCounts
        {
            ScannedAt = T0, Nodes = 8, Affected = 3, Drifted = 2, OutOfBand = 1, Stale = 1,
            Units = new Dictionary<string, int> { ["flags"] = 1, ["bot-features"] = 3, ["quiet"] = 0 },
        };
        var settings = Settings with { IncidentShare = 0.25, IncidentMinNodes = 2 };

        var opened = DriftIncidentPolicy.Decide(DriftIncidentMemory.None, null, counts, settings, "inc-0123456789abcdef", T0).Open!;

        Assert.Equal(("inc-0123456789abcdef", "Drift on 37.5% of the fleet", IncidentSeverity.Sev2, IncidentStatus.Detected, "drift"),
            (opened.Id, opened.Title, opened.Severity, opened.Status, opened.Source));
        Assert.Equal(["bot-features", "flags"], opened.Units);
        var update = Assert.Single(opened.Updates);
        Assert.Equal(new IncidentUpdate(T0, IncidentStatus.Detected,
            "3 of 8 node(s) (37.5%) drifted or out of band (2 drifted, 1 out of band), over the 25% threshold; units: bot-features (3), flags (1); 1 stale node(s) not counted",
            "snapstone"), update);
    }

    [Fact]
    public void Going_back_under_says_so_and_how_it_resolves()
    {
        var incident = IncidentRules.Open("inc-1", "Drift", IncidentSeverity.Sev3, [], DriftIncidentPolicy.Source, IncidentStatus.Detected, "seen", "snapstone", T0);
        var step = DriftIncidentPolicy.Decide(new DriftIncidentMemory { Incident = "inc-1", AnnouncedShare = 0.06 }, incident, Fleet(1), Settings, "inc-new", T0);
        Assert.Equal((IncidentStatus.Monitoring,
            "drift back under the 5% threshold: 1 of 100 node(s) (1%) drifted or out of band; resolves after a quiet period without new drift"), step.Update);
    }

    [Fact]
    public void Many_units_are_cut_short_in_the_message()
    {
        var units = Enumerable.Range(0, 12).ToDictionary(i => $"u{i:00}", i => 1);
        var counts = new DriftCounts { Nodes = 10, Affected = 10, Drifted = 10, Units = units };
        Assert.EndsWith("units: u00 (1), u01 (1), u02 (1), u03 (1), u04 (1), u05 (1), u06 (1), u07 (1), u08 (1), u09 (1) and 2 more",
            DriftIncidentPolicy.Describe(counts, Settings));
    }

    [Fact]
    public void Counts_are_nodes_by_kind_with_stale_apart_from_the_share()
    {
        DriftEntry[] entries =
        [
            Entry("n1", "a", DriftKind.Drifted), Entry("n1", "b", DriftKind.OutOfBand),
            Entry("n2", "a", DriftKind.Stale, excluded: true), Entry("n2", "b", DriftKind.Stale),
            Entry("n3", "a", DriftKind.Drifted, excluded: true),
        ];

        var counts = DriftCounts.Of(T0, 10, entries);

        Assert.Equal((T0, 10, 2, 2, 1, 2, 1, 0.2), (counts.ScannedAt, counts.Nodes, counts.Affected, counts.Drifted, counts.OutOfBand, counts.Excluded, counts.Stale, counts.Share));
        Assert.Equal(new Dictionary<string, int> { ["a"] = 2, ["b"] = 1 }, counts.Units);
    }

    [Fact]
    public void PoP_counts_add_up_and_the_oldest_scan_wins()
    {
        var ams = DriftCounts.Of(T0.AddSeconds(5), 4, [Entry("ams-1", "a", DriftKind.Drifted)]);
        var fra = DriftCounts.Of(T0, 6, [Entry("fra-1", "a", DriftKind.OutOfBand), Entry("fra-2", "b", DriftKind.Stale)]);

        var fleet = DriftCounts.None.Plus(ams).Plus(fra);

        Assert.Equal((T0, 10, 2, 1, 1, 1, 0.2), (fleet.ScannedAt, fleet.Nodes, fleet.Affected, fleet.Drifted, fleet.OutOfBand, fleet.Stale, fleet.Share));
        Assert.Equal(new Dictionary<string, int> { ["a"] = 2 }, fleet.Units);
        Assert.Equal((null, 0.0), (DriftCounts.None.ScannedAt, DriftCounts.None.Share));
    }
}
