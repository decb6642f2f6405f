namespace Snapstone.Domain.Health;

public enum VerdictResult
{
    Healthy,
    Unhealthy,
    /// <summary>Not enough evidence either way. Never promotes a wave: the rollout waits, then pauses.</summary>
    Inconclusive,
}

/// <summary>
/// The judgement on a wave's cohort with its evidence: each reason carries the numbers, e.g.
/// <c>cohort error rate 3.10% (310/10000) &gt; ceiling 1.00%</c>.
/// </summary>
[GenerateSerializer, Immutable, Alias("snapstone.Verdict")]
public sealed record Verdict(
    [property: Id(0)] VerdictResult Result,
    [property: Id(1)] IReadOnlyList<string> Reasons,
    [property: Id(2)] int HealthyNodes = 0,
    [property: Id(3)] int UnhealthyNodes = 0);

/// <summary>One node's own state for the wave's counts.</summary>
public enum NodeHealth
{
    /// <summary>No evidence: the node has not reported on the package, served nothing, or too little to tell.</summary>
    Unknown,
    Healthy,
    Unhealthy,
}

/// <summary>Why a node grain tells a rollout at once instead of waiting for the next verdict.</summary>
public enum SignalKind { Crash, Rejected, Breach }

/// <summary>A hard signal a node grain pushes to every rollout that touched it.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.NodeSignal")]
public sealed record NodeSignal(
    [property: Id(0)] string NodeId,
    [property: Id(1)] SignalKind Kind,
    [property: Id(2)] string Reason);
