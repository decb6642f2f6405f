using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Snapstone.Simulator.Demo;

// The CI side of docs/API.md ("Units", "Plans", "Packages", "Rollouts", re-judging, and GET /v1/fleet), only as far as the
// demo and the replays need it.
// Unit and plan definitions are sent as JSON objects so the demo can say exactly what it defines.

/// <summary>Body of <c>POST /v1/units/{unit}/packages</c>.</summary>
public sealed record NewPackage(string Content, string Message, string Source);

/// <summary>A stored package: its version, hash, whether validation let it through, and its risk.</summary>
public sealed record PackageView(string Unit, long Version, string Sha256, long SizeBytes, PackageValidation? Validation, PackageRisk? Risk = null);

/// <summary>The server's risk assessment of a package: <c>standard</c> or <c>high</c>, its score and the reasons.</summary>
public sealed record PackageRisk(string Level, int Score, IReadOnlyList<string>? Reasons);

public sealed record PackageValidation(bool Passed, IReadOnlyList<ValidationFinding>? Findings);

public sealed record ValidationFinding(string? Rule, string? Severity, string? Message);

/// <summary>Body of <c>POST /v1/rollouts</c>.</summary>
public sealed record NewRollout(string Unit, long Version, string Reason, string? Plan = null);

/// <summary>Body of the rollout actions (<c>POST /v1/rollouts/{id}/approve</c> and the like).</summary>
public sealed record ReasonBody(string? Reason);

/// <summary>What <c>GET /v1/rollouts/{id}</c> says about a rollout; <see cref="Plan"/> is the plan it uses, which the server may have raised.</summary>
public sealed record RolloutView(
    string Id,
    string Unit,
    long Version,
    long? PreviousVersion,
    string State,
    int? CurrentWave,
    IReadOnlyList<WaveView>? Waves,
    RollbackView? Rollback,
    IReadOnlyList<TimelineEntry>? Timeline,
    string? Plan = null,
    IReadOnlyList<string>? Notes = null,
    string? PausedReason = null)
{
    /// <summary>States in which the rollout will not move again without someone acting on it.</summary>
    public bool Settled => State is "completed" or "rolled-back" or "aborted" or "paused" or "awaiting-approval";
}

public sealed record WaveView(
    string Name,
    string State,
    int Targeted,
    int Applied,
    int Rejected,
    int Healthy,
    int Unhealthy,
    VerdictView? Verdict);

public sealed record VerdictView(string Result, IReadOnlyList<string>? Reasons);

public sealed record RollbackView(string? Reason, int Targeted, int Confirmed, DateTimeOffset? StartedAt, DateTimeOffset? CompletedAt);

public sealed record TimelineEntry(DateTimeOffset At, string Type, string? Message);

/// <summary>
/// What <c>POST /v1/rollouts/{id}/judge</c> answers: per wave, the verdict the given gates give the recorded evidence
/// (null where the replay did not get there), what the rollout would have done with it, and the verdict it recorded.
/// </summary>
public sealed record JudgementView(string Rollout, IReadOnlyList<WaveJudgementView> Waves);

public sealed record WaveJudgementView(int Wave, string Name, VerdictView? Verdict, string? Action, DateTimeOffset? HaltAt, VerdictView? Recorded);

/// <summary>What <c>GET /v1/fleet</c> says: how many nodes have registered, per region and per tier.</summary>
public sealed record FleetView(int Nodes, IReadOnlyDictionary<string, int>? ByRegion, IReadOnlyDictionary<string, int>? ByTier);

/// <summary>An RFC 9457 problem, as far as the demo reads it.</summary>
public sealed record Problem(string? Title, string? Detail, int? Status);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(JsonObject))]
[JsonSerializable(typeof(NewPackage))]
[JsonSerializable(typeof(PackageView))]
[JsonSerializable(typeof(NewRollout))]
[JsonSerializable(typeof(RolloutView))]
[JsonSerializable(typeof(ReasonBody))]
[JsonSerializable(typeof(FleetView))]
[JsonSerializable(typeof(JudgementView))]
[JsonSerializable(typeof(Problem))]
public sealed partial class ControlPlaneJson : JsonSerializerContext;
