using Snapstone.Domain.Health;

namespace Snapstone.Domain.Plans;

/// <summary>What a wave's verdict makes the rollout do.</summary>
public enum VerdictAction
{
    /// <summary>The bake is over and the wave may pass: the next wave opens (or the final bake, or completion).</summary>
    Advance,
    /// <summary>Not yet: the bake goes on, or an inconclusive verdict waits (and pauses past its grace).</summary>
    Wait,
    /// <summary>Every touched node goes back to the previous package and the version is quarantined.</summary>
    Rollback,
    /// <summary>The rollout pauses with the verdict for a person to decide.</summary>
    Pause,
}

/// <summary>
/// A wave's verdict turned into what the rollout does, by the wave's <see cref="WaveSpec.Mode"/> and
/// <see cref="WaveSpec.OnFailure"/>: the one place those two are read, for the rollout policy and for replays alike.
/// </summary>
/// <example>
/// Unhealthy on an enforced wave → Rollback (or Pause with <c>onFailure: pause</c>), at once, bake over or not. Unhealthy
/// on a <c>report-only</c> wave → Wait until its bake ends, then Advance: the verdict is recorded, never acted on.
/// Inconclusive → Wait on an enforced wave; Advance at the end of a report-only one. Healthy → Advance once the bake is over.
/// </example>
public static class Enforcement
{
    public static VerdictAction Act(WaveSpec wave, VerdictResult result, bool bakeOver)
    {
        if (wave.Mode == GateMode.ReportOnly)
        {
            return bakeOver ? VerdictAction.Advance : VerdictAction.Wait;
        }
        return result switch
        {
            VerdictResult.Unhealthy => wave.OnFailure == FailureAction.Pause ? VerdictAction.Pause : VerdictAction.Rollback,
            VerdictResult.Healthy when bakeOver => VerdictAction.Advance,
            _ => VerdictAction.Wait,
        };
    }
}
