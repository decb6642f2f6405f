using Snapstone.Domain.Plans;

namespace Snapstone.Client;

public sealed partial class SnapstoneClient
{
    // ---- a rollout's records outside its state row: the whole timeline, the evidence of its verdicts, re-judging ----

    public const int DefaultTimelinePage = 100;

    /// <summary>
    /// The rollout's timeline entries numbered after <paramref name="after"/> (none: from the first), at most
    /// <paramref name="limit"/> (1 to <see cref="IRolloutRecordsGrain.MaxTimelinePage"/>), oldest first.
    /// </summary>
    public async Task<TimelinePage> ReadTimelineAsync(string id, int? after, int? limit)
    {
        var problems = new List<string>();
        if (after is < 0)
        {
            problems.Add($"after must be 0 or more: the number of an entry already read (got {after})");
        }
        if (limit is < 1 or > IRolloutRecordsGrain.MaxTimelinePage)
        {
            problems.Add($"limit must be between 1 and {IRolloutRecordsGrain.MaxTimelinePage} (got {limit})");
        }
        if (problems.Count > 0)
        {
            throw SnapstoneException.Invalid(problems);
        }
        return await Records(id).ReadTimeline(after ?? -1, limit ?? DefaultTimelinePage) ?? throw RolloutNotFound(id);
    }

    /// <summary>The looks recorded for one wave of the rollout (index from 0), or for every wave, oldest first.</summary>
    public async Task<IReadOnlyList<RecordedLook>> RolloutEvidenceAsync(string id, int? wave)
    {
        if (wave is < 0 or >= PlanRules.MaxWaves)
        {
            throw SnapstoneException.Invalid($"wave must be between 0 and {PlanRules.MaxWaves - 1}: a wave's index in the rollout's plan (got {wave})");
        }
        return await Records(id).Evidence(wave) ?? throw RolloutNotFound(id);
    }

    /// <summary>
    /// The rollout's recorded evidence judged again, wave by wave, under <paramref name="plan"/> or, with
    /// <paramref name="gates"/>, under its own plan with every wave's gates replaced. Exactly one of the two; each is
    /// checked as a plan definition is (every refusal names the field), but metric queries are not run: the readings
    /// recorded with the evidence are judged by gate name.
    /// </summary>
    public async Task<RolloutJudgement> JudgeRolloutAsync(string id, Plan? plan, Gates? gates)
    {
        if ((plan is null) == (gates is null))
        {
            throw SnapstoneException.Invalid("give exactly one of plan (a whole plan) or gates (for every wave of the rollout's own plan)");
        }
        var problems = plan is not null
            ? PlanRules.Check(plan).Select(p => "plan." + p).ToList()
            : [.. PlanRules.CheckGates(gates)];
        if (problems.Count > 0)
        {
            throw SnapstoneException.Invalid(problems);
        }
        return await Records(id).Judge(plan, gates) ?? throw RolloutNotFound(id);
    }

    private IRolloutRecordsGrain Records(string id)
    {
        if (!RolloutIdPattern(id))
        {
            throw SnapstoneException.Invalid($"rollout id '{(id.Length > 40 ? id[..40] : id)}' is not a rollout id (r- and 16 hex digits)");
        }
        return grains.GetGrain<IRolloutRecordsGrain>(id);
    }
}
