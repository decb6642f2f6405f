using Snapstone.Domain.BreakGlass;

namespace Snapstone.Domain.Rollouts;

/// <summary>
/// Why a rollout is paused, as a value: who or what paused it and with which numbers. Text is rendered from it
/// at the edge (<see cref="Describe"/>); nothing compares its text. A <see cref="Frozen"/> pause is a condition
/// <see cref="RolloutPolicy.Decide"/> re-derives every tick from the freezes it is given, so it ends when the freeze
/// does; every other pause ends only when a person resumes the rollout.
/// </summary>
[GenerateSerializer, Immutable, Alias("snapstone.PauseReason")]
public abstract record PauseReason
{
    /// <summary>The pause as users read it, e.g. <c>paused by alice: investigating a ticket</c>.</summary>
    public abstract string Describe();

    /// <summary>Whoever paused it: a person's token name, or <see cref="RolloutStatus.Self"/>.</summary>
    public abstract string By { get; }

    /// <summary>A person paused it; only a person resumes it, and no freeze ending does.</summary>
    [GenerateSerializer, Immutable, Alias("snapstone.PauseReason.Manual")]
    public sealed record Manual([property: Id(0)] string Actor, [property: Id(1)] string Reason) : PauseReason
    {
        public override string By => Actor;
        public override string Describe() => Reason;
    }

    /// <summary>A freeze applies to the unit; lifted (or expired) freezes end the pause by themselves.</summary>
    [GenerateSerializer, Immutable, Alias("snapstone.PauseReason.Frozen")]
    public sealed record Frozen([property: Id(0)] Freeze Freeze) : PauseReason
    {
        public override string By => Freeze.By;
        public override string Describe() => Freeze.Describe();
    }

    /// <summary>The current wave stayed inconclusive past its grace.</summary>
    [GenerateSerializer, Immutable, Alias("snapstone.PauseReason.Inconclusive")]
    public sealed record Inconclusive(
        [property: Id(0)] string Wave,
        [property: Id(1)] TimeSpan For,
        [property: Id(2)] TimeSpan Grace,
        [property: Id(3)] string Verdict) : PauseReason
    {
        public override string By => RolloutStatus.Self;
        public override string Describe() =>
            $"wave '{Wave}' inconclusive for {RolloutStatus.Duration(For)} (grace {RolloutStatus.Duration(Grace)}): {Verdict}";
    }

    /// <summary>
    /// The current wave failed and its plan says <c>onFailure: pause</c>: no node is sent back, and a person decides.
    /// Resuming does not set the evidence aside: a wave that still fails pauses again; abort rolls it back.
    /// </summary>
    [GenerateSerializer, Immutable, Alias("snapstone.PauseReason.Failed")]
    public sealed record Failed([property: Id(0)] string Wave, [property: Id(1)] string Reason) : PauseReason
    {
        public override string By => RolloutStatus.Self;
        public override string Describe() => $"wave '{Wave}' failed and its plan pauses on failure: {Reason}";
    }

    /// <summary>The current wave was still applying at its deadline.</summary>
    [GenerateSerializer, Immutable, Alias("snapstone.PauseReason.ApplyDeadline")]
    public sealed record ApplyDeadline(
        [property: Id(0)] string Wave,
        [property: Id(1)] int Targeted,
        [property: Id(2)] int Applied,
        [property: Id(3)] int Rejected,
        [property: Id(4)] int Required,
        [property: Id(5)] TimeSpan After,
        [property: Id(6)] IReadOnlyList<string> Unconverged) : PauseReason
    {
        public override string By => RolloutStatus.Self;

        public int Missing => Targeted - Applied;

        public override string Describe() =>
            $"wave '{Wave}' stuck applying: {Missing} of {Targeted} node(s) have not converged after {RolloutStatus.Duration(After)} " +
            $"(applied {Applied}, rejected {Rejected}, need {Required})" + RolloutPolicy.Naming(Unconverged, Missing);
    }

    /// <summary>The persisted status and the plan disagree; the rollout refuses to guess.</summary>
    [GenerateSerializer, Immutable, Alias("snapstone.PauseReason.Inconsistent")]
    public sealed record Inconsistent([property: Id(0)] int StatusWaves, [property: Id(1)] int CurrentWave, [property: Id(2)] int PlanWaves) : PauseReason
    {
        public override string By => RolloutStatus.Self;
        public override string Describe() =>
            $"status has {StatusWaves} wave(s) and current wave {CurrentWave}, the plan has {PlanWaves}: refusing to guess";
    }
}

/// <summary>
/// What a rollout depends on besides its own status, given to <see cref="RolloutPolicy.Decide"/> every tick so the
/// pause they impose is derived, never remembered: the freezes that apply to the unit now. <see cref="Known"/> false
/// means the grain could not learn them; the rollout then takes no forward step (a rollback is never held back).
/// </summary>
[GenerateSerializer, Immutable, Alias("snapstone.RolloutConditions")]
public sealed record RolloutConditions
{
    [Id(0)] public IReadOnlyList<Freeze> Freezes { get; init; } = [];
    [Id(1)] public bool Known { get; init; } = true;

    public static readonly RolloutConditions None = new();

    public static readonly RolloutConditions Unknown = new() { Known = false };

    public static RolloutConditions Of(IEnumerable<Freeze> freezes) => new() { Freezes = [.. freezes] };

    /// <summary>The freeze that stops <paramref name="unit"/> at <paramref name="now"/>, if any (a unit's own wins over the global one).</summary>
    public Freeze? FreezeOf(string unit, DateTimeOffset now) => BreakGlassRules.Applicable(Freezes, unit, now);
}
