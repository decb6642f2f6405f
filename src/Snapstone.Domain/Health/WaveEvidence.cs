namespace Snapstone.Domain.Health;

/// <summary>
/// Everything one verdict on a wave was made from, compact and serializable, so it can be stored beside the verdict
/// (outside the rollout's state row) and judged again with other gates: the cohort's and control's samples over the
/// judging window with their slot-by-slot series, the metric queries' readings, and the pooled figures of earlier
/// slots of the bake that the node windows no longer hold (<see cref="History"/>).
/// </summary>
/// <remarks>
/// Bounded by construction: a sample's series holds at most <see cref="HealthWindow.Slots"/> slots (three numbers
/// each), <see cref="History"/> at most <see cref="PooledHistory.MaxBuckets"/> buckets of six, a reading one value per
/// node. A 100-node canary with 2,000 control nodes is about 2,100 × 64 × 3 numbers: under 1 MB serialized, and the
/// same samples the rollout gathers on every tick anyway.
/// <para>
/// How the rollout uses it, each look:
/// <code>
/// var evidence = new WaveEvidence { Unit = spec.Unit, Wave = k, Targeted = n, Cohort = c, Control = k, Metrics = m,
///     At = now, History = previous?.Carry };           // previous: the last look's judgement of this wave
/// var judgement = HealthPolicy.Look(evidence, gates); // judgement.Verdict decides; keep judgement.Carry for the next look
/// </code>
/// and it stores <c>evidence</c> with every verdict it acts on or records, for <see cref="HealthPolicy.Rejudge"/>.
/// </para>
/// </remarks>
[GenerateSerializer, Immutable, Alias("snapstone.RecordedWaveEvidence")]
public sealed record WaveEvidence
{
    /// <summary>The unit the rollout changes: the judge leaves out nodes whose regression is another unit's change.</summary>
    [Id(0)] public required string Unit { get; init; }
    /// <summary>The wave's index in its plan.</summary>
    [Id(1)] public int Wave { get; init; }
    /// <summary>How many nodes should run the package.</summary>
    [Id(2)] public int Targeted { get; init; }
    [Id(3)] public IReadOnlyList<NodeSample> Cohort { get; init; } = [];
    [Id(4)] public IReadOnlyList<NodeSample> Control { get; init; } = [];
    /// <summary>The wave's metric gates' readings, by gate name.</summary>
    [Id(5)] public IReadOnlyList<MetricReading> Metrics { get; init; } = [];
    /// <summary>Pooled cohort and control figures of the bake's slots before the samples' window; null for the first look.</summary>
    [Id(6)] public PooledHistory? History { get; init; }
    /// <summary>When the samples were gathered.</summary>
    [Id(7)] public DateTimeOffset? At { get; init; }
    /// <summary>
    /// When the wave started: a wave without a control is judged on its cohort's slots from then on (the earlier waves'
    /// nodes' older slots were judged by those waves, against a control at the same time). Null: every slot.
    /// </summary>
    [Id(8)] public DateTimeOffset? WaveStarted { get; init; }
}

/// <summary>
/// The whole cohort's and the control's traffic slot by slot, pooled as the judge counted it (nodes set aside left out,
/// weights capped): what a look hands to the next so that a bake longer than the node windows is judged as one
/// sequence. Buckets are keyed by their first slot and in time order; past <see cref="MaxBuckets"/> the oldest are
/// merged in pairs, so a day-long bake still fits.
/// </summary>
[GenerateSerializer, Immutable, Alias("snapstone.PooledHistory")]
public sealed record PooledHistory
{
    /// <summary>The most buckets kept: the horizon the sequential tests guard (<see cref="Sequential.Horizon"/>).</summary>
    public const int MaxBuckets = Sequential.Horizon;

    [Id(0)] public required long SlotTicks { get; init; }
    /// <summary>Each bucket's first slot, ascending.</summary>
    [Id(1)] public long[] Slots { get; init; } = [];
    [Id(2)] public double[] CohortRequests { get; init; } = [];
    [Id(3)] public double[] CohortErrors { get; init; } = [];
    /// <summary>Σ p99 × requests of the cohort in each bucket.</summary>
    [Id(4)] public double[] CohortLatency { get; init; } = [];
    [Id(5)] public double[] ControlRequests { get; init; } = [];
    [Id(6)] public double[] ControlErrors { get; init; } = [];
    [Id(7)] public double[] ControlLatency { get; init; } = [];

    public int Count => Slots.Length;

    public bool Equals(PooledHistory? other) =>
        other is not null && SlotTicks == other.SlotTicks && Slots.AsSpan().SequenceEqual(other.Slots) &&
        CohortRequests.AsSpan().SequenceEqual(other.CohortRequests) && CohortErrors.AsSpan().SequenceEqual(other.CohortErrors) &&
        CohortLatency.AsSpan().SequenceEqual(other.CohortLatency) && ControlRequests.AsSpan().SequenceEqual(other.ControlRequests) &&
        ControlErrors.AsSpan().SequenceEqual(other.ControlErrors) && ControlLatency.AsSpan().SequenceEqual(other.ControlLatency);

    public override int GetHashCode() => HashCode.Combine(SlotTicks, Count);

    internal Traffic TrafficOf(Side side)
    {
        var buckets = new SortedDictionary<long, Bucket>();
        for (var i = 0; i < Count; i++)
        {
            buckets[Slots[i]] = side == Health.Side.Cohort
                ? new Bucket(CohortRequests[i], CohortErrors[i], CohortLatency[i])
                : new Bucket(ControlRequests[i], ControlErrors[i], ControlLatency[i]);
        }
        return Traffic.From(buckets, SlotTicks);
    }

    /// <summary>The timed slots of <paramref name="cohort"/> and <paramref name="control"/>, the oldest merged in pairs past <see cref="MaxBuckets"/>.</summary>
    internal static PooledHistory? Of(Traffic cohort, Traffic control)
    {
        if ((cohort.SlotTicks ?? control.SlotTicks) is not { } ticks)
        {
            return null;
        }
        var slots = cohort.Buckets.Keys.Concat(control.Buckets.Keys).Where(k => k != Traffic.Untimed).Distinct().Order().ToList();
        var rows = slots.Select(s => (Slot: s, Ours: cohort.Buckets.GetValueOrDefault(s), Theirs: control.Buckets.GetValueOrDefault(s))).ToList();
        var excess = rows.Count - MaxBuckets;
        if (excess > 0)
        {
            var merged = new List<(long Slot, Bucket Ours, Bucket Theirs)>(MaxBuckets);
            for (var i = 0; i < rows.Count; i++)
            {
                if (i < 2 * excess && i % 2 == 0 && i + 1 < rows.Count)
                {
                    merged.Add((rows[i].Slot, rows[i].Ours.Add(rows[i + 1].Ours), rows[i].Theirs.Add(rows[i + 1].Theirs)));
                    i++;
                    continue;
                }
                merged.Add(rows[i]);
            }
            rows = merged;
        }
        return new PooledHistory
        {
            SlotTicks = ticks,
            Slots = [.. rows.Select(r => r.Slot)],
            CohortRequests = [.. rows.Select(r => r.Ours.Requests)],
            CohortErrors = [.. rows.Select(r => r.Ours.Errors)],
            CohortLatency = [.. rows.Select(r => r.Ours.Latency)],
            ControlRequests = [.. rows.Select(r => r.Theirs.Requests)],
            ControlErrors = [.. rows.Select(r => r.Theirs.Errors)],
            ControlLatency = [.. rows.Select(r => r.Theirs.Latency)],
        };
    }
}

/// <summary>What one look at a wave gives: the verdict, and the pooled figures to hand to the next look.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.Judgement")]
public sealed record Judgement([property: Id(0)] Verdict Verdict, [property: Id(1)] PooledHistory? Carry);
