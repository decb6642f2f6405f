using System.Text.Json.Nodes;
using Snapstone.Simulator.Consumers;

namespace Snapstone.Simulator.Demo;

/// <summary>
/// One unit, how the fleet consumes it, and a good then a bad package of it. The bad packages are the
/// two shapes Snapstone exists for, plus a slow one: each must die in the canary wave. The baseline
/// comes first: a unit's first valid package is its last known good, which every node gets without a rollout.
/// </summary>
public sealed record DemoScenario(
    string Name,
    string Unit,
    IConsumer Consumer,
    JsonObject Definition,
    string GoodContent,
    string GoodMessage,
    string BadContent,
    string BadMessage,
    string BaselineContent)
{
    public static IReadOnlyList<string> Names => ["features", "killswitch", "latency"];

    public static DemoScenario Named(string name, string plan) => name switch
    {
        "features" => new DemoScenario(
            name,
            "bot-features",
            new FeatureFileConsumer(FailureMode.FailClosed),
            // No maxItems validator on purpose: with one, the bad file would be refused before wave 0 and
            // the demo would show validation, not health-mediated rollback.
            UnitDefinition("bot-management", "ML feature file for the bot score", "file", "fail-closed", plan),
            FeatureFile(120),
            "Regenerate the bot features (120)",
            FeatureFile(240),
            "Regenerate the bot features after a permissions change (240: duplicated rows)",
            FeatureFile(120, phase: 1)),
        "killswitch" => new DemoScenario(
            name,
            "global-flags",
            new KillswitchConsumer(new LabelMatch("proxy", "fl1")),
            UnitDefinition("edge-platform", "Global control flags", "flag", "fail-open", plan),
            """{"killswitch": false}""",
            "Keep the rules killswitch off",
            """{"killswitch": true}""",
            "Switch off the rules engine for the incident (killswitch on)",
            """{"killswitch":false}"""),
        "latency" => new DemoScenario(
            name,
            "edge-latency",
            new LatencyConsumer(),
            UnitDefinition("edge-platform", "Request inspection settings", "file", "fail-stale", plan),
            """{"extraLatencyMs": 0}""",
            "Baseline inspection settings",
            """{"extraLatencyMs": 80}""",
            "Inspect every request body (adds 80 ms)",
            """{"extraLatencyMs":0}"""),
        _ => throw new ArgumentException($"scenario '{name}' must be one of {string.Join(", ", Names)}"),
    };

    /// <summary>
    /// A plan of three waves: the canary tier, 10% of the fleet, everyone; each baking <paramref name="bakeSeconds"/>
    /// and, when given, judged by <paramref name="gates"/> (a copy each) instead of the server's default gates.
    /// </summary>
    public static JsonObject Plan(int bakeSeconds, JsonObject? gates = null)
    {
        JsonObject Wave(string name, JsonObject select)
        {
            var wave = new JsonObject { ["name"] = name, ["select"] = select, ["bakeSeconds"] = bakeSeconds };
            if (gates is not null)
            {
                wave["gates"] = gates.DeepClone();
            }
            return wave;
        }
        return new JsonObject
        {
            ["waves"] = new JsonArray(
                Wave("canary", new JsonObject { ["tier"] = "canary" }),
                Wave("ten-percent", new JsonObject { ["percent"] = 10 }),
                Wave("all", new JsonObject { ["percent"] = 100 })),
        };
    }

    /// <summary>A unit of the standard risk tier, JSON of at most 1 MiB, consumed by every node.</summary>
    public static JsonObject UnitDefinition(string owner, string description, string kind, string failureMode, string plan) => new()
    {
        ["owner"] = owner,
        ["description"] = description,
        ["kind"] = kind,
        ["riskTier"] = "standard",
        ["failureMode"] = failureMode,
        ["plan"] = plan,
        ["validators"] = new JsonObject { ["maxBytes"] = 1_048_576, ["format"] = "json" },
    };

    /// <summary>A feature file of <paramref name="count"/> rows over the same 120 names, so bigger files add no new keys.</summary>
    public static string FeatureFile(int count, int phase = 0) =>
        new JsonObject
        {
            ["generatedBy"] = "bot-score-pipeline",
            ["features"] = new JsonArray(Enumerable.Range(0, count).Select(i => (JsonNode)new JsonObject
            {
                ["name"] = $"feature_{i % 120:000}",
                ["weight"] = Math.Round(Math.Sin(i + phase) * 0.5 + 0.5, 3),
            }).ToArray()),
        }.ToJsonString();
}
