namespace Snapstone.Simulator.Consumers;

/// <summary>What a consumer does with a package it cannot use, as a unit's <c>failureMode</c> in docs/API.md.</summary>
public enum FailureMode
{
    /// <summary>Refuse it, report <c>rejected</c>, keep serving with the old package.</summary>
    FailStale,

    /// <summary>Take it and carry on without the data it could not use; traffic is unaffected.</summary>
    FailOpen,

    /// <summary>Take it and crash.</summary>
    FailClosed,
}

public static class FailureModes
{
    public static string Name(this FailureMode mode) => mode switch
    {
        FailureMode.FailStale => "fail-stale",
        FailureMode.FailOpen => "fail-open",
        FailureMode.FailClosed => "fail-closed",
        _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, null),
    };

    public static FailureMode Parse(string text) => text switch
    {
        "fail-stale" => FailureMode.FailStale,
        "fail-open" => FailureMode.FailOpen,
        "fail-closed" => FailureMode.FailClosed,
        _ => throw new FormatException($"failure mode '{text}' must be fail-stale, fail-open or fail-closed"),
    };
}
