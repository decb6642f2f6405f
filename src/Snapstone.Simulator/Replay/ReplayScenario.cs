using System.Text.Json.Nodes;
using Snapstone.Simulator.Consumers;
using Snapstone.Simulator.Shape;
using Snapstone.Simulator.Traffic;

namespace Snapstone.Simulator.Replay;

/// <summary>One package a replay publishes and rolls out, and whether Snapstone must stop it.</summary>
public sealed record ReplayChange(string Content, string Message, bool Bad);

/// <summary>
/// A change of a second unit, every node's, published and rolled out on the replay plan while the first change of the
/// replay bakes wave <see cref="DuringWave"/>: the two rollouts overlap on the nodes both have touched.
/// </summary>
/// <example>
/// The replay's bot-features change bakes its second wave (1) when the global-flags change enters its canary wave: the
/// canaries run the new feature file already, and now take the new flags too.
/// </example>
public sealed record ReplayOverlap(string Unit, IConsumer Consumer, JsonObject Definition, string Baseline, ReplayChange Change, int DuringWave);

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

    /// <summary>
    /// An upstream disturbance the fleet suffers, on every node alike, from the moment each change's first wave starts
    /// baking; null: none.
    /// </summary>
    public Disturbance? Disturbance { get; init; }

    /// <summary>A second unit's change that overlaps the first change's rollout; null: none.</summary>
    public ReplayOverlap? Overlap { get; init; }

    /// <summary>The changes the replay rolls out, the overlapping one included: one outcome each.</summary>
    public int ChangeCount => Changes.Count + (Overlap is null ? 0 : 1);

    /// <summary>The fleet's consumers, for <see cref="FleetOptions.Consumers"/>.</summary>
    public IReadOnlyDictionary<string, IConsumer> Consumers => Overlap is { } overlap
        ? new Dictionary<string, IConsumer> { [Unit] = Consumer, [overlap.Unit] = overlap.Consumer }
        : new Dictionary<string, IConsumer> { [Unit] = Consumer };

    public bool Consumes(NodeProfile node) =>
        Targets.All(t => node.Labels.TryGetValue(t.Key, out var value) && value == t.Value);

    public override string ToString() => $"({Id}) {Name}";
}
