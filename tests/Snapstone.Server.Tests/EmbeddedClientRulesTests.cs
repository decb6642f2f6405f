using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Snapstone.Client;
using Snapstone.Domain;
using Snapstone.Domain.Nodes;
using Snapstone.Domain.Rollouts;
using Snapstone.Domain.Units;
using Snapstone.Testing;

namespace Snapstone.Server.Tests;

/// <summary>A real server and an internal service connected to it through the embedded client, shared by the tests of the class.</summary>
public sealed class EmbeddedClientFixture : IAsyncLifetime
{
    private IHost _host = null!;

    public ServerProcess Server { get; private set; } = null!;
    public SnapstoneClient Snapstone { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Server = await ServerProcess.StartAsync();
        var builder = Host.CreateApplicationBuilder();
        builder.AddSnapstoneClient(o =>
        {
            o.GatewayPort = Server.GatewayPort;
            o.ServiceId = Server.ServiceId;
            o.ClusterId = Server.ClusterId;
        });
        _host = builder.Build();
        await _host.StartAsync();
        Snapstone = _host.Services.GetRequiredService<SnapstoneClient>();
    }

    public async Task DisposeAsync()
    {
        await _host.StopAsync();
        _host.Dispose();
        await Server.DisposeAsync();
    }
}

/// <summary>
/// Every rule holds through the embedded client, an internal service's only way in: it reaches the same one-call
/// operations as the gateway (ContractSurfaceTests shows it reaches nothing else), so no rule can be skipped.
/// </summary>
public sealed class EmbeddedClientRulesTests(EmbeddedClientFixture fixture) : IClassFixture<EmbeddedClientFixture>
{
    private SnapstoneClient Snapstone => fixture.Snapstone;

    private static PackageDraft Draft(string content) => new() { Content = Encoding.UTF8.GetBytes(content) };

    /// <summary>A unit only nodes labelled with its own name consume (none, unless the test reports some).</summary>
    private async Task<string> Unit(UnitDefinition? definition = null)
    {
        var unit = TestStorage.Unique("unit");
        var targets = new UnitTargets(new Dictionary<string, string> { ["embedded-test"] = unit });
        await Snapstone.DefineUnitAsync(unit, (definition ?? new UnitDefinition { Owner = "billing" }) with { Targets = targets }, "billing-service");
        return unit;
    }

    private async Task<RolloutView> Until(string id, Func<RolloutView, bool> done, string what) =>
        await Eventually.Until(() => Snapstone.GetRolloutAsync(id), done, what, TimeSpan.FromSeconds(30));

    [Fact]
    public async Task A_first_package_reaches_no_node_until_its_rollout_completes_and_a_freeze_refuses_the_start()
    {
        var unit = await Unit();
        var package = await Snapstone.CreatePackageAsync(unit, Draft("{\"v\": 1}"), "billing-service");
        Assert.False(package.IsLkg);
        Assert.Null((await Snapstone.GetUnitAsync(unit)).LkgVersion);

        await Snapstone.FreezeAsync(unit, "no changes today", null, "oncall");
        var frozen = await Assert.ThrowsAsync<SnapstoneException>(() => Snapstone.StartRolloutAsync(new RolloutRequest { Unit = unit, Version = 1, Reason = "first" }, "billing-service"));
        Assert.Equal(ProblemKind.Conflict, frozen.Kind);
        Assert.StartsWith($"unit '{unit}' is frozen by oncall", frozen.Message);
        await Snapstone.LiftFreezeAsync(unit, "oncall");

        var (rollout, created) = await Snapstone.StartRolloutAsync(new RolloutRequest { Unit = unit, Version = 1, Reason = "first" }, "billing-service");
        Assert.True(created);
        await Until(rollout.Spec.Id, r => r.Status.State == RolloutState.Completed, "the first rollout (no consumers yet) to complete");
        Assert.Equal(1, (await Snapstone.GetUnitAsync(unit)).LkgVersion);
    }

    [Fact]
    public async Task The_emergency_plan_the_high_risk_floor_and_a_reused_idempotency_key_are_enforced_for_the_client_too()
    {
        var unit = await Unit(new UnitDefinition { Owner = "billing", Kind = UnitKind.Flag, RiskTier = RiskTier.High });
        await Snapstone.CreatePackageAsync(unit, Draft("{\"on\": true}"), "billing-service");

        var emergency = await Assert.ThrowsAsync<SnapstoneException>(() =>
            Snapstone.StartRolloutAsync(new RolloutRequest { Unit = unit, Version = 1, Plan = "emergency", Reason = "skip the waves" }, "billing-service"));
        Assert.Equal(ProblemKind.Unprocessable, emergency.Kind);

        var (rollout, _) = await Snapstone.StartRolloutAsync(new RolloutRequest { Unit = unit, Version = 1, Plan = "standard", Reason = "flip", IdempotencyKey = "job-1" }, "billing-service");
        Assert.Equal("high-risk", rollout.Spec.PlanName);
        Assert.Equal(RolloutState.AwaitingApproval, rollout.Status.State);
        var reused = await Assert.ThrowsAsync<SnapstoneException>(() =>
            Snapstone.StartRolloutAsync(new RolloutRequest { Unit = unit, Version = 1, Plan = "standard", Reason = "another", IdempotencyKey = "job-1" }, "billing-service"));
        Assert.Equal(ProblemKind.Unprocessable, reused.Kind);

        // The creator, who is also the package's author, cannot be the second person.
        var own = await Assert.ThrowsAsync<SnapstoneException>(() => Snapstone.ApproveRolloutAsync(rollout.Spec.Id, "billing-service", "mine"));
        Assert.Equal(ProblemKind.Forbidden, own.Kind);
        var approved = await Snapstone.ApproveRolloutAsync(rollout.Spec.Id, "reviewer", "reviewed");
        Assert.Equal("reviewer", approved.Status.Waves[0].ApprovedBy);
        await Snapstone.AbortRolloutAsync(rollout.Spec.Id, "billing-service", "test over");
    }

    [Fact]
    public async Task Lowering_the_risk_tier_through_the_client_waits_for_a_second_person()
    {
        var unit = await Unit(new UnitDefinition { Owner = "billing", Kind = UnitKind.Flag, RiskTier = RiskTier.High });
        var view = await Snapstone.DefineUnitAsync(unit, (await Snapstone.GetUnitAsync(unit)).Definition with { RiskTier = RiskTier.Standard }, "billing-service");
        Assert.Equal(RiskTier.High, view.Definition.RiskTier);
        Assert.Equal(["riskTier lowered from high to standard"], view.PendingChange!.Weakens);

        var own = await Assert.ThrowsAsync<SnapstoneException>(() => Snapstone.ApproveUnitChangeAsync(unit, "billing-service", null));
        Assert.Equal(ProblemKind.Forbidden, own.Kind);
        Assert.Equal(RiskTier.Standard, (await Snapstone.ApproveUnitChangeAsync(unit, "reviewer", "ok")).Definition.RiskTier);
    }

    [Fact]
    public async Task A_pause_by_a_token_named_freeze_is_a_persons_pause_and_no_freeze_ending_lifts_it()
    {
        var unit = await Unit();
        await Snapstone.CreatePackageAsync(unit, Draft("{\"v\": 1}"), "billing-service");
        // One consumer that never applies: the rollout stays on its first wave.
        await Snapstone.ReportAsync(new NodeReport
        {
            Node = TestStorage.Unique("node"), Pop = TestStorage.Unique("pop"), Tier = "canary",
            Labels = new Dictionary<string, string> { ["embedded-test"] = unit },
        });
        var (rollout, _) = await Snapstone.StartRolloutAsync(new RolloutRequest { Unit = unit, Version = 1, Reason = "first" }, "billing-service");

        var paused = await Snapstone.PauseRolloutAsync(rollout.Spec.Id, "freeze", "a person whose token is called freeze");
        Assert.Equal(new PauseReason.Manual("freeze", "a person whose token is called freeze"), paused.Status.Pause);
        await Snapstone.FreezeAsync(unit, "brief freeze", null, "oncall");
        // Lifting wakes the rollout before it answers: it has taken the lift into account by now.
        await Snapstone.LiftFreezeAsync(unit, "oncall");
        var after = await Snapstone.GetRolloutAsync(rollout.Spec.Id);
        Assert.Equal(RolloutState.Paused, after.Status.State);
        Assert.IsType<PauseReason.Manual>(after.Status.Pause);
        await Snapstone.AbortRolloutAsync(rollout.Spec.Id, "billing-service", "test over");
    }

    [Fact]
    public async Task A_break_glass_rollback_of_a_completed_first_package_through_the_client_takes_everyone_back_to_no_package()
    {
        var unit = await Unit();
        await Snapstone.CreatePackageAsync(unit, Draft("{\"v\": 1}"), "billing-service");
        var (rollout, _) = await Snapstone.StartRolloutAsync(new RolloutRequest { Unit = unit, Version = 1, Reason = "first" }, "billing-service");
        await Until(rollout.Spec.Id, r => r.Status.State == RolloutState.Completed, "the first rollout to complete");

        var action = await Snapstone.InstantRollbackAsync(unit, "v1 turned out bad", "oncall");
        Assert.Equal((null, 1L), (action.Target, action.TakenBack!.Version));
        var done = await Eventually.Until(() => Snapstone.GetBreakGlassAsync(action.Id), a => a.CompletedAt is not null, "the rollback to finish");
        Assert.Equal((0, 0), (done.Targeted, done.Confirmed));
        var view = await Snapstone.GetUnitAsync(unit);
        Assert.Null(view.LkgVersion);
        Assert.Equal([1L], view.Quarantined);
    }

    [Fact]
    public async Task Every_write_through_the_client_has_exactly_one_audit_entry_and_the_chain_verifies()
    {
        var before = (await Snapstone.ReadAuditAsync(0, null, SnapstoneClient.MaxAuditPage)).Count;
        var plan = TestStorage.Unique("plan");
        await Snapstone.DefinePlanAsync(plan, new Domain.Plans.Plan([new Domain.Plans.WaveSpec { Name = "all", Select = new Domain.Plans.WaveSelect { Percent = 100 } }]), "billing-service");
        var unit = await Unit(new UnitDefinition { Owner = "billing", Plan = plan });
        await Snapstone.CreatePackageAsync(unit, Draft("{\"v\": 1}"), "billing-service");
        var (rollout, _) = await Snapstone.StartRolloutAsync(new RolloutRequest { Unit = unit, Version = 1, Reason = "audited" }, "billing-service");
        await Until(rollout.Spec.Id, r => r.Status.IsTerminal, "the rollout to end");
        await Snapstone.FreezeAsync(unit, "audited freeze", 60, "oncall");
        await Snapstone.LiftFreezeAsync(unit, "oncall");

        var entries = (await Snapstone.ReadAuditAsync(0, null, SnapstoneClient.MaxAuditPage)).Skip(before).Where(e => e.Target.Contains(unit) || e.Target.Contains(plan) || e.Target == $"rollout/{rollout.Spec.Id}").ToList();
        Assert.Equal(["plan.define", "unit.define", "package.create", "rollout.start", "breakglass.freeze", "breakglass.unfreeze"], entries.Select(e => e.Action));
        Assert.True((await Snapstone.VerifyAuditAsync()).Valid);
    }
}
