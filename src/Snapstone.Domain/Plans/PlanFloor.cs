namespace Snapstone.Domain.Plans;

/// <summary>
/// The least a high-risk change may roll out with. A plan is at least as strict as the floor when it has at
/// least as many waves, bakes at least as long in total (its final bake at least as long too), asks a person before
/// its first wave and before the wave that reaches the whole fleet, enforces every wave's verdict by rolling back
/// (no <c>report-only</c> wave, no <c>onFailure: pause</c>), and none of its gates is looser than the floor's
/// strictest wave, thresholds and metric queries included.
/// </summary>
/// <example>
/// <c>standard</c> (5 waves, 16 min of bakes, no approvals) against <c>high-risk</c> (7 waves, 110 min, two
/// approvals): not as strict → the rollout uses <c>high-risk</c> and says so in its notes.
/// </example>
public static class PlanFloor
{
    public static bool IsAtLeastAsStrict(Plan plan, Plan floor)
    {
        if (plan.Waves.Count < floor.Waves.Count || TotalBake(plan) < TotalBake(floor) || plan.FinalBakeSeconds < floor.FinalBakeSeconds)
        {
            return false;
        }
        if (plan.Waves.Any(w => w.Mode != GateMode.Enforce || w.OnFailure != FailureAction.Rollback))
        {
            return false;
        }
        if (!plan.Waves[0].RequiresApproval || FirstFullWave(plan) is not { RequiresApproval: true })
        {
            return false;
        }
        var strictest = floor.Waves.Select(w => w.Gates).ToList();
        return plan.Waves.All(w => strictest.All(f => AtLeastAsStrict(w.Gates, f)));
    }

    /// <summary>
    /// The plan a rollout must use: <paramref name="plan"/> when the change is not high-risk or the plan is strict
    /// enough, else the floor, with a note that says why.
    /// </summary>
    public static (Plan Plan, string Name, string? Note) Apply(Plan plan, string name, bool highRisk, IReadOnlyList<string> why)
    {
        if (!highRisk || name == BuiltInPlans.HighRiskName || IsAtLeastAsStrict(plan, BuiltInPlans.HighRisk))
        {
            return (plan, name, null);
        }
        var because = why.Count > 0 ? $" ({string.Join("; ", why.Take(3))})" : "";
        return (BuiltInPlans.HighRisk, BuiltInPlans.HighRiskName,
            $"plan raised from '{name}' to '{BuiltInPlans.HighRiskName}': the change is high-risk{because} and '{name}' is less strict");
    }

    private static int TotalBake(Plan plan) => plan.Waves.Sum(w => w.BakeSeconds);

    private static WaveSpec? FirstFullWave(Plan plan) => plan.Waves.FirstOrDefault(w => w.Select.Percent == 100);

    private static bool AtLeastAsStrict(Gates gates, Gates floor) =>
        gates.MaxErrorRate <= floor.MaxErrorRate &&
        gates.MaxErrorRateRatio <= floor.MaxErrorRateRatio &&
        gates.MaxP99LatencyRatio <= floor.MaxP99LatencyRatio &&
        gates.MaxCrashes <= floor.MaxCrashes &&
        gates.MaxRejected <= floor.MaxRejected &&
        gates.MinReportingFraction >= floor.MinReportingFraction &&
        (floor.MaxP99LatencyMs is not { } ceiling || gates.MaxP99LatencyMs <= ceiling) &&
        gates.Thresholds.AtLeastAsStrictAs(floor.Thresholds) &&
        floor.Metrics.Where(m => m.Mode == GateMode.Enforce).All(m => gates.Metrics.Any(g => g.Mode == GateMode.Enforce && g == m));
}
