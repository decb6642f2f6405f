namespace Snapstone.Cli;

/// <summary>
/// What <c>snapstone</c> exits with, so a CI job can tell a rollback from a typo. Every code is listed in the
/// README; they never change meaning.
/// </summary>
public static class ExitCodes
{
    /// <summary>Done. With <c>--wait</c> or <c>rollout watch</c>: the rollout completed.</summary>
    public const int Ok = 0;

    /// <summary>Snapstone could not be reached, failed (5xx) or answered something that is not Snapstone's.</summary>
    public const int Error = 1;

    /// <summary>The command line is wrong: an unknown flag, a missing argument, an unreadable file, no token.</summary>
    public const int Usage = 2;

    /// <summary>Snapstone refused the request (4xx: not found, forbidden, conflict, bad input); its problem detail is printed.</summary>
    public const int Refused = 3;

    /// <summary>A check failed: a package failed validation (<c>package push</c>, <c>package validate</c>) or the audit chain is broken.</summary>
    public const int CheckFailed = 4;

    /// <summary><c>--wait</c>/<c>watch</c>: the rollout was rolled back (a regression, an alarm, a crash).</summary>
    public const int RolledBack = 10;

    /// <summary><c>--wait</c>/<c>watch</c>: the rollout paused (inconclusive health, a freeze, a stuck apply, a person) and needs someone.</summary>
    public const int Paused = 11;

    /// <summary><c>--wait</c>/<c>watch</c>: a person aborted the rollout (its nodes were sent back).</summary>
    public const int Aborted = 12;

    /// <summary><c>--wait</c>/<c>watch</c>: <c>--timeout</c> passed with the rollout still in flight; it goes on without the CLI.</summary>
    public const int TimedOut = 13;

    /// <summary>Interrupted (Ctrl+C, SIGTERM) while waiting.</summary>
    public const int Interrupted = 130;

    /// <summary>The exit code for a rollout in <paramref name="state"/>, or null while it is still moving.</summary>
    public static int? OfRolloutState(string? state) => state switch
    {
        "completed" => Ok,
        "rolled-back" => RolledBack,
        "aborted" => Aborted,
        "paused" => Paused,
        _ => null,
    };
}
