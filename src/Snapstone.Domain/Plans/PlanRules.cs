namespace Snapstone.Domain.Plans;

/// <summary>Bounds on a plan definition; each message names the field and the limit.</summary>
public static class PlanRules
{
    public const int MaxWaves = 20;
    public const int MaxBakeSeconds = 7 * 24 * 3600;
    public const int MaxPops = 1000;
    /// <summary>Metric gates per wave: each is a query on every judging tick.</summary>
    public const int MaxMetricGates = 8;
    /// <summary>Longest query text: a node assignment carries its wave's gates, queries included.</summary>
    public const int MaxQueryLength = 2000;
    public const int MaxMetricNodes = 100_000;
    /// <summary>Largest request count a threshold may name.</summary>
    public const long MaxRequestThreshold = 1_000_000_000_000;

    public static IReadOnlyList<string> Check(Plan plan)
    {
        var errors = new List<string>();
        if (plan.Waves is null || plan.Waves.Count == 0)
        {
            errors.Add("waves must hold at least one wave");
            return errors;
        }
        if (plan.Waves.Count > MaxWaves)
        {
            errors.Add($"waves may hold at most {MaxWaves} waves (got {plan.Waves.Count})");
            return errors;
        }
        if (plan.FinalBakeSeconds < 0 || plan.FinalBakeSeconds > MaxBakeSeconds)
            errors.Add($"finalBakeSeconds must be between 0 and {MaxBakeSeconds} (got {plan.FinalBakeSeconds})");
        if (plan.AvoidOverlappingBakes)
            errors.Add("avoidOverlappingBakes is not supported: a wave opens whatever other units bake on its nodes, and overlapping changes are told apart by attribution (docs/rollouts.md); leave it out or set it false");
        var names = new HashSet<string>(StringComparer.Ordinal);
        double lastPercent = 0;
        for (var i = 0; i < plan.Waves.Count; i++)
        {
            var wave = plan.Waves[i];
            var at = $"waves[{i}]";
            if (wave is null)
            {
                errors.Add($"{at} must be an object");
                continue;
            }
            if (Names.Check($"{at}.name", wave.Name) is { } nameError)
                errors.Add(nameError);
            else if (!names.Add(wave.Name))
                errors.Add($"{at}.name '{wave.Name}' is used by an earlier wave");
            if (wave.BakeSeconds < 0 || wave.BakeSeconds > MaxBakeSeconds)
                errors.Add($"{at}.bakeSeconds must be between 0 and {MaxBakeSeconds} (got {wave.BakeSeconds})");
            if (!Enum.IsDefined(wave.Mode))
                errors.Add($"{at}.mode must be enforce or report-only (got {(int)wave.Mode})");
            if (!Enum.IsDefined(wave.OnFailure))
                errors.Add($"{at}.onFailure must be rollback or pause (got {(int)wave.OnFailure})");
            CheckSelect($"{at}.select", wave.Select, ref lastPercent, errors);
            CheckGates($"{at}.gates", wave.Gates, errors);
        }
        if (plan.Waves[^1]?.Select?.Percent != 100)
            errors.Add($"waves[{plan.Waves.Count - 1}] (the last wave) must select percent 100 so a completed rollout reaches every consumer");
        return errors;
    }

    private static void CheckSelect(string at, WaveSelect? select, ref double lastPercent, List<string> errors)
    {
        if (select is null)
        {
            errors.Add($"{at} is required (one of tier, pops, region, percent)");
            return;
        }
        var set = (select.Tier is not null ? 1 : 0) + (select.Pops is not null ? 1 : 0) + (select.Region is not null ? 1 : 0) + (select.Percent is not null ? 1 : 0);
        if (set != 1)
        {
            errors.Add($"{at} must set exactly one of tier, pops, region, percent (got {set})");
            return;
        }
        if (select.Tier is not null && Names.Check($"{at}.tier", select.Tier) is { } tierError)
            errors.Add(tierError);
        if (select.Region is not null && Names.Check($"{at}.region", select.Region) is { } regionError)
            errors.Add(regionError);
        if (select.Pops is { } pops)
        {
            if (pops.Count == 0 || pops.Count > MaxPops)
                errors.Add($"{at}.pops must list 1 to {MaxPops} PoPs (got {pops.Count})");
            foreach (var pop in pops.Take(MaxPops))
            {
                if (Names.Check($"{at}.pops entry", pop) is { } popError)
                    errors.Add(popError);
            }
        }
        if (select.Percent is { } percent)
        {
            if (double.IsNaN(percent) || percent <= 0 || percent > 100)
                errors.Add($"{at}.percent must be greater than 0 and at most 100 (got {percent})");
            else if (percent < lastPercent)
                errors.Add($"{at}.percent must not be below an earlier wave's ({percent} < {lastPercent}); percentages are cumulative");
            else
                lastPercent = percent;
        }
    }

    /// <summary>Gates on their own (a re-judge's), checked as a plan's are, each message naming the field under <paramref name="at"/>.</summary>
    public static IReadOnlyList<string> CheckGates(Gates? gates, string at = "gates")
    {
        var errors = new List<string>();
        CheckGates(at, gates, errors);
        return errors;
    }

    private static void CheckGates(string at, Gates? gates, List<string> errors)
    {
        if (gates is null)
        {
            errors.Add($"{at} must be an object");
            return;
        }
        Range(errors, $"{at}.maxErrorRate", gates.MaxErrorRate, 0, 1);
        Range(errors, $"{at}.maxErrorRateRatio", gates.MaxErrorRateRatio, 1, 1000);
        Range(errors, $"{at}.maxP99LatencyRatio", gates.MaxP99LatencyRatio, 1, 1000);
        Range(errors, $"{at}.minReportingFraction", gates.MinReportingFraction, 0, 1);
        if (gates.MaxP99LatencyMs is { } latencyCeiling)
            Positive(errors, $"{at}.maxP99LatencyMs", latencyCeiling, 600_000);
        if (gates.MaxCrashes < 0)
            errors.Add($"{at}.maxCrashes must be 0 or more (got {gates.MaxCrashes})");
        if (gates.MaxRejected < 0)
            errors.Add($"{at}.maxRejected must be 0 or more (got {gates.MaxRejected})");
        CheckThresholds($"{at}.thresholds", gates.Thresholds, errors);
        CheckMetrics($"{at}.metrics", gates.Metrics, errors);
    }

    private static void CheckThresholds(string at, GateThresholds? t, List<string> errors)
    {
        if (t is null)
        {
            errors.Add($"{at} must be an object");
            return;
        }
        Range(errors, $"{at}.minCohortRequests", t.MinCohortRequests, 1, MaxRequestThreshold);
        Range(errors, $"{at}.minControlRequests", t.MinControlRequests, 1, MaxRequestThreshold);
        Range(errors, $"{at}.minSegmentRequests", t.MinSegmentRequests, 1, MaxRequestThreshold);
        Range(errors, $"{at}.errorRateFloor", t.ErrorRateFloor, 0, 1);
        Positive(errors, $"{at}.significance", t.Significance, 0.5);
        Range(errors, $"{at}.latencyFloorMs", t.LatencyFloorMs, 0, 60_000);
        Positive(errors, $"{at}.latencyNoise", t.LatencyNoise, 10);
        Range(errors, $"{at}.minOutlierPeers", t.MinOutlierPeers, 1, MaxMetricNodes);
        Range(errors, $"{at}.maxSegmentValues", t.MaxSegmentValues, 0, 1000);
        Range(errors, $"{at}.minBreachRequests", t.MinBreachRequests, 1, MaxRequestThreshold);
        Range(errors, $"{at}.breachFactor", t.BreachFactor, 1, 1000);
        Positive(errors, $"{at}.breachSignificance", t.BreachSignificance, 0.5);
        Range(errors, $"{at}.maxNodeWeight", t.MaxNodeWeight, 1, 1_000_000);
    }

    private static void CheckMetrics(string at, IReadOnlyList<MetricGate>? metrics, List<string> errors)
    {
        if (metrics is null)
        {
            errors.Add($"{at} must be a list");
            return;
        }
        if (metrics.Count > MaxMetricGates)
        {
            errors.Add($"{at} may hold at most {MaxMetricGates} queries (got {metrics.Count})");
            return;
        }
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < metrics.Count; i++)
        {
            var metric = metrics[i];
            var field = $"{at}[{i}]";
            if (metric is null)
            {
                errors.Add($"{field} must be an object");
                continue;
            }
            if (Names.Check($"{field}.name", metric.Name) is { } nameError)
                errors.Add(nameError);
            else if (!names.Add(metric.Name))
                errors.Add($"{field}.name '{metric.Name}' is used by an earlier query of this wave");
            if (string.IsNullOrWhiteSpace(metric.Query))
                errors.Add($"{field}.query is required (PromQL returning one value per node)");
            else if (metric.Query.Length > MaxQueryLength)
                errors.Add($"{field}.query may be at most {MaxQueryLength} characters (got {metric.Query.Length})");
            if (!Enum.IsDefined(metric.Direction))
                errors.Add($"{field}.direction must be higher-is-worse or lower-is-worse (got {(int)metric.Direction})");
            if (metric.Max is null && metric.MaxRatio is null)
                errors.Add($"{field} must set max, maxRatio or both: a query with neither judges nothing");
            if (metric.Max is { } max && !double.IsFinite(max))
                errors.Add($"{field}.max must be a finite number (got {max})");
            if (metric.MaxRatio is { } ratio)
                Range(errors, $"{field}.maxRatio", ratio, 1, 1000);
            Range(errors, $"{field}.minNodes", metric.MinNodes, 1, MaxMetricNodes);
            if (!Enum.IsDefined(metric.Mode))
                errors.Add($"{field}.mode must be enforce or report-only (got {(int)metric.Mode})");
        }
    }

    private static void Positive(List<string> errors, string field, double value, double max)
    {
        if (double.IsNaN(value) || value <= 0 || value > max)
            errors.Add($"{field} must be greater than 0 and at most {max} (got {value})");
    }

    private static void Range(List<string> errors, string field, double value, double min, double max)
    {
        if (double.IsNaN(value) || value < min || value > max)
            errors.Add($"{field} must be between {min} and {max} (got {value})");
    }
}
