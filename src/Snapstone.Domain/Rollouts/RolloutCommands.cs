using Snapstone.Domain.BreakGlass;

namespace Snapstone.Domain.Rollouts;

/// <summary>Why a command was refused; the gateway maps <see cref="Kind"/> to an HTTP status.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.Refusal")]
public sealed record Refusal([property: Id(0)] ProblemKind Kind, [property: Id(1)] string Message);

/// <summary>A command's outcome: the new status to persist, or the unchanged status and why not.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.CommandResult")]
public sealed record CommandResult([property: Id(0)] RolloutStatus Status, [property: Id(1)] Refusal? Refusal = null)
{
    public bool Accepted => Refusal is null;
}

/// <summary>
/// What people (and freezes) may do to a rollout, each guarded against the current state. Accepted commands
/// return a status with exactly one new timeline entry; the grain persists it, then ticks so Decide acts on it.
/// </summary>
public static class RolloutCommands
{
    /// <summary>A reason's limit, in bytes of UTF-8 (<see cref="TextLimits"/>).</summary>
    public const int MaxReasonBytes = 2000;

    /// <summary>
    /// Stops a pending, awaiting or running rollout until <see cref="Resume"/>. A reason is required. A rollout
    /// paused by a freeze may be paused by a person too: it then stays paused when the freeze ends.
    /// </summary>
    public static CommandResult Pause(RolloutStatus status, string actor, string? reason, DateTimeOffset now)
    {
        if ((CheckActor(status, actor) ?? CheckReason(status, reason, required: true)) is { } invalid)
        {
            return invalid;
        }
        return status.State switch
        {
            RolloutState.Pending or RolloutState.AwaitingApproval or RolloutState.Running =>
                new CommandResult(status.Paused(new PauseReason.Manual(actor, reason!.Trim()), now)),
            RolloutState.Paused when status.Pause is not PauseReason.Manual =>
                new CommandResult(status.Paused(new PauseReason.Manual(actor, reason!.Trim()), now)),
            RolloutState.Paused => Conflict(status, "the rollout is already paused"),
            RolloutState.RollingBack => Conflict(status, "the rollout is rolling back; a rollback cannot be paused"),
            _ => Conflict(status, $"the rollout is {Describe(status.State)}; there is nothing to pause"),
        };
    }

    /// <summary>
    /// Moves a paused rollout again; the apply deadline and the inconclusive grace start afresh. Refused while
    /// <paramref name="freeze"/> (the freeze that applies to the unit now, if any) holds it: lift the freeze first.
    /// </summary>
    public static CommandResult Resume(RolloutStatus status, string actor, string? reason, DateTimeOffset now, Freeze? freeze = null)
    {
        if ((CheckActor(status, actor) ?? CheckReason(status, reason, required: false)) is { } invalid)
        {
            return invalid;
        }
        if (status.State != RolloutState.Paused)
        {
            return Conflict(status, $"only a paused rollout can be resumed; this one is {Describe(status.State)}");
        }
        return freeze is not null
            ? Conflict(status, $"{freeze.Describe()}; lift it before resuming")
            : new CommandResult(status.Resumed(actor, reason?.Trim(), now));
    }

    /// <summary>
    /// Stops the rollout for good: sends every touched node back (rolling-back, then aborted), or ends it at once
    /// when no node was touched. A reason is required.
    /// </summary>
    public static CommandResult Abort(RolloutStatus status, string actor, string? reason, DateTimeOffset now)
    {
        if ((CheckActor(status, actor) ?? CheckReason(status, reason, required: true)) is { } invalid)
        {
            return invalid;
        }
        if (status.State == RolloutState.RollingBack)
        {
            return Conflict(status, "the rollout is already rolling back");
        }
        if (status.IsTerminal)
        {
            return Conflict(status, $"the rollout is {Describe(status.State)}; there is nothing to abort");
        }
        var why = reason!.Trim();
        return new CommandResult(status.TouchedThrough < 0
            ? status.AbortedUntouched(actor, why, now)
            : status.RollbackStarted($"aborted by {actor}: {why}", actor, aborted: true, verdict: null, now));
    }

    /// <summary>
    /// Approves the wave awaiting approval. Neither the rollout's creator nor the package's author may approve it
    /// (<see cref="ProblemKind.Forbidden"/>): a second person means someone who neither wrote nor shipped the change.
    /// </summary>
    public static CommandResult Approve(RolloutSpec spec, RolloutStatus status, string actor, string? reason, DateTimeOffset now)
    {
        if ((CheckActor(status, actor) ?? CheckReason(status, reason, required: false)) is { } invalid)
        {
            return invalid;
        }
        if (status.State != RolloutState.AwaitingApproval)
        {
            return Conflict(status, $"the rollout is {Describe(status.State)}, not awaiting approval");
        }
        if (string.Equals(actor, spec.CreatedBy, StringComparison.OrdinalIgnoreCase))
        {
            return new CommandResult(status, new Refusal(ProblemKind.Forbidden,
                $"{actor} created this rollout and may not approve it; someone else must"));
        }
        if (string.Equals(actor, spec.PackageAuthor, StringComparison.OrdinalIgnoreCase))
        {
            return new CommandResult(status, new Refusal(ProblemKind.Forbidden,
                $"{actor} wrote package v{spec.Version} and may not approve its rollout; someone else must"));
        }
        return new CommandResult(status.Approved(actor, reason?.Trim(), now));
    }

    /// <summary>
    /// Break-glass took the unit over (<paramref name="target"/> names where it sent every consumer): the rollout stops
    /// at once, aborted, sending nothing back itself. An ended rollout stays as it was.
    /// </summary>
    public static CommandResult StopForBreakGlass(RolloutStatus status, string action, string by, string reason, string target, DateTimeOffset now) =>
        new(status.StoppedByBreakGlass(action, by, reason, target, now));

    private static CommandResult? CheckActor(RolloutStatus status, string actor) =>
        string.IsNullOrWhiteSpace(actor) ? Invalid(status, "actor is required") : null;

    private static CommandResult? CheckReason(RolloutStatus status, string? reason, bool required)
    {
        if (required && string.IsNullOrWhiteSpace(reason))
        {
            return Invalid(status, "reason is required");
        }
        if (TextLimits.TooLong("reason", reason, MaxReasonBytes) is { } tooLong)
        {
            return Invalid(status, tooLong);
        }
        return null;
    }

    private static CommandResult Invalid(RolloutStatus status, string message) => new(status, new Refusal(ProblemKind.Invalid, message));

    private static CommandResult Conflict(RolloutStatus status, string message) => new(status, new Refusal(ProblemKind.Conflict, message));

    /// <summary>The API's spelling of a state: <c>awaiting-approval</c>, <c>rolled-back</c>.</summary>
    public static string Describe(RolloutState state) => state switch
    {
        RolloutState.AwaitingApproval => "awaiting-approval",
        RolloutState.RollingBack => "rolling-back",
        RolloutState.RolledBack => "rolled-back",
        _ => state.ToString().ToLowerInvariant(),
    };
}
