namespace Snapstone.Simulator;

public enum NodeChangeKind
{
    /// <summary>The node started running the package (it may crash on it: see <see cref="Crashed"/>).</summary>
    Applied,

    /// <summary>The node refused the package and kept its old one.</summary>
    Rejected,

    /// <summary>The node reported a crash while running the package.</summary>
    Crashed,
}

/// <summary>
/// Something a node did with one unit's package. <see cref="PreviousVersion"/> is what it ran before an
/// apply (null for its first package of the unit); for a rejection it is what it kept running.
/// </summary>
public sealed record NodeChange(
    DateTimeOffset At,
    string Node,
    string Unit,
    NodeChangeKind Kind,
    long Version,
    string Sha256,
    long? PreviousVersion,
    string? Error = null);
