using System.Text;
using Snapstone.Domain;
using Snapstone.Domain.Units;
using Snapstone.Testing;

namespace Snapstone.Grains.Tests;

[Collection(ClusterCollection.Name)]
public sealed class UnitGrainTests(ClusterFixture fixture)
{
    private static readonly UnitDefinition Features = new()
    {
        Owner = "bot-management",
        FailureMode = FailureMode.FailClosed,
        Validators = new ValidatorSpec { Format = ContentFormat.Json, MaxItems = new MaxItemsRule("$.features", 200) },
    };

    private static PackageDraft Draft(int features) => new()
    {
        Content = Encoding.UTF8.GetBytes($"{{\"features\":[{string.Join(',', Enumerable.Range(0, features))}]}}"),
        Message = $"{features} features",
    };

    [Fact]
    public async Task Versions_grow_by_one_and_no_package_is_the_lkg_until_its_rollout_completes()
    {
        var name = TestStorage.Unique("unit");
        var unit = fixture.Client.GetGrain<IUnitGrain>(name);
        await unit.Define(Features with { Targets = new UnitTargets(new Dictionary<string, string> { ["only"] = name }) }, "ci");

        var rejected = await unit.CreatePackage(Draft(201), "ci");
        var first = await unit.CreatePackage(Draft(10), "ci");
        var second = await unit.CreatePackage(Draft(11), "ci");
        var view = await unit.Get();

        Assert.Equal((1L, PackageState.Rejected), (rejected.Record.Version, rejected.State));
        Assert.Equal((2L, PackageState.Valid, false), (first.Record.Version, first.State, first.IsLkg));
        Assert.Equal((3L, false), (second.Record.Version, second.IsLkg));
        Assert.Null(view!.LkgVersion);
        Assert.Equal(3L, view.LatestVersion);
        Assert.Equal(fixture.Time.GetUtcNow(), second.Record.CreatedAt);
        Assert.Null((await fixture.Client.GetGrain<ICatalogGrain>(ICatalogGrain.Key).Get()).Units[name].Lkg);

        await fixture.CompleteRollout(name, 2);
        Assert.Equal(2L, (await unit.Get())!.LkgVersion);
        Assert.True((await unit.GetPackage(2))!.IsLkg);
    }

    [Fact]
    public async Task Records_come_back_from_storage_after_the_grain_is_deactivated()
    {
        var key = TestStorage.Unique("unit");
        var unit = fixture.Client.GetGrain<IUnitGrain>(key);
        await unit.Define(Features, "ci");
        var created = await unit.CreatePackage(Draft(7), "ci");

        await fixture.Cluster.DeactivateAsync(unit);
        await fixture.Cluster.WaitForDeactivationAsync(unit);

        var read = await fixture.Client.GetGrain<IUnitGrain>(key).GetPackage(1);
        Assert.NotNull(read);
        Assert.Equal(created.Record.Sha256, read.Record.Sha256);
        Assert.Equal(created.Record.Validation.Findings, read.Record.Validation.Findings);
        Assert.Equal(Draft(7).Content, await fixture.Client.GetGrain<IPackageContentGrain>(key).Get(1));
    }

    [Fact]
    public async Task A_package_for_an_undefined_unit_is_refused_as_not_found()
    {
        var unit = fixture.Client.GetGrain<IUnitGrain>(TestStorage.Unique("ghost"));
        var refusal = await Assert.ThrowsAsync<SnapstoneException>(() => unit.CreatePackage(Draft(1), "ci"));
        Assert.Equal(ProblemKind.NotFound, refusal.Kind);
        Assert.Null(await unit.Get());
    }

    [Fact]
    public async Task An_invalid_definition_is_refused_by_the_grain_itself()
    {
        var unit = fixture.Client.GetGrain<IUnitGrain>(TestStorage.Unique("unit"));
        var refusal = await Assert.ThrowsAsync<SnapstoneException>(() => unit.Define(Features with { Owner = "" }, "ci"));
        Assert.Equal(ProblemKind.Invalid, refusal.Kind);
        Assert.Contains("owner is required", refusal.Errors);
        Assert.Null(await unit.Get());
    }

    [Fact]
    public async Task The_validate_dry_run_stores_nothing()
    {
        var unit = fixture.Client.GetGrain<IUnitGrain>(TestStorage.Unique("unit"));
        await unit.Define(Features, "ci");
        var dry = await unit.ValidatePackage(Draft(250), "ci");
        Assert.Equal(0, dry.Record.Version);
        Assert.False(dry.Record.Validation.Passed);
        Assert.Null((await unit.Get())!.LatestVersion);
    }
}
