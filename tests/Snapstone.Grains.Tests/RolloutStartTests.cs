using System.Text;
using Orleans.TestingHost;
using Snapstone.Domain.Health;
using Snapstone.Domain.Nodes;
using Snapstone.Domain.Plans;
using Snapstone.Domain.Rollouts;
using Snapstone.Domain.Units;
using Snapstone.Server.Hosting;
using Snapstone.Testing;

namespace Snapstone.Grains.Tests;

/// <summary>
/// A rollout's start answers once the rollout is stored; its first wave's fan-out runs on a turn of its own. A fan-out
/// across a large fleet (or a slow silo) therefore holds up neither the <c>POST</c> nor the unit grain that waits for it.
/// </summary>
public sealed class RolloutStartTests
{
    private static readonly TimeSpan Prompt = TimeSpan.FromSeconds(10);

    private static readonly Plan OneWave = new([new WaveSpec { Name = "all", Select = new WaveSelect { Percent = 100 }, BakeSeconds = 60 }]);

    /// <summary>Holds every PoP's <c>AssignWave</c> while closed, as a slow fan-out would.</summary>
    private sealed class FanOutGate : IIncomingGrainCallFilter
    {
        private TaskCompletionSource _open = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public FanOutGate() => _open.SetResult();

        public TaskCompletionSource Arrived { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Close() => _open = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Open() => _open.TrySetResult();

        public async Task Invoke(IIncomingGrainCallContext context)
        {
            if (context.InterfaceMethod?.Name == nameof(IPopFanOutGrain.AssignWave))
            {
                var open = _open.Task;
                if (!open.IsCompleted)
                {
                    Arrived.TrySetResult();
                }
                await open;
            }
            await context.Invoke();
        }
    }

    [Fact]
    public async Task A_start_answers_while_its_first_waves_fan_out_is_held_and_the_wave_is_assigned_once_the_fan_out_goes_through()
    {
        var gate = new FanOutGate();
        var connection = await TestStorage.ConnectionStringAsync();
        var builder = new InProcessTestClusterBuilder(1);
        builder.Options.ServiceId = TestStorage.Unique("rollout-start");
        builder.ConfigureSilo((_, silo) =>
        {
            silo.AddSnapstoneStorage(connection, new StorageOptions());
            silo.AddIncomingGrainCallFilter(gate);
        });
        await using var cluster = builder.Build();
        await cluster.DeployAsync();
        var client = cluster.Client;

        var name = TestStorage.Unique("unit");
        var labels = new Dictionary<string, string> { ["app"] = name };
        var unit = client.GetGrain<IUnitRolloutsGrain>(name);
        await unit.Define(new UnitDefinition { Owner = "edge", Targets = new UnitTargets(labels) }, "ci");
        var v1 = (await unit.CreatePackage(new PackageDraft { Content = Encoding.UTF8.GetBytes("one") }, "ci")).Record;
        await FirstPackage(client, unit, name);
        var v2 = (await unit.CreatePackage(new PackageDraft { Content = Encoding.UTF8.GetBytes("two") }, "ci")).Record;
        var node = client.GetGrain<INodeHealthGrain>(TestStorage.Unique("node"));
        var report = new NodeReport
        {
            Node = node.GetPrimaryKeyString(), Pop = TestStorage.Unique("pop"), Tier = "edge", Labels = labels,
            Applied = new Dictionary<string, AppliedPackage> { [name] = new() { Version = 1, Sha256 = v1.Sha256 } },
            Metrics = new NodeMetrics { Requests = 1000, Errors = 1, P99LatencyMs = 20 },
        };
        await node.Report(report);

        gate.Close();
        var id = "r-" + Guid.NewGuid().ToString("N")[..16];
        var ticket = await unit.ReserveRollout(id, 2);
        var rollout = client.GetGrain<IRolloutRunnerGrain>(id);
        var started = await rollout.Start(Spec(id, name, new DesiredPackage(1, v1.Sha256), new DesiredPackage(2, v2.Sha256), OneWave), ticket.Targets)
            .WaitAsync(Prompt);
        await gate.Arrived.Task.WaitAsync(Prompt);
        var held = (await rollout.Get().WaitAsync(Prompt))!;
        var desiredWhileHeld = (await node.Report(report)).Units.GetValueOrDefault(name);
        gate.Open();
        var assigned = await WaveAssigned(rollout, 0);

        Assert.Equal(RolloutState.Pending, started.Status.State);
        Assert.Null(started.Status.Waves[0].AssignedAt);
        Assert.Null(held.Status.Waves[0].AssignedAt);
        Assert.Equal(new DesiredPackage(1, v1.Sha256), desiredWhileHeld);
        Assert.Equal(1, assigned.Status.Waves[0].Targeted);
        Assert.Equal(new DesiredPackage(2, v2.Sha256), (await node.Report(report)).Units[name]);
    }

    private static RolloutSpec Spec(string id, string unit, DesiredPackage from, DesiredPackage to, Plan plan) => new()
    {
        Id = id, Unit = unit, Version = to.Version, Sha256 = to.Sha256, PreviousVersion = from.Version, PreviousSha256 = from.Sha256,
        Plan = plan, PlanName = "one-wave", CreatedBy = "ci",
    };

    /// <summary>The first package of a unit no node consumes yet: every wave is empty and passes at once.</summary>
    private static async Task FirstPackage(IClusterClient client, IUnitRolloutsGrain unit, string name)
    {
        var (started, _) = await unit.StartRollout(new RolloutRequest { Unit = name, Version = 1, Reason = "first package" }, "ci");
        var rollout = client.GetGrain<IRolloutRunnerGrain>(started.Spec.Id);
        for (var i = 0; i < 40 && (await rollout.Get())!.Status.State != RolloutState.Completed; i++)
        {
            await rollout.Wake();
        }
        Assert.Equal(RolloutState.Completed, (await rollout.Get())!.Status.State);
    }

    /// <summary>Waits (at most <see cref="Prompt"/>) for the rollout's own turn to assign <paramref name="wave"/>.</summary>
    private static async Task<RolloutView> WaveAssigned(IRolloutGrain rollout, int wave)
    {
        var deadline = DateTimeOffset.UtcNow + Prompt;
        var view = (await rollout.Get())!;
        while (view.Status.Waves[wave].AssignedAt is null && DateTimeOffset.UtcNow < deadline)
        {
            view = (await rollout.WaitForTimeline(view.Status.TimelineTotal, deadline - DateTimeOffset.UtcNow))!;
        }
        Assert.True(view.Status.Waves[wave].AssignedAt is not null, $"wave {wave} was not assigned within {Prompt.TotalSeconds:0} s of the fan-out going through");
        return view;
    }
}
