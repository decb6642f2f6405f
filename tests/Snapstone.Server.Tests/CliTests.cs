using Snapstone.Cli;
using Snapstone.Testing;

namespace Snapstone.Server.Tests;

[Collection(ServerCollection.Name)]
public sealed class CliTests(ServerFixture fixture)
{
    private async Task<(int Code, string Output, string Errors)> Run(params string[] args)
    {
        var output = new StringWriter();
        var errors = new StringWriter();
        var code = await CommandLine.RunAsync(["--server", fixture.Server.BaseAddress.ToString(), .. args], output, errors);
        return (code, output.ToString(), errors.ToString());
    }

    [Fact]
    public async Task The_cli_freezes_unfreezes_and_verifies_the_audit_chain_printing_what_it_did()
    {
        var unit = TestStorage.Unique("unit");
        await fixture.Server.Client("ci").Put($"/v1/units/{unit}", new { owner = "edge" });
        var token = ServerProcess.Tokens["oncall"].Token;

        var (frozen, said, _) = await Run("--token", token, "breakglass", "freeze", "--unit", unit, "--reason", "cli drill", "--ttl", "600");
        Assert.Equal(0, frozen);
        Assert.StartsWith($"frozen: {unit} by oncall until ", said);

        var (lifted, liftSaid, _) = await Run("--token", token, "breakglass", "unfreeze", "--unit", unit);
        Assert.Equal(0, lifted);
        Assert.Equal($"freeze lifted: {unit}; rollouts it paused resume", liftSaid.Trim());

        var (verified, verifySaid, _) = await Run("--token", token, "audit", "verify");
        Assert.Equal(0, verified);
        Assert.Matches(@"^audit chain verified: \d+ entries, every link holds", verifySaid);
    }

    [Fact]
    public async Task The_cli_reports_refusals_and_usage_errors_with_distinct_exit_codes()
    {
        var (noReason, _, errors) = await Run("--token", ServerProcess.Tokens["oncall"].Token, "breakglass", "rollback", "--unit", "anything");
        Assert.Equal(1, noReason);
        Assert.Equal("refused (400): reason is required for every break-glass action", errors.Trim());

        var (wrongScope, _, scopeErrors) = await Run("--token", ServerProcess.Tokens["ci"].Token, "breakglass", "freeze", "--reason", "x");
        Assert.Equal(1, wrongScope);
        Assert.StartsWith("refused (403):", scopeErrors);

        var (usage, _, usageErrors) = await Run("--token", "t", "nonsense");
        Assert.Equal(2, usage);
        Assert.Contains("usage: snapstone", usageErrors);
    }
}
