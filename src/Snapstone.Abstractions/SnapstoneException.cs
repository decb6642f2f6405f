using Snapstone.Domain;

namespace Snapstone;

/// <summary>
/// A refusal a user caused: bad input, a missing thing, a conflict with current state. It crosses grain
/// calls intact and the gateway turns <see cref="Kind"/> into an HTTP status with <see cref="Exception.Message"/> as the detail.
/// </summary>
[GenerateSerializer, Alias("snapstone.SnapstoneException")]
public sealed class SnapstoneException : Exception
{
    public SnapstoneException(ProblemKind kind, string message, IReadOnlyList<string>? errors = null) : base(message)
    {
        Kind = kind;
        Errors = errors ?? [];
    }

    [Id(0)] public ProblemKind Kind { get; private set; }

    /// <summary>Every problem found, when there was more than one.</summary>
    [Id(1)] public IReadOnlyList<string> Errors { get; private set; }

    public static SnapstoneException Invalid(IReadOnlyList<string> errors) =>
        new(ProblemKind.Invalid, string.Join("; ", errors), errors);

    public static SnapstoneException Invalid(string message) => new(ProblemKind.Invalid, message);

    public static SnapstoneException NotFound(string message) => new(ProblemKind.NotFound, message);

    public static SnapstoneException Conflict(string message) => new(ProblemKind.Conflict, message);

    /// <summary>Throws <see cref="ProblemKind.Invalid"/> when <paramref name="value"/> is not a valid name.</summary>
    public static void ThrowIfBadName(string field, string? value)
    {
        if (Names.Check(field, value) is { } error)
        {
            throw Invalid(error);
        }
    }
}
