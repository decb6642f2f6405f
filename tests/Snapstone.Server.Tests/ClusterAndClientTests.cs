using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Snapstone.Client;
using Snapstone.Domain.Units;
using Snapstone.Testing;

namespace Snapstone.Server.Tests;

public sealed class EmbeddedClientTests
{
    [Fact]
    public async Task An_internal_service_registered_with_one_call_shares_state_and_rules_with_the_gateway()
    {
        await using var server = await ServerProcess.StartAsync();
        var builder = Host.CreateApplicationBuilder();
        builder.AddSnapstoneClient(o =>
        {
            o.GatewayPort = server.GatewayPort;
            o.ServiceId = server.ServiceId;
            o.ClusterId = server.ClusterId;
        });
        using var host = builder.Build();
        await host.StartAsync();
        var snapstone = host.Services.GetRequiredService<SnapstoneClient>();

        var unit = TestStorage.Unique("unit");
        await snapstone.DefineUnitAsync(unit, new UnitDefinition { Owner = "billing-service" }, "billing-service");
        var package = await snapstone.CreatePackageAsync(unit, new PackageDraft { Content = "{\"a\":1}"u8.ToArray(), Message = "from the embedded client" }, "billing-service");

        var (status, overHttp) = await server.Client("reader").Get($"/v1/units/{unit}/packages/1");
        Assert.Equal(200, status);
        Assert.Equal(package.Record.Sha256, (string?)overHttp["sha256"]);
        Assert.Equal("billing-service", (string?)overHttp["author"]);

        var refusal = await Assert.ThrowsAsync<SnapstoneException>(() => snapstone.DefineUnitAsync("Not Valid", new UnitDefinition { Owner = "x" }, "billing-service"));
        Assert.Equal(Domain.ProblemKind.Invalid, refusal.Kind);
        Assert.Contains("must match", refusal.Message);
        await host.StopAsync();
    }
}

public sealed class ClusterTests
{
    [Fact]
    public async Task A_second_server_joins_the_first_through_azure_table_clustering_and_serves_the_same_state()
    {
        var shared = new Dictionary<string, string>
        {
            ["Snapstone__Cluster__Clustering"] = "AzureTable",
            ["Snapstone__Cluster__ServiceId"] = TestStorage.Unique("svc"),
            ["Snapstone__Cluster__ClusterId"] = TestStorage.Unique("cluster"),
        };
        await using var first = await ServerProcess.StartAsync(shared);
        await using var second = await ServerProcess.StartAsync(shared);

        var unit = TestStorage.Unique("unit");
        var (defined, _) = await first.Client("ci").Put($"/v1/units/{unit}", new { owner = "edge" });
        Assert.Equal(200, defined);
        var (created, _) = await second.Client("ci").Post($"/v1/units/{unit}/packages", new { content = "{}" });
        Assert.Equal(201, created);
        var (_, read) = await first.Client("reader").Get($"/v1/units/{unit}");
        Assert.Equal(1, (long?)read["latestVersion"]);

        // Nodes reporting through either process land in one fleet.
        var pop = TestStorage.Unique("pop");
        await first.Client("agent").Post($"/v1/nodes/{TestStorage.Unique("node")}/report", new { pop });
        await second.Client("agent").Post($"/v1/nodes/{TestStorage.Unique("node")}/report", new { pop });
        var (_, fleet) = await second.Client("reader").Get("/v1/fleet");
        Assert.Equal(2, (int?)fleet["pops"]!.AsArray().Single(p => (string?)p!["pop"] == pop)!["nodes"]);
    }
}
