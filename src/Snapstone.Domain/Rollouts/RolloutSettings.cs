using Snapstone.Domain.Health;
using Snapstone.Domain.Plans;

namespace Snapstone.Domain.Rollouts;

/// <summary>How patient a rollout is. Host configuration, the same for every rollout.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.RolloutSettings")]
public sealed record RolloutSettings
{
    /// <summary>A wave still applying this long after it started (or after a resume) pauses, naming the nodes that have not converged.</summary>
    [Id(0)] public TimeSpan ApplyDeadline { get; init; } = TimeSpan.FromMinutes(10);
    /// <summary>How long an Inconclusive verdict may last before the rollout pauses; null means twice the wave's bake, at least a minute.</summary>
    [Id(1)] public TimeSpan? InconclusiveGrace { get; init; }
    /// <summary>How soon to look again while waiting on nodes (applying, inconclusive, rolling back).</summary>
    [Id(2)] public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How soon to count a rollback's confirmations again: the last step before a rollback is done, so it is watched closely.</summary>
    [Id(3)] public TimeSpan RollbackPollInterval { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// A rollback still waiting on confirmations this long after every touched node was told finishes anyway, naming
    /// the nodes that did not confirm: a dead or wedged node must not hold the unit's rollouts for ever. Those nodes
    /// stay told to run the previous package, and drift tracks them.
    /// </summary>
    [Id(4)] public TimeSpan RollbackDeadline { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// How often a baking wave is looked at before its bake ends: each look is judged (an Unhealthy one rolls back at once)
    /// and hands its pooled figures to the next, so a bake longer than the nodes' 60 s windows is judged as one sequence.
    /// <see cref="TimeSpan.Zero"/>: only at the end of the bake.
    /// </summary>
    [Id(5)] public TimeSpan LookInterval { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Watching a rollback costs one call per touched node; this much per node keeps a large one from flooding the silo.</summary>
    public static readonly TimeSpan RollbackPollPerNode = TimeSpan.FromTicks(500); // 50 µs

    public static readonly RolloutSettings Default = new();

    /// <summary>
    /// How often the grain should tick a rollout in this state. Worked example: a rollback of 100 nodes is
    /// counted every 200 ms; of 10,000 nodes every 500 ms (10,000 × 50 µs); anything else every <see cref="PollInterval"/>.
    /// </summary>
    public TimeSpan TickInterval(RolloutStatus status) =>
        status is { State: RolloutState.RollingBack, Rollback: { AssignedAt: not null } rollback }
            ? Max(Min(RollbackPollInterval, PollInterval), RollbackPollPerNode * Math.Max(0, rollback.Targeted))
            : PollInterval;

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;
    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    /// <summary>
    /// The grace for one wave. Worked example: bake 300 s and no configured grace → 600 s; bake 10 s → 60 s.
    /// </summary>
    public TimeSpan GraceFor(WaveSpec wave) =>
        InconclusiveGrace ?? TimeSpan.FromSeconds(Math.Max(60, 2.0 * wave.BakeSeconds));
}

/// <summary>
/// What the rollout grain saw when <see cref="RolloutDecision.Observe"/> asked: the current wave's counts and
/// its verdict, or (with <see cref="Wave"/> = <see cref="Rollback"/>) the rollback's confirmations.
/// </summary>
[GenerateSerializer, Immutable, Alias("snapstone.WaveObservation")]
public sealed record WaveObservation
{
    /// <summary>The <see cref="Wave"/> of an observation of the rollback.</summary>
    public const int Rollback = -1;

    /// <summary>The wave observed (its index), or <see cref="Rollback"/>.</summary>
    [Id(0)] public required int Wave { get; init; }
    /// <summary>Nodes in the wave's cohort (FirstWave &lt;= wave), or nodes sent back by the rollback.</summary>
    [Id(1)] public required int Targeted { get; init; }
    /// <summary>Of those, nodes reporting the package they should run (for the rollback: confirmed back on the previous package).</summary>
    [Id(2)] public int Applied { get; init; }
    /// <summary>Nodes that refused the package.</summary>
    [Id(3)] public int Rejected { get; init; }
    /// <summary><see cref="HealthPolicy.Judge"/> on the cohort; needed once the bake has ended, optional before.</summary>
    [Id(4)] public Verdict? Verdict { get; init; }
    /// <summary>Some of the targeted nodes that do not run the package yet (at most <see cref="MaxNamed"/>), so a stuck wave can name them.</summary>
    [Id(5)] public IReadOnlyList<string> Unconverged { get; init; } = new List<string>();
    /// <summary>
    /// The rollout's breach signals weighed at this look against the control at the same moments
    /// (<see cref="HealthPolicy.WeighBreaches"/>): only a confirmed one rolls back on its own.
    /// </summary>
    [Id(6)] public IReadOnlyList<WeighedBreach> Breaches { get; init; } = [];

    /// <summary>How many unconverged nodes an observation (and each PoP's part of it) names.</summary>
    public const int MaxNamed = 5;
}
