using Snapstone.Domain.Drift;
using Snapstone.Domain.Nodes;
using Snapstone.Domain.Plans;
using Snapstone.Domain.Units;

namespace Snapstone.Domain.Tests.Nodes;

/// <summary>
/// The node's decisions, one script per row: what it is told and what it reports, step by step, then the package
/// it should run and what its grain must act on. The unit's LKG is v1; rollout r1 rolls v2 out over v1.
/// </summary>
/// <remarks>
/// Steps, separated by <c>;</c>: <c>report N</c> (runs vN, 200 requests, no errors), <c>report N crash</c>,
/// <c>report N errors</c> (half the requests fail), <c>refuse N</c> (status rejected naming vN), <c>keep N</c> (status
/// rejected naming vN, the package kept, with an error), <c>assign N</c>
/// (rollout r1 assigns vN over v1), <c>join N</c> (the node takes r1's vN as it joins its PoP, after the wave went
/// out), <c>assign N bare</c> (no package to go back to), <c>assign N r2</c> (another
/// rollout), <c>rollback</c> (r1 sends the node back to v1), <c>rollback none</c> (to no assignment: the LKG),
/// <c>drift</c> (the node runs v3, which it should not, until it is excluded), <c>wait S</c>.
/// Events are written <c>Kind detail</c>: <c>Signalled Crash</c>, <c>SentBack 1</c>, <c>Returned 1</c>,
/// <c>Deferred 2</c>, <c>TookDeferred 2</c>, <c>Excluded</c>, <c>Readmitted</c>; only those of the last step are compared
/// unless the script ends with <c>| all</c>.
/// </remarks>
public class NodeTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 10, 0, 0, TimeSpan.Zero);
    private const string Unit = "bot-features";
    private static readonly DesiredPackage V1 = new(1, new string('1', 64));
    private static readonly DesiredPackage V2 = new(2, new string('2', 64));
    private static readonly DesiredPackage V3 = new(3, new string('3', 64));
    private static readonly NodeIdentity Identity = new("ams01", "eu-west", "canary", new Dictionary<string, string> { ["proxy"] = "fl2" });

    private static Catalog CatalogWith(DesiredPackage? lkg) => new(
        new Dictionary<string, CatalogEntry> { [Unit] = new(Unit, new UnitTargets(new Dictionary<string, string>()), lkg) }, 1);

    /// <summary>A node enrolled at T0 and the steps of <paramref name="script"/> run on it.</summary>
    private sealed class Run
    {
        public Node Node { get; } = new("ams01-n001", new NodeState(), DriftSettings.Default, T0);
        public DateTimeOffset Now { get; private set; } = T0;
        public Catalog Catalog { get; } = CatalogWith(V1);
        public DesiredState? Answer { get; private set; }
        public List<string> Events { get; } = [];
        public List<string> AllEvents { get; } = [];
        public NodeChanges Last { get; private set; }

        public Run(string script)
        {
            Node.Enrol(Identity, T0);
            foreach (var step in script.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                Events.Clear();
                Step(step.Split(' '));
                Collect();
            }
        }

        private static DesiredPackage V(string n) => n switch { "1" => V1, "2" => V2, "3" => V3, _ => throw new ArgumentException(n) };

        private void Step(string[] words)
        {
            switch (words)
            {
                case ["report", var n]: Report(V(n), new NodeMetrics { Requests = 200, P99LatencyMs = 20 }); break;
                case ["report", var n, "crash"]: Report(V(n), new NodeMetrics { Requests = 200, Errors = 200, P99LatencyMs = 20, Crashes = 1 }); break;
                case ["report", var n, "errors"]: Report(V(n), new NodeMetrics { Requests = 200, Errors = 100, P99LatencyMs = 20 }); break;
                case ["refuse", var n]: Report(V(n), new NodeMetrics { Requests = 200, P99LatencyMs = 20 }, ApplyStatus.Rejected); break;
                case ["keep", var n]: Report(V(n), new NodeMetrics { Requests = 200, P99LatencyMs = 20 }, ApplyStatus.Rejected, "features: 210 > 200"); break;
                case ["assign", var n]: Node.Take(Unit, new Assignment(V(n), "r1", Now, new Gates(), V1), Now); break;
                case ["assign", var n, "bare"]: Node.Take(Unit, new Assignment(V(n), "r1", Now, new Gates()), Now); break;
                case ["assign", var n, "r2"]: Node.Take(Unit, new Assignment(V(n), "r2", Now, new Gates(), V1), Now); break;
                case ["join", var n]: Node.Take(Unit, new Assignment(V(n), "r1", Now, new Gates(), V1), Now, joined: true); break;
                case ["rollback"]: Node.ReturnTo("r1", Unit, V1, V2, Now); break;
                case ["rollback", "none"]: Node.ReturnTo("r1", Unit, null, V2, Now); break;
                case ["wait", var s]: Now += TimeSpan.FromSeconds(double.Parse(s)); break;
                case ["drift"]:
                    // Past the 2 s grace, then one remediation attempt a second until the 10th excludes the node.
                    Report(V3, new NodeMetrics { Requests = 200, P99LatencyMs = 20 });
                    Now += TimeSpan.FromSeconds(2);
                    for (var i = 0; i < DriftSettings.Default.MaxAttempts; i++)
                    {
                        Now += TimeSpan.FromSeconds(1);
                        Report(V3, new NodeMetrics { Requests = 200, P99LatencyMs = 20 });
                        Collect();
                    }
                    break;
                default: throw new ArgumentException($"unknown step '{string.Join(' ', words)}'");
            }
        }

        private void Report(DesiredPackage runs, NodeMetrics metrics, ApplyStatus status = ApplyStatus.Ok, string? error = null)
        {
            Now += TimeSpan.FromMilliseconds(100);
            Answer = Node.Report(new NodeReport
            {
                Node = Node.Id, Pop = "ams01", Region = "eu-west", Tier = "canary",
                Applied = new Dictionary<string, AppliedPackage> { [Unit] = new() { Version = runs.Version, Sha256 = runs.Sha256, Status = status, Error = error } },
                Metrics = metrics,
            }, Catalog, Now);
        }

        private void Collect()
        {
            Last = Node.Drain();
            foreach (var e in Last.All)
            {
                var text = e switch
                {
                    NodeEvent.Signalled s => $"Signalled {s.Signal.Kind}",
                    NodeEvent.Withheld w => $"Withheld {w.Signal.Kind}",
                    NodeEvent.SentBack s => $"SentBack {s.To.Version}",
                    NodeEvent.Returned r => $"Returned {r.To?.Version.ToString() ?? "none"}",
                    NodeEvent.Deferred d => $"Deferred {d.Assignment.Package.Version}",
                    NodeEvent.TookDeferred t => $"TookDeferred {t.Assignment.Package.Version}",
                    NodeEvent.Excluded => "Excluded",
                    NodeEvent.Readmitted => "Readmitted",
                    _ => e.GetType().Name,
                };
                Events.Add(text);
                AllEvents.Add(text);
            }
        }
    }

    public static TheoryData<string, string, long?, string> Decisions => new()
    {
        // because, script, desired version after it, events
        { "a node with no assignment runs the unit's LKG", "report 1", 1, "" },
        { "a wave assignment is the desired package", "report 1; assign 2", 2, "" },
        { "a second wave's assignment of the same package changes nothing", "report 1; assign 2; assign 2", 2, "" },
        { "a rollback returns the node to the package the rollout replaced", "report 1; assign 2; report 2; rollback", 1, "Returned 1" },
        { "a rollback of a node already back changes nothing", "report 1; assign 2; rollback; rollback", 1, "" },
        { "a rollback to no package leaves the node on the LKG", "report 1; assign 2; rollback none", 1, "Returned none" },
        { "a later rollout's assignment replaces a rolled-back one", "report 1; assign 2; rollback; assign 3 r2", 3, "" },

        { "a crash on the assigned package signals and sends the node back in the same answer", "report 1; assign 2; report 2 crash", 1, "Signalled Crash; SentBack 1" },
        { "a second crash is not signalled again", "report 1; assign 2; report 2 crash; report 2 crash", 1, "" },
        { "a crash with no package to go back to signals and stays", "report 1; assign 2 bare; report 2 crash", 2, "Signalled Crash" },
        { "a crash on the old package, before the node took the new one, says nothing about the new one", "report 1; assign 2; report 1 crash", 2, "" },
        { "a refusal of the assigned package signals, and the node keeps its old package", "report 1; assign 2; refuse 2", 2, "Signalled Rejected" },
        { "a refusal is signalled once", "report 1; assign 2; refuse 2; refuse 2", 2, "" },
        { "the package kept, rejected with an error, is a refusal of the assigned one, signalled at once", "report 1; assign 2; keep 1", 2, "Signalled Rejected" },
        { "the package kept, rejected without an error, is not", "report 1; assign 2; refuse 1", 2, "" },
        { "half the requests failing on the new package is a breach, judged by the rollout, not a send-back", "report 1; assign 2; report 2 errors", 2, "Signalled Breach" },
        { "each kind of trouble is signalled once per rollout", "report 1; assign 2; report 2 errors; report 2 crash | all", 1, "Signalled Breach; Signalled Crash; SentBack 1" },

        { "a node that joins after its wave was assigned runs the wave's package", "report 1; join 2", 2, "" },
        { "its crash sends it back at once but is withheld from the rollout", "report 1; join 2; report 2 crash", 1, "Withheld Crash; SentBack 1" },
        { "its refusal is withheld from the rollout", "report 1; join 2; refuse 2", 2, "Withheld Rejected" },
        { "its breach is withheld from the rollout", "report 1; join 2; report 2 errors", 2, "Withheld Breach" },
        { "a later rollout's wave that reaches it as a member is its own", "report 1; join 2; assign 3 r2; report 3 crash", 1, "Signalled Crash; SentBack 1" },

        { "a node drifted past its attempts is excluded", "drift", 1, "Excluded" },
        { "an excluded node defers a wave assignment and keeps the LKG", "drift; assign 2", 1, "Deferred 2" },
        { "an excluded node takes the deferred assignment once it converges", "drift; assign 2; report 1", 2, "Readmitted; TookDeferred 2" },
        { "a deferred assignment keeps the package to go back to: a crash on it sends the node back at once", "drift; assign 2; report 1; report 2 crash", 1, "Signalled Crash; SentBack 1" },
        { "a rollback drops a deferred assignment for good", "drift; assign 2; rollback; report 1", 1, "Readmitted" },
    };

    [Theory]
    [MemberData(nameof(Decisions))]
    public void A_node_decides_what_it_runs_and_what_it_tells(string because, string script, long? desired, string events)
    {
        var all = script.EndsWith("| all", StringComparison.Ordinal);
        var run = new Run(all ? script[..script.IndexOf('|')] : script);
        _ = because;
        Assert.Equal((desired, events), (run.Node.Desired(run.Catalog).Units.GetValueOrDefault(Unit)?.Version, string.Join("; ", all ? run.AllEvents : run.Events)));
    }

    public static TheoryData<string, string, long, bool, bool> Evidence => new()
    {
        // because, script, package asked about, on it, rejected it
        { "a node running the package is on it", "report 1; assign 2; report 2", 2, true, false },
        { "a node still on the old package is not", "report 1; assign 2; report 1", 2, false, false },
        { "a control node is on the previous package", "report 1", 1, true, false },
        { "a refusal of the package counts as rejected", "report 1; assign 2; refuse 2", 2, false, true },
        { "a refusal of another version is not a refusal of this one", "report 1; assign 2; refuse 3", 2, false, false },
        { "the package kept, rejected with an error, refuses the assigned package", "report 1; assign 2; keep 1", 2, false, true },
        { "and says nothing about a package the node was not told to run", "report 1; assign 2; keep 1", 3, false, false },
        { "with no assignment, the package kept says nothing about a rollout's package", "report 1; keep 1", 2, false, false },
        { "a node excluded for the unit is never on any package of it, even the one it runs", "drift", 3, false, false },
    };

    [Theory]
    [MemberData(nameof(Evidence))]
    public void A_nodes_evidence_about_a_package_is_what_it_reported_on_that_package(string because, string script, long version, bool on, bool rejected)
    {
        var run = new Run(script);
        var evidence = run.Node.Evidence(Unit, version switch { 1 => V1, 2 => V2, _ => V3 }, run.Now);
        Assert.True((on, rejected) == (evidence.On, evidence.Rejected), $"{because}: on {evidence.On}, rejected {evidence.Rejected}");
        Assert.Equal(on, evidence.Sample.Reported);
        Assert.Equal(on ? 200 : 0, evidence.Sample.Requests);
    }

    public static TheoryData<string, string, bool, bool, long, int, bool> LateEvidence => new()
    {
        // because, script, on v2, reported, requests, crashes, rejected
        { "a member's crash is evidence", "report 1; assign 2; report 2 crash", true, true, 200, 1, false },
        { "a late joiner runs the package, but gives no traffic", "report 1; join 2; report 2", true, false, 0, 0, false },
        { "nor its crash", "report 1; join 2; report 2 crash", true, false, 0, 0, false },
        { "nor its refusal", "report 1; join 2; refuse 2", false, false, 0, 0, false },
        { "nor its refusal naming the package it kept", "report 1; join 2; keep 1", false, false, 0, 0, false },
        { "its evidence about another rollout's package, which reached it as a member, is its own", "report 1; join 2; assign 3 r2; report 3 crash", false, false, 0, 0, false },
    };

    [Theory]
    [MemberData(nameof(LateEvidence))]
    public void A_node_that_joined_after_the_wave_gives_no_evidence_about_its_package(string because, string script, bool on, bool reported, long requests, int crashes, bool rejected)
    {
        _ = because;
        var evidence = new Run(script).Node.Evidence(Unit, V2, T0.AddSeconds(2));
        Assert.Equal((on, reported, requests, crashes, rejected), (evidence.On, evidence.Sample.Reported, evidence.Sample.Requests, evidence.Sample.Crashes, evidence.Rejected));
    }

    [Fact]
    public void A_member_of_a_later_rollout_gives_evidence_about_that_rollouts_package()
    {
        var run = new Run("report 1; join 2; assign 3 r2; report 3 crash");
        var evidence = run.Node.Evidence(Unit, V3, run.Now);
        Assert.Equal((true, 1), (evidence.On, evidence.Sample.Crashes));
    }

    [Fact]
    public void A_crashed_node_counts_as_having_run_the_package_when_the_rollback_reaches_it()
    {
        var run = new Run("report 1; assign 2; report 2 crash; report 1");
        Assert.True(run.Node.ReturnTo("r1", Unit, V1, V2, run.Now));
        Assert.False(new Run("report 1; assign 2; report 1").Node.ReturnTo("r1", Unit, V1, V2, T0), "a node that never took v2 did not run it");
    }

    public static TheoryData<string, string, bool> Writes => new()
    {
        // because, script, must write behind after its last step
        { "a node that converges within the grace never writes", "report 1; assign 2; report 2", false },
        { "deferring an assignment is written", "drift; assign 2", true },
        { "taking a deferred assignment is written", "drift; assign 2; report 1", true },
        { "joining after a wave is written: a restarted node must still know", "report 1; join 2", true },
        { "taking the same order again as the grain activates is not", "report 1; join 2; assign 2", false },
        { "a later rollout's wave reaching it as a member is written", "report 1; join 2; assign 3 r2", true },
    };

    [Theory]
    [MemberData(nameof(Writes))]
    public void A_node_asks_for_a_write_only_when_what_must_survive_a_restart_changed(string because, string script, bool write)
    {
        Assert.True(new Run(script).Last.WriteBehind == write, because);
    }

    [Fact]
    public void The_desired_state_is_answered_from_cache_until_the_catalog_or_the_assignments_change()
    {
        var run = new Run("report 1");
        var first = run.Node.Desired(run.Catalog);
        Assert.Same(first, run.Node.Desired(run.Catalog));
        run.Node.Take(Unit, new Assignment(V2, "r1", T0, new Gates(), V1), T0);
        var assigned = run.Node.Desired(run.Catalog);
        Assert.NotSame(first, assigned);
        Assert.NotEqual(first.Stamp, assigned.Stamp);
        var other = run.Node.Desired(CatalogWith(V1) with { Version = 2 });
        Assert.NotSame(assigned, other);
        Assert.Equal(assigned.Stamp, other.Stamp);
    }

    [Fact]
    public void A_unit_targeted_at_other_labels_is_absent_from_desired_and_a_unit_without_a_package_too()
    {
        var catalog = new Catalog(new Dictionary<string, CatalogEntry>
        {
            ["fl1-only"] = new("fl1-only", new UnitTargets(new Dictionary<string, string> { ["proxy"] = "fl1" }), V1),
            ["fl2-only"] = new("fl2-only", new UnitTargets(new Dictionary<string, string> { ["proxy"] = "fl2" }), V1),
            ["no-package"] = new("no-package", new UnitTargets(new Dictionary<string, string>()), null),
        }, 1);
        var node = new Node("n", new NodeState(), DriftSettings.Default, T0);
        node.Enrol(Identity, T0);
        Assert.Equal(["fl2-only"], node.Desired(catalog).Units.Keys);
    }

    [Fact]
    public void A_report_naming_a_unit_the_catalog_does_not_know_is_refused()
    {
        var report = new NodeReport { Node = "n", Pop = "ams01", Applied = new Dictionary<string, AppliedPackage> { ["never-defined"] = new() { Version = 1 } } };
        Assert.Equal("applied: unknown unit 'never-defined' (no such unit is defined)", Node.UnknownUnit(report, CatalogWith(V1)));
        Assert.Null(Node.UnknownUnit(report with { Applied = new Dictionary<string, AppliedPackage> { [Unit] = new() { Version = 1 } } }, CatalogWith(V1)));
    }
}
