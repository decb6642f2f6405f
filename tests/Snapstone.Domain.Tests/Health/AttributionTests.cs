using Snapstone.Domain.Health;
using Snapstone.Domain.Plans;
using static Snapstone.Domain.Tests.Health.Timed;

namespace Snapstone.Domain.Tests.Health;

/// <summary>A regression belongs to the change a node applied last before it began; other changes on the node are not blamed.</summary>
public class AttributionTests
{
    private static readonly Gates Gates = new();

    public static TheoryData<string, List<Slot>, int?> Onsets => new()
    {
        { "clean, then 17.6% from slot 10", [.. Repeat(10, 100, 0), .. Repeat(10, 100, 18)], 10 },
        { "bad from the first slot", [.. Repeat(10, 100, 18)], 0 },
        { "a lone noisy slot before the real onset", [.. Repeat(5, 100, 0), new Slot(100, 3), .. Repeat(5, 100, 0), .. Repeat(10, 100, 18)], 11 },
        { "clean throughout", [.. Repeat(20, 100, 0)], null },
    };

    [Theory]
    [MemberData(nameof(Onsets))]
    public void A_regression_begins_where_the_errors_last_climbed_over_the_limit_from_nothing(string because, List<Slot> slots, int? onset) =>
        Assert.True((onset is { } o ? At(o) : (DateTimeOffset?)null) == Attribution.Onset(Node("n", 0, slots), 0.01), because);

    private static readonly UnitApply Flags = new("flags", 12, At(2).AddMilliseconds(300));
    private static readonly UnitApply Features = new("bot-features", 8, At(12).AddMilliseconds(500));

    public static TheoryData<string, List<UnitApply>, int, string[]> SuspectCases => new()
    {
        { "began after the second change: the second's", [Flags, Features], 13, ["bot-features"] },
        { "began in the slot the second was applied in: the second's", [Flags, Features], 12, ["bot-features"] },
        { "began between the two: the first's", [Flags, Features], 5, ["flags"] },
        { "began before either: nobody's", [Flags, Features], 1, [] },
        { "both applied in one slot: cannot tell them apart", [Flags, Features with { At = At(2).AddMilliseconds(600) }], 4, ["bot-features", "flags"] },
    };

    [Theory]
    [MemberData(nameof(SuspectCases))]
    public void The_change_applied_last_before_the_onset_is_the_suspect(string because, List<UnitApply> applies, int onset, string[] units) =>
        Assert.True(units.SequenceEqual(Attribution.Suspects(applies, At(onset), SlotsTicks).Select(a => a.Unit)), because);

    private const long SlotsTicks = Timed.SlotTicks;

    /// <summary>
    /// The overlap: a good flags change in its second wave (10 canaries and 20 more nodes) while a bad
    /// bot-features change enters its canary wave on the same 10 canaries at slot 20; the canaries fail 17.6% from slot 21.
    /// </summary>
    private static (List<NodeSample> Canaries, List<NodeSample> Second, List<NodeSample> Others) Overlap(bool flagsBadToo = false)
    {
        var applies = new List<UnitApply> { new("flags", 12, At(0)), new("bot-features", 8, At(20).AddMilliseconds(100)) };
        var canaries = Enumerable.Range(0, 10).Select(i =>
            Node($"canary-{i}", 0, [.. Repeat(21, 1000, 1), .. Repeat(20, 1000, 176)]) with { Applies = applies }).ToList();
        var second = Enumerable.Range(0, 20).Select(i =>
            Node($"second-{i}", 0, Repeat(41, 1000, flagsBadToo ? 60 : 1)) with { Applies = [applies[0]] }).ToList();
        var rest = Many("rest", 40, 0, Repeat(41, 1000, 1));
        return (canaries, second, rest);
    }

    [Fact]
    public void The_good_change_leaves_the_other_changes_regression_out_and_passes()
    {
        var (canaries, second, rest) = Overlap();

        var flags = HealthPolicy.Judge([.. canaries, .. second], rest, Gates, 30, unit: "flags");

        Assert.True(flags.Result == VerdictResult.Healthy, string.Join(" | ", flags.Reasons));
        Assert.Contains("left out cohort node canary-0: its errors (8.64% (3541/41000)) began at 10:00:19.6 UTC, after it applied bot-features v8 at 10:00:18.8 UTC: " +
                        "that change's regression, not this one's", flags.Reasons);
        Assert.Contains("left out 5 more cohort node(s) whose errors began after another unit's change", flags.Reasons);
    }

    [Fact]
    public void Without_the_unit_the_judge_cannot_tell_and_the_good_change_fails_as_it_used_to()
    {
        var (canaries, second, rest) = Overlap();
        Assert.Equal(VerdictResult.Unhealthy, HealthPolicy.Judge([.. canaries, .. second], rest, Gates, 30).Result);
    }

    [Fact]
    public void The_bad_change_is_judged_on_the_same_nodes_and_fails()
    {
        var (canaries, second, rest) = Overlap();

        var features = HealthPolicy.Judge(canaries, [.. second, .. rest], Gates, 10, unit: "bot-features");

        Assert.Equal(VerdictResult.Unhealthy, features.Result);
        Assert.DoesNotContain(features.Findings, f => f is Finding.AttributedElsewhere);
    }

    [Fact]
    public void A_regression_that_shows_in_the_rest_of_the_cohort_still_fails_the_change()
    {
        // flags is bad as well (6% on its own second-wave nodes): leaving the canaries out does not hide that.
        var (canaries, second, rest) = Overlap(flagsBadToo: true);

        var flags = HealthPolicy.Judge([.. canaries, .. second], rest, Gates, 30, unit: "flags");

        Assert.Equal(VerdictResult.Unhealthy, flags.Result);
    }

    [Fact]
    public void A_control_node_broken_by_another_change_does_not_inflate_the_control()
    {
        // bot-features broke 10 control nodes of a flags rollout: left out, they cannot raise the control's rate to hide
        // flags' own 1.5% regression.
        var applies = new List<UnitApply> { new("bot-features", 8, At(5)) };
        var broken = Enumerable.Range(0, 10).Select(i => Node($"k-broken-{i}", 0, [.. Repeat(5, 1000, 1), .. Repeat(15, 1000, 200)]) with { Applies = applies }).ToList();
        var control = Many("k", 20, 0, Repeat(20, 1000, 1));
        var cohort = Many("c", 10, 0, Repeat(20, 1000, 16));

        Assert.Equal(VerdictResult.Unhealthy, HealthPolicy.Judge(cohort, [.. control, .. broken], Gates, 10, unit: "flags").Result);
    }

    /// <summary>
    /// A canary of a good flags change (applied at slot 0) takes a bad killswitch early in slot 21, fails 28% of its
    /// requests for <paramref name="badSlots"/> slots and is sent back; the rest of its window is clean at 0.1%.
    /// </summary>
    private static NodeSample ShortEpisode(int badSlots, long strayErrorsBefore = 0) =>
        Node("canary", 0, [.. Repeat(20, 500, 0), new Slot(500, strayErrorsBefore), .. Repeat(badSlots, 500, 140), .. Repeat(20, 500, 0)]) with
        {
            Applies = [new("flags", 12, At(0)), new("killswitch", 3, At(21).AddMilliseconds(100)), new("killswitch", 2, At(21 + badSlots).AddMilliseconds(100))],
        };

    public static TheoryData<string, NodeSample, string?> ElsewhereCases => new()
    {
        { "28% for three slots after the killswitch: the killswitch's", ShortEpisode(3), "killswitch" },
        { "two stray errors in the slot before the killswitch raised the statistic there: still the killswitch's", ShortEpisode(3, strayErrorsBefore: 2), "killswitch" },
        { "rolled back after one slot, the window mostly clean: the episode, not the window, is judged", ShortEpisode(1, strayErrorsBefore: 2), "killswitch" },
        { "no regression at all", ShortEpisode(0, strayErrorsBefore: 1), null },
    };

    [Theory]
    [MemberData(nameof(ElsewhereCases))]
    public void A_regression_that_began_with_another_units_apply_is_that_changes(string because, NodeSample node, string? unit)
    {
        Assert.True(unit == Attribution.Elsewhere(node, "flags", 0.002, Gates.Thresholds)?.Unit, because);
        Assert.Null(Attribution.Elsewhere(node, "killswitch", 0.002, Gates.Thresholds));
    }

    [Fact]
    public void Errors_already_significant_before_the_later_apply_stay_with_the_change_before_it()
    {
        // The node failed 5% from slot 15, on flags alone, and took the killswitch at slot 21: the regression is flags'.
        var node = Node("n", 0, [.. Repeat(15, 500, 0), .. Repeat(6, 500, 25), .. Repeat(5, 500, 140)]) with
        {
            Applies = [new("flags", 12, At(0)), new("killswitch", 3, At(21).AddMilliseconds(100))],
        };

        Assert.Equal(At(15), Attribution.Began(node, 0.002, Gates.Thresholds));
        Assert.Null(Attribution.Elsewhere(node, "flags", 0.002, Gates.Thresholds));
        Assert.Equal("flags", Attribution.Elsewhere(node, "killswitch", 0.002, Gates.Thresholds)?.Unit);
    }

    [Fact]
    public void A_node_signals_its_breach_to_the_change_it_is_attributed_to()
    {
        var (canaries, _, _) = Overlap();
        Assert.Equal(["bot-features"], Attribution.Blame(canaries[0], Gates));
        Assert.Empty(Attribution.Blame(canaries[0] with { Applies = [] }, Gates));
    }

    [Fact]
    public void Changes_applied_in_the_same_moment_are_told_apart_by_the_unit_the_agent_says_crashed_the_node()
    {
        // Both packages landed in one report at slot 5; the canaries crash-loop on bot-features from then on.
        var applies = new List<UnitApply> { new("flags", 12, At(5)), new("bot-features", 8, At(5)) };
        var canaries = Enumerable.Range(0, 10).Select(i =>
            Node($"canary-{i}", 0, [.. Repeat(5, 1000, 1), .. Repeat(15, 1000, 1000)]) with { Applies = applies }).ToList();
        var rest = Many("rest", 40, 0, Repeat(20, 1000, 1));

        var unnamed = HealthPolicy.Judge(canaries, rest, Gates, 10, unit: "flags");
        Assert.Equal(VerdictResult.Unhealthy, unnamed.Result);

        var named = canaries.Select(c => c with { CrashedOn = ["bot-features"] }).ToList();
        var flags = HealthPolicy.Judge([.. named, .. Many("second", 20, 0, Repeat(20, 1000, 1))], rest, Gates, 30, unit: "flags");
        Assert.True(flags.Result == VerdictResult.Healthy, string.Join(" | ", flags.Reasons));
        Assert.Contains(flags.Findings, f => f is Finding.AttributedElsewhere { Unit: "bot-features" });
        Assert.Equal(VerdictResult.Unhealthy, HealthPolicy.Judge(named, rest, Gates, 10, unit: "bot-features").Result);
    }
}
