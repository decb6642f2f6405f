using Snapstone.Domain;
using Snapstone.Domain.Health;
using Snapstone.Domain.Plans;
using Snapstone.Domain.Rollouts;
using Snapstone.Domain.Units;

namespace Snapstone;

/// <summary>A rollout as readers see it: what it was asked to do and how far it got.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.RolloutView")]
public sealed record RolloutView([property: Id(0)] RolloutSpec Spec, [property: Id(1)] RolloutStatus Status)
{
    public RolloutSummary Summary() => new(Spec.Id, Spec.Unit, Spec.Version, Status.State, Spec.CreatedAt, Spec.CreatedBy, Status.FinishedAt, Spec.PlanName);
}

/// <summary>One line of a unit's rollout history.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.RolloutSummary")]
public sealed record RolloutSummary(
    [property: Id(0)] string Id,
    [property: Id(1)] string Unit,
    [property: Id(2)] long Version,
    [property: Id(3)] RolloutState State,
    [property: Id(4)] DateTimeOffset CreatedAt,
    [property: Id(5)] string CreatedBy,
    [property: Id(6)] DateTimeOffset? FinishedAt,
    [property: Id(7)] string Plan);

/// <summary>A request to roll a package out.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.RolloutRequest")]
public sealed record RolloutRequest
{
    [Id(0)] public required string Unit { get; init; }
    [Id(1)] public required long Version { get; init; }
    [Id(2)] public string? Plan { get; init; }
    [Id(3)] public string Reason { get; init; } = "";
    /// <summary>
    /// A retry with the same key (from the same actor) and the same request answers the rollout the first request
    /// started; the same key with a different unit, version, plan or reason is refused (422).
    /// </summary>
    [Id(4)] public string? IdempotencyKey { get; init; }

    public const int MaxIdempotencyKeyLength = 200;

    /// <summary>What is wrong with the request's shape (names, numbers, lengths), each naming the field and the limit; empty when nothing is.</summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (Domain.Names.Check("unit", Unit) is { } unit) problems.Add(unit);
        if (Plan is not null && Domain.Names.Check("plan", Plan) is { } plan) problems.Add(plan);
        if (Version < 1) problems.Add($"version must be 1 or more (got {Version})");
        if (Reason is null) problems.Add("reason must be a string");
        else if (TextLimits.TooLong("reason", Reason, RolloutCommands.MaxReasonBytes) is { } tooLong) problems.Add(tooLong);
        if (IdempotencyKey is { Length: 0 or > MaxIdempotencyKeyLength }) problems.Add($"Idempotency-Key must be 1 to {MaxIdempotencyKeyLength} characters");
        return problems;
    }

    /// <summary>Whether <paramref name="spec"/> is what this request asks for: the test a replayed idempotency key must pass.</summary>
    public bool AskedFor(RolloutSpec spec) =>
        spec.Unit == Unit && spec.Version == Version && spec.RequestedPlan == Plan && spec.Reason == Reason;
}

/// <summary>The rollout a start request answers, and whether this request created it (false: a replay of an earlier one).</summary>
[GenerateSerializer, Immutable, Alias("snapstone.RolloutStart")]
public sealed record RolloutStart([property: Id(0)] RolloutView Rollout, [property: Id(1)] bool Created);

