using Snapstone.Domain.Plans;

namespace Snapstone.Domain.Health;

/// <summary>One wave of a replayed rollout: what its recorded evidence would have given under the replay's plan.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.Rejudgement")]
public sealed record Rejudgement(
    [property: Id(0)] int Wave,
    [property: Id(1)] string Name,
    /// <summary>The verdict, or null when the replay stopped before this wave (or it has no recorded evidence).</summary>
    [property: Id(2)] Verdict? Verdict,
    /// <summary>What the rollout would have done with it; null when not reached.</summary>
    [property: Id(3)] VerdictAction? Action,
    /// <summary>For a halt, when the first failing check would have failed (the end of its slot), when known.</summary>
    [property: Id(4)] DateTimeOffset? HaltAt = null);

/// <summary>
/// A recorded rollout judged again under another plan (or other gates): wave by wave, each wave's last recorded
/// evidence judged with that wave's gates and acted on by its mode, until a wave would have rolled back, paused or
/// waited — the waves after it would not have been reached.
/// </summary>
/// <example>
/// Recorded: canary Healthy, one-percent Healthy, all Healthy (completed). Replayed with <c>maxErrorRateRatio: 1.2</c>:
/// canary Healthy, one-percent Unhealthy → Rollback at 10:03:12 (when its ratio check would have failed), all not
/// reached: the stricter gates would have halted the rollout in its second wave.
/// </example>
public static class Replay
{
    public static IReadOnlyList<Rejudgement> Rejudge(Plan plan, IReadOnlyList<WaveEvidence?> evidence)
    {
        var results = new List<Rejudgement>(plan.Waves.Count);
        var going = true;
        for (var k = 0; k < plan.Waves.Count; k++)
        {
            var wave = plan.Waves[k];
            var recorded = k < evidence.Count ? evidence[k] : null;
            if (!going || recorded is null)
            {
                going = false;
                results.Add(new Rejudgement(k, wave.Name, null, null));
                continue;
            }
            var verdict = HealthPolicy.Rejudge(recorded with { Wave = k }, wave.Gates);
            var action = Enforcement.Act(wave, verdict.Result, bakeOver: true);
            results.Add(new Rejudgement(k, wave.Name, verdict, action, action is VerdictAction.Rollback or VerdictAction.Pause ? HaltAt(verdict) : null));
            going = action == VerdictAction.Advance;
        }
        return results;
    }

    /// <summary>The earliest moment a failing check of <paramref name="verdict"/> passed its threshold.</summary>
    public static DateTimeOffset? HaltAt(Verdict verdict) => verdict.Findings
        .Select(f => f switch
        {
            Finding.ErrorRate { Outcome: CheckOutcome.Fail } e => e.DecidedAt,
            Finding.Latency { Outcome: CheckOutcome.Fail } l => l.DecidedAt,
            Finding.LatencyCeiling { Outcome: CheckOutcome.Fail } c => c.DecidedAt,
            Finding.Ambient { Outcome: CheckOutcome.Fail } a => a.DecidedAt,
            _ => null,
        })
        .Where(at => at is not null)
        .Min();
}
