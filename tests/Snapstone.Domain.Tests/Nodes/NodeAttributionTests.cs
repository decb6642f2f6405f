using Snapstone.Domain.Drift;
using Snapstone.Domain.Health;
using Snapstone.Domain.Nodes;
using Snapstone.Domain.Plans;
using Snapstone.Domain.Tests.Health;
using Snapstone.Domain.Units;

namespace Snapstone.Domain.Tests.Nodes;

/// <summary>
/// A node that runs two changes at once, one rollout each (<c>rf</c> rolls <c>flags</c> v2 out, <c>rb</c> rolls
/// <c>bot</c> v2 out, both over v1): which rollout hears of its crashes and breaches, and whose evidence they are.
/// </summary>
/// <remarks>
/// Steps, separated by <c>;</c>: <c>apply flags</c> / <c>apply bot</c> / <c>apply both</c> (the node reports running v2 of
/// those units, 200 clean requests), <c>crash</c> (a report with one crash and every request failing, naming no unit),
/// <c>crash bot</c> (the same, with <c>applied.bot.crashes = 1</c>), <c>errors</c> (half the requests fail), <c>wait S</c>,
/// <c>leave bot</c> (the node reports running v1 of bot again, 200 clean requests); <c>fast</c> (reports 100 ms apart from
/// then on, not 1 s), <c>align</c> (the next report 10 ms into a slot of the health window), <c>burst</c> (one report
/// of 1,000 requests, half failing), <c>clean</c> (five reports of 1,000 requests, none failing).
/// </remarks>
public class NodeAttributionTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 10, 0, 0, TimeSpan.Zero);
    private static readonly DesiredPackage V1 = new(1, new string('1', 64));
    private static readonly DesiredPackage V2 = new(2, new string('2', 64));
    private static readonly string[] Units = ["flags", "bot"];
    private static readonly Dictionary<string, string> Rollouts = new() { ["flags"] = "rf", ["bot"] = "rb" };

    private sealed class Run
    {
        private readonly HashSet<string> _on = [];

        public Node Node { get; } = new("ams01-n001", new NodeState(), DriftSettings.Default, T0);
        public DateTimeOffset Now { get; private set; } = T0;
        public List<string> Events { get; } = [];

        public Run(string script)
        {
            Node.Enrol(new NodeIdentity("ams01", "eu-west", "canary", new Dictionary<string, string>()), T0);
            Report(new NodeMetrics { Requests = 200, P99LatencyMs = 20 });
            foreach (var unit in Units)
            {
                Node.Take(unit, new Assignment(V2, Rollouts[unit], Now, new Gates(), V1), Now);
            }
            foreach (var step in script.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                switch (step.Split(' '))
                {
                    case ["apply", "both"]: _on.UnionWith(Units); Report(new NodeMetrics { Requests = 200, P99LatencyMs = 20 }); break;
                    case ["apply", var unit]: _on.Add(unit); Report(new NodeMetrics { Requests = 200, P99LatencyMs = 20 }); break;
                    case ["crash"]: Report(new NodeMetrics { Requests = 200, Errors = 200, P99LatencyMs = 20, Crashes = 1 }); break;
                    case ["crash", var unit]: Report(new NodeMetrics { Requests = 200, Errors = 200, P99LatencyMs = 20, Crashes = 1 }, unit); break;
                    case ["errors"]:
                        for (var i = 0; i < 5; i++)
                        {
                            Report(new NodeMetrics { Requests = 1000, Errors = 500, P99LatencyMs = 20 });
                        }
                        break;
                    case ["wait", var s]: Now += TimeSpan.FromSeconds(double.Parse(s)); break;
                    case ["fast"]: _spacing = TimeSpan.FromMilliseconds(100); break;
                    case ["align"]: Now = new DateTimeOffset((Now.UtcTicks / Timed.SlotTicks + 1) * Timed.SlotTicks, TimeSpan.Zero).AddMilliseconds(10) - _spacing; break;
                    case ["burst"]: Report(new NodeMetrics { Requests = 1000, Errors = 500, P99LatencyMs = 20 }); break;
                    case ["clean"]:
                        for (var i = 0; i < 5; i++)
                        {
                            Report(new NodeMetrics { Requests = 1000, P99LatencyMs = 20 });
                        }
                        break;
                    case ["leave", var unit]: _on.Remove(unit); Report(new NodeMetrics { Requests = 200, P99LatencyMs = 20 }); break;
                    default: throw new ArgumentException($"unknown step '{step}'");
                }
            }
        }

        private TimeSpan _spacing = TimeSpan.FromSeconds(1);

        private void Report(NodeMetrics metrics, string? crashedOn = null)
        {
            Now += _spacing;
            Node.Report(new NodeReport
            {
                Node = Node.Id, Pop = "ams01", Region = "eu-west", Tier = "canary",
                Applied = Units.ToDictionary(u => u, u => new AppliedPackage
                {
                    Version = _on.Contains(u) ? V2.Version : V1.Version,
                    Sha256 = _on.Contains(u) ? V2.Sha256 : V1.Sha256,
                    Crashes = u == crashedOn ? metrics.Crashes : 0,
                }),
                Metrics = metrics,
            }, CatalogOf(), Now);
            foreach (var e in Node.Drain().All)
            {
                Events.Add(e switch
                {
                    NodeEvent.Signalled s => $"{s.Rollout} {s.Signal.Kind}",
                    NodeEvent.SentBack s => $"{s.Unit} sent back",
                    _ => "",
                });
            }
            Events.RemoveAll(e => e.Length == 0);
        }

        private static Catalog CatalogOf() => new(
            Units.ToDictionary(u => u, u => new CatalogEntry(u, new UnitTargets(new Dictionary<string, string>()), V1)), 1);
    }

    public static TheoryData<string, string, string> Signals => new()
    {
        // because, script, what each rollout heard and did, in order
        { "a crash after one change was applied is that change's", "apply flags; wait 5; crash", "rf Crash; flags sent back" },
        { "a crash after the second change is the second's, not the first's", "apply flags; wait 5; apply bot; crash", "rb Crash; bot sent back" },
        { "two changes applied in the same report cannot be told apart: both hear of it", "apply both; crash", "rf Crash; rb Crash; flags sent back; bot sent back" },
        { "unless the agent names the unit it crashed on", "apply both; crash bot", "rb Crash; bot sent back" },
        { "an error breach that began after the second change is the second's", "apply flags; wait 5; apply bot; wait 5; errors", "rb Breach" },
        { "an error breach with one change applied is that change's", "apply flags; wait 5; errors", "rf Breach" },
        {
            "and stays the second's once the node left the second change: the first is not blamed for the errors still in its window",
            "apply flags; wait 5; apply bot; wait 5; errors; leave bot; wait 1; leave bot", "rb Breach"
        },
        {
            "and when the node took the second change and left it within one slot of its window, whose traffic moves to the slot before",
            "apply flags; wait 5; fast; align; apply bot; burst; leave bot; clean; clean", "rb Breach"
        },
    };

    [Theory]
    [MemberData(nameof(Signals))]
    public void A_nodes_trouble_reaches_only_the_rollout_whose_change_it_follows(string because, string script, string expected)
    {
        var run = new Run(script);
        Assert.True(expected == string.Join("; ", run.Events), $"{because}: heard {string.Join("; ", run.Events)}");
    }

    public static TheoryData<string, string, int, int> Crashes => new()
    {
        // because, script, crashes in flags' evidence, in bot's
        { "the crash counts in the evidence of the change applied last", "apply flags; wait 5; apply bot; crash", 0, 1 },
        { "named by the agent, only in that unit's", "apply both; crash bot", 0, 1 },
        { "unnamed and simultaneous, in both", "apply both; crash", 1, 1 },
    };

    [Theory]
    [MemberData(nameof(Crashes))]
    public void A_crash_is_evidence_against_the_change_it_is_blamed_on(string because, string script, int flags, int bot)
    {
        var run = new Run(script);
        var counted = (run.Node.Evidence("flags", V2, run.Now).Sample.Crashes, run.Node.Evidence("bot", V2, run.Now).Sample.Crashes);
        Assert.True((flags, bot) == counted, $"{because}: flags {counted.Item1}, bot {counted.Item2}");
    }

    [Fact]
    public void A_sample_says_when_the_node_applied_each_units_package_those_it_left_within_the_window_included()
    {
        var run = new Run("apply flags; wait 5; apply bot");
        var applies = run.Node.Evidence("bot", V2, run.Now).Sample.Applies.OrderBy(a => a.At).ThenBy(a => a.Unit).ToList();
        Assert.Equal([("bot", 1L), ("flags", 1L), ("flags", 2L), ("bot", 2L)], applies.Select(a => (a.Unit, a.Version)));
        Assert.Equal(TimeSpan.FromSeconds(6), applies[3].At - applies[2].At);

        var later = new Run("apply flags; wait 61; apply bot");
        Assert.Equal([("flags", 2L), ("bot", 2L)],
            later.Node.Evidence("bot", V2, later.Now).Sample.Applies.OrderBy(a => a.At).Select(a => (a.Unit, a.Version)));
    }
}
