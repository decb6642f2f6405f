namespace Snapstone.Domain.Health;

public enum VerdictResult
{
    Healthy,
    Unhealthy,
    /// <summary>Not enough evidence either way. Never promotes a wave: the rollout waits, then pauses.</summary>
    Inconclusive,
}

/// <summary>
/// The judgement on a wave's cohort with its evidence: <see cref="Findings"/> carry a code and the numbers, and
/// <see cref="Reasons"/> renders them, e.g. <c>cohort error rate 3.10% (310/10000) &gt; ceiling 1.00%</c>.
/// </summary>
[GenerateSerializer, Immutable, Alias("snapstone.Verdict")]
public sealed record Verdict
{
    /// <summary>A verdict whose reasons are findings, most decisive first.</summary>
    [System.Text.Json.Serialization.JsonConstructor]
    public Verdict(VerdictResult result, IReadOnlyList<Finding> findings, int healthyNodes = 0, int unhealthyNodes = 0)
    {
        Result = result;
        Findings = findings;
        HealthyNodes = healthyNodes;
        UnhealthyNodes = unhealthyNodes;
    }

    /// <summary>A verdict whose reasons are free text (a decision made outside the judge, such as "passed").</summary>
    public Verdict(VerdictResult result, IReadOnlyList<string> notes, int healthyNodes = 0, int unhealthyNodes = 0)
    {
        Result = result;
        Notes = notes;
        HealthyNodes = healthyNodes;
        UnhealthyNodes = unhealthyNodes;
    }

    [Id(0)] public VerdictResult Result { get; init; }

    /// <summary>
    /// Free-text reasons, after the findings. Verdicts stored before findings existed kept their reasons here
    /// (the field's id is the one their reasons had), so they read back unchanged.
    /// </summary>
    [Id(1)] public IReadOnlyList<string> Notes { get; init; } = [];

    [Id(2)] public int HealthyNodes { get; init; }
    [Id(3)] public int UnhealthyNodes { get; init; }
    [Id(4)] public IReadOnlyList<Finding> Findings { get; init; } = [];

    /// <summary>The findings as text, then the notes: what people read.</summary>
    public IReadOnlyList<string> Reasons => [.. Findings.Select(FindingText.Render), .. Notes];
}

/// <summary>One node's own state for the wave's counts.</summary>
public enum NodeHealth
{
    /// <summary>No evidence: the node has not reported on the package, served nothing, or too little to tell.</summary>
    Unknown,
    Healthy,
    Unhealthy,
}

/// <summary>
/// What a node's signal comes to once weighed (<see cref="HealthPolicy.Weigh"/>): <see cref="Acts"/> when it may roll
/// the rollout back on its own, with the finding that says why or why not.
/// </summary>
[GenerateSerializer, Immutable, Alias("snapstone.BreachCheck")]
public sealed record BreachCheck([property: Id(0)] BreachStanding Standing, [property: Id(1)] Finding Finding)
{
    public bool Acts => Standing == BreachStanding.Confirmed;
}

/// <summary>One node's breach signal as a look weighed it.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.WeighedBreach")]
public sealed record WeighedBreach([property: Id(0)] string Node, [property: Id(1)] BreachCheck Check);

/// <summary>Why a node grain tells a rollout at once instead of waiting for the next verdict.</summary>
public enum SignalKind { Crash, Rejected, Breach }

/// <summary>A hard signal a node grain pushes to every rollout that touched it.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.NodeSignal")]
public sealed record NodeSignal(
    [property: Id(0)] string NodeId,
    [property: Id(1)] SignalKind Kind,
    [property: Id(2)] string Reason)
{
    /// <summary>The finding <see cref="Reason"/> was rendered from; null for a signal made from text alone.</summary>
    [Id(3)] public Finding? Finding { get; init; }

    /// <summary>A signal whose reason is <paramref name="finding"/>, rendered.</summary>
    public static NodeSignal Of(string nodeId, SignalKind kind, Finding finding) =>
        new(nodeId, kind, FindingText.Render(finding)) { Finding = finding };
}
