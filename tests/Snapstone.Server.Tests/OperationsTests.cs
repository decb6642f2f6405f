namespace Snapstone.Server.Tests;

[Collection(ServerCollection.Name)]
public sealed class OperationsTests(ServerFixture fixture)
{
    [Fact]
    public async Task Health_and_readiness_need_no_token_and_readiness_names_storage_and_silo()
    {
        using var anonymous = fixture.Server.Client(null);
        Assert.Equal(200, (int)(await anonymous.GetAsync("/healthz")).StatusCode);
        var (status, ready) = await anonymous.Get("/readyz");
        Assert.Equal(200, status);
        Assert.Equal("healthy", (string?)ready["checks"]!["storage"]!["status"]);
        Assert.Equal("healthy", (string?)ready["checks"]!["silo"]!["status"]);
    }

    [Fact]
    public async Task The_openapi_document_lists_the_gateway()
    {
        using var anonymous = fixture.Server.Client(null);
        var (status, document) = await anonymous.Get("/openapi/v1.json");
        Assert.Equal(200, status);
        var paths = document["paths"]!.AsObject();
        Assert.Contains("/v1/units/{unit}", paths.Select(p => p.Key));
        Assert.Contains("/v1/reports", paths.Select(p => p.Key));
        Assert.Contains("/v1/nodes/{node}/report", paths.Select(p => p.Key));
    }
}
