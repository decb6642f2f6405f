using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;
using Snapstone.Domain.Health;
using Snapstone.Domain.Plans;
using static Snapstone.Domain.Tests.Health.Timed;

namespace Snapstone.Domain.Tests.Health;

/// <summary>Every verdict keeps the evidence it was made from, compactly, and judging it again gives the same verdict.</summary>
public class EvidenceTests
{
    private static readonly Gates Gates = new();

    /// <summary>What a node window would hand over at slot <paramref name="now"/>: the last 64 slots of a node's traffic so far.</summary>
    private static NodeSample Window(NodeSample node, int now)
    {
        var series = node.Series!;
        var first = Math.Max(0, now - HealthWindow.Slots);
        var count = Math.Max(0, Math.Min(now, series.Count) - first);
        var cut = series with
        {
            FirstSlot = series.FirstSlot + first,
            Requests = series.Requests.Skip(first).Take(count).ToArray(),
            Errors = series.Errors.Skip(first).Take(count).ToArray(),
            P99 = series.P99.Skip(first).Take(count).ToArray(),
        };
        return node with { Requests = cut.Requests.Sum(), Errors = cut.Errors.Sum(), Series = cut };
    }

    /// <summary>
    /// A rollout looking every <paramref name="every"/> slots through 64-slot node windows, handing each look's carry to the next,
    /// as <see cref="WaveEvidence"/> describes; the last evidence and judgement.
    /// </summary>
    private static (WaveEvidence Evidence, Judgement Judgement) Bake(List<NodeSample> cohort, List<NodeSample> control, int slots, int every, Gates? gates = null)
    {
        PooledHistory? carry = null;
        WaveEvidence? evidence = null;
        Judgement? judgement = null;
        for (var now = every; now <= slots; now += every)
        {
            evidence = new WaveEvidence
            {
                Unit = "bot-features", Targeted = cohort.Count, At = At(now),
                Cohort = [.. cohort.Select(n => Window(n, now))], Control = [.. control.Select(n => Window(n, now))], History = carry,
            };
            judgement = HealthPolicy.Look(evidence, gates ?? Gates);
            carry = judgement.Carry;
        }
        return (evidence!, judgement!);
    }

    /// <summary>A burst of 30% errors on the cohort alone in slots 0–9 of a 150-slot bake, clean since: gone from every node window by slot 74.</summary>
    private static (List<NodeSample> Cohort, List<NodeSample> Control) EarlyBurst() =>
        (Many("c", 10, 0, [.. Repeat(10, 100, 30), .. Repeat(140, 100, 0)]), Many("k", 20, 0, Repeat(150, 100, 0)));

    [Fact]
    public void A_bake_longer_than_the_node_windows_is_judged_as_one_sequence()
    {
        var (cohort, control) = EarlyBurst();

        var (evidence, judgement) = Bake(cohort, control, 150, every: 2);

        Assert.Equal(VerdictResult.Unhealthy, judgement.Verdict.Result);
        Assert.InRange(judgement.Verdict.Findings.OfType<Finding.ErrorRate>().Where(f => f.Outcome == CheckOutcome.Fail).Min(f => f.DecidedAt!.Value), At(1), At(10));
        // The last window alone holds nothing of the burst:
        Assert.Equal(VerdictResult.Healthy, HealthPolicy.Judge(evidence with { History = null }, Gates).Result);
    }

    [Fact]
    public void The_carried_history_stays_bounded_however_long_the_bake()
    {
        var (cohort, control) = (Many("c", 3, 0, Repeat(600, 10, 0)), Many("k", 3, 0, Repeat(600, 10, 0)));

        var (_, judgement) = Bake(cohort, control, 600, every: 8);

        Assert.InRange(judgement.Carry!.Count, PooledHistory.MaxBuckets / 2, PooledHistory.MaxBuckets);
        Assert.Equal(3 * 600 * 10.0, judgement.Carry.CohortRequests.Sum());
    }

    [Fact]
    public void Judging_recorded_evidence_again_with_the_same_gates_gives_the_same_verdict_even_after_storage()
    {
        var (cohort, control) = EarlyBurst();
        var (evidence, judgement) = Bake(cohort, control, 150, every: 4);
        var serializer = new ServiceCollection().AddSerializer().BuildServiceProvider().GetRequiredService<Serializer>();

        var stored = serializer.Deserialize<WaveEvidence>(serializer.SerializeToArray(evidence))!;
        var again = HealthPolicy.Rejudge(stored, Gates);

        Assert.Equal(judgement.Verdict.Result, again.Result);
        Assert.Equal(judgement.Verdict.Reasons, again.Reasons);
        Assert.Equal(evidence.History, stored.History);
    }

    [Fact]
    public void Stricter_gates_halt_earlier_on_the_same_evidence()
    {
        // A cohort at 0.6% against its control's 0.4%: within ratio 2 for the whole bake, over ratio 1.2 from early on.
        var cohort = Many("c", 10, 0, Repeat(40, 1000, 6));
        var control = Many("k", 20, 0, Repeat(40, 1000, 4));
        var (evidence, judgement) = Bake(cohort, control, 40, every: 4);

        var stricter = HealthPolicy.Rejudge(evidence, Gates with { MaxErrorRateRatio = 1.2 });

        Assert.Equal(VerdictResult.Healthy, judgement.Verdict.Result);
        Assert.Equal(VerdictResult.Unhealthy, stricter.Result);
        var halt = stricter.Findings.OfType<Finding.ErrorRate>().Single(f => f.Outcome == CheckOutcome.Fail).DecidedAt!.Value;
        Assert.InRange(halt, At(1), At(40));
        var strictest = HealthPolicy.Rejudge(evidence, Gates with { MaxErrorRateRatio = 1.05 });
        Assert.True(strictest.Findings.OfType<Finding.ErrorRate>().Single(f => f.Outcome == CheckOutcome.Fail).DecidedAt!.Value < halt);
    }
}
