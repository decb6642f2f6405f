namespace Snapstone.Server.Tests;

[Collection(ServerCollection.Name)]
public sealed class AuthTests(ServerFixture fixture)
{
    [Theory]
    [InlineData(null, "GET", "/v1/units", 401)]
    [InlineData("not-a-known-token-at-all", "GET", "/v1/units", 401)]
    [InlineData("reader", "GET", "/v1/units", 200)]
    [InlineData("agent", "GET", "/v1/units", 403)]
    [InlineData("reader", "PUT", "/v1/units/auth-probe", 403)]
    [InlineData("agent", "PUT", "/v1/units/auth-probe", 403)]
    [InlineData("reviewer", "PUT", "/v1/units/auth-probe", 403)]
    [InlineData("ci", "POST", "/v1/reports", 403)]
    [InlineData("reader", "POST", "/v1/nodes/auth-probe/report", 403)]
    [InlineData("admin", "PUT", "/v1/units/auth-probe", 200)]
    [InlineData("ci", "PUT", "/v1/units/auth-probe", 200)]
    [InlineData(null, "GET", "/healthz", 200)]
    public async Task Missing_or_unknown_tokens_are_401_and_missing_scopes_403(string? token, string method, string path, int expected)
    {
        using var client = fixture.Server.Client(token);
        var body = method == "GET" ? null : path.EndsWith("report") ? "{\"pop\":\"p1\"}" : path.EndsWith("reports") ? "{\"reports\":[]}" : "{\"owner\":\"edge\"}";
        var (status, problem) = await client.Send(new HttpMethod(method), path, body);
        Assert.Equal(expected, status);
        if (expected is 401 or 403)
        {
            Assert.False(string.IsNullOrEmpty((string?)problem["detail"]));
        }
        if (expected == 403)
        {
            Assert.Contains("lacks the", (string?)problem["detail"]);
        }
    }
}
