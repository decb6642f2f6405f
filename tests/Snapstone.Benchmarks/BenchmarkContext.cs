using Snapstone.Benchmarks.Probes;
using Snapstone.Simulator;
using Snapstone.Simulator.Cli;
using Snapstone.Simulator.Demo;

namespace Snapstone.Benchmarks;

/// <summary>What every measurement against the server shares: the server, one fleet, and the probes on its traffic.</summary>
public sealed class BenchmarkContext(BenchmarkOptions options, ServerCluster cluster, Fleet fleet, BatchTimer batches, ControlPlane controlPlane, TextWriter log)
{
    public BenchmarkOptions Options { get; } = options;
    /// <summary>Every silo measured; one unless <c>--silos</c> asked for more.</summary>
    public ServerCluster Cluster { get; } = cluster;

    /// <summary>The silo the control plane talks to (the only one unless <c>--silos</c> asked for more).</summary>
    public ServerLauncher Server => Cluster.First;

    /// <summary>The simulated nodes; the same ones throughout the run, so later measurements find them registered.</summary>
    public Fleet Fleet { get; } = fleet;

    /// <summary>Times the fleet's report batches.</summary>
    public BatchTimer Batches { get; } = batches;

    /// <summary>CI-side calls with the admin token (units, plans, packages, rollouts, the fleet view).</summary>
    public ControlPlane ControlPlane { get; } = controlPlane;

    /// <summary>A second person's calls (the launcher's <c>approver</c> token): approves a rollout held for approval.</summary>
    public required ControlPlane Approver { get; init; }

    /// <summary>The control plane's HTTP client, for reads outside <see cref="ControlPlane"/> (the server's <c>/metrics</c>).</summary>
    public required HttpClient Control { get; init; }

    /// <summary>The rollouts (a), (b) and (e) read; run by the first of them.</summary>
    public Measurements.RolloutExperiment? Rollouts { get; set; }

    /// <summary>Progress lines; the results table goes to standard output.</summary>
    public TextWriter Log { get; } = log;

    /// <summary>Each silo's memory once it was ready and before any node reported, in <see cref="ServerCluster.Silos"/>' order.</summary>
    public IReadOnlyList<MemorySnapshot>? IdleMemory { get; set; }
}
