using System.Text.Json.Nodes;
using Snapstone.Simulator.Consumers;
using Snapstone.Simulator.Shape;

namespace Snapstone.Simulator.Replay;

/// <summary>One package a replay publishes and rolls out, and whether Snapstone must stop it.</summary>
public sealed record ReplayChange(string Content, string Message, bool Bad);

/// <summary>
/// An incident replayed against a fleet: the unit and how the nodes consume it, the fleet's shape, the plan, the
/// baseline every node runs first, and the packages published after it, in order. The replay promises that every
/// bad package is rolled back from the first wave with no node outside it ever running it, and every good one
/// completes without a halt. <see cref="Replays"/> holds the five; <see cref="ReplayRunner"/> plays one against a
/// real server.
/// </summary>
public sealed record ReplayScenario
{
    /// <summary>The plan every replay defines and names in its rollouts (the server may raise a high-risk change above it).</summary>
    public const string PlanName = "replay-waves";

    /// <summary>The letter of issue #6's list, e.g. <c>a</c>.</summary>
    public required string Id { get; init; }

    /// <summary>A short name, e.g. <c>feature-file-doubling</c>.</summary>
    public required string Name { get; init; }

    /// <summary>The incident it replays, in a sentence.</summary>
    public required string Models { get; init; }

    public required string Unit { get; init; }
    public required IConsumer Consumer { get; init; }

    /// <summary>The body of <c>PUT /v1/units/{unit}</c>, naming <see cref="PlanName"/> and carrying <see cref="Targets"/>.</summary>
    public required JsonObject Definition { get; init; }

    /// <summary>Labels a node must carry to consume the unit; empty: every node does.</summary>
    public IReadOnlyDictionary<string, string> Targets { get; init; } = new Dictionary<string, string>();

    /// <summary>The body of <c>PUT /v1/plans/replay-waves</c>.</summary>
    public required JsonObject Plan { get; init; }

    public required FleetShape Shape { get; init; }

    /// <summary>The unit's first package: its last known good, which every consumer runs before the first change.</summary>
    public required string Baseline { get; init; }

    public required IReadOnlyList<ReplayChange> Changes { get; init; }

    /// <summary>The fleet's consumers, for <see cref="FleetOptions.Consumers"/>.</summary>
    public IReadOnlyDictionary<string, IConsumer> Consumers => new Dictionary<string, IConsumer> { [Unit] = Consumer };

    public bool Consumes(NodeProfile node) =>
        Targets.All(t => node.Labels.TryGetValue(t.Key, out var value) && value == t.Value);

    public override string ToString() => $"({Id}) {Name}";
}
