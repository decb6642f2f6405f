using System.Diagnostics;
using System.Text.Json.Nodes;
using Snapstone.Cli;
using Snapstone.Testing;

namespace Snapstone.Server.Tests;

/// <summary>
/// <c>snapstone</c> as people install it: <c>dotnet pack</c>, <c>dotnet tool install --tool-path</c> from that folder
/// only (no feed is asked), and the installed command run as its own process against the real server.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class CliToolTests(ServerFixture fixture) : IDisposable
{
    private readonly DirectoryInfo _work = Directory.CreateTempSubdirectory("snapstone-tool-");

    public void Dispose() => _work.Delete(recursive: true);

    [Fact]
    public async Task The_cli_packs_as_a_dotnet_tool_installs_from_a_folder_and_runs_as_snapstone()
    {
        // tests/X/bin/<Configuration>/net10.0: pack what the test run built, in the same configuration, without building again.
        var here = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var configuration = here.Parent!.Name;
        var root = here.Parent.Parent!.Parent!.Parent!.Parent!.FullName;
        var packages = Path.Combine(_work.FullName, "packages");
        var tools = Path.Combine(_work.FullName, "tools");
        var feed = Path.Combine(_work.FullName, "nuget.config");
        await File.WriteAllTextAsync(feed, $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration><packageSources><clear /><add key="local" value="{packages}" /></packageSources></configuration>
            """);

        var pack = await Exec("dotnet", "pack", Path.Combine(root, "src", "Snapstone.Cli", "Snapstone.Cli.csproj"), "--no-build", "-c", configuration, "-o", packages);
        Assert.True(pack.Code == 0, pack.ToString());
        Assert.Single(Directory.GetFiles(packages, "Snapstone.Cli.*.nupkg"));

        var install = await Exec("dotnet", "tool", "install", "Snapstone.Cli", "--tool-path", tools, "--configfile", feed);
        Assert.True(install.Code == 0, install.ToString());
        Assert.Contains("snapstone", install.Output);

        var snapstone = Path.Combine(tools, "snapstone");
        var help = await Exec(snapstone, "rollout", "start", "--help");
        Assert.True(help.Code == 0, help.ToString());
        Assert.Contains("snapstone rollout start <unit> <version> [options]", help.Output);
        Assert.Contains("--wait", help.Output);

        string[] connect = ["--server", fixture.Server.BaseAddress.ToString(), "--token", ServerProcess.Tokens["reader"].Token];
        var missing = TestStorage.Unique("nosuch");
        var unknown = await Exec(snapstone, [.. connect, "unit", "get", missing]);
        Assert.Equal(ExitCodes.Refused, unknown.Code);
        Assert.Equal($"error: 404 Not Found: unit '{missing}' is not defined", unknown.Errors.Trim());

        var fleet = await Exec(snapstone, [.. connect, "fleet", "--output", "json"]);
        Assert.True(fleet.Code == 0, fleet.ToString());
        Assert.IsType<JsonArray>(JsonNode.Parse(fleet.Output)!["pops"]);

        var usage = await Exec(snapstone, [.. connect, "fleet", "--bogus"]);
        Assert.Equal(ExitCodes.Usage, usage.Code);
        Assert.Contains("Unrecognized command or argument '--bogus'.", usage.Errors);
    }

    private static async Task<CliRun> Exec(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        // The tool must not pick up the machine's settings.
        foreach (var name in new[] { "SNAPSTONE_URL", "SNAPSTONE_TOKEN", "SNAPSTONE_PROFILE", "SNAPSTONE_CONFIG" })
        {
            start.Environment.Remove(name);
        }
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not exit within 120 s; output so far:\n{await output}\n{await errors}");
        }
        return new CliRun(process.ExitCode, await output, await errors);
    }
}
