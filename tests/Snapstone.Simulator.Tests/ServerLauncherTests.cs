using Snapstone.Simulator.Cli;

namespace Snapstone.Simulator.Tests;

public sealed class ServerLauncherTests
{
    [Fact]
    public void The_server_gets_loopback_ports_its_own_data_folder_and_tokens_that_stay_out_of_the_process_list()
    {
        var start = ServerLauncher.StartInfo("/repo/src/Snapstone.Server/bin/Release/net10.0/Snapstone.Server.dll", "/tmp/run-1", 5123,
            "admin-token-0123456789", "agent-token-0123456789", new Dictionary<string, string> { ["Logging:LogLevel:Default"] = "Warning" });

        var arguments = start.ArgumentList.ToList();
        Assert.Equal("dotnet", start.FileName);
        Assert.Equal("/repo/src/Snapstone.Server/bin/Release/net10.0", start.WorkingDirectory);
        Assert.Equal("/repo/src/Snapstone.Server/bin/Release/net10.0/Snapstone.Server.dll", arguments[0]);
        Assert.Equal(["--urls", "http://127.0.0.1:5123"], arguments[1..3]);
        Assert.Contains("--Snapstone:DataDirectory=/tmp/run-1/data", arguments);
        Assert.Contains(arguments, a => a.StartsWith("--Snapstone:Cluster:SiloPort=", StringComparison.Ordinal));
        Assert.Contains(arguments, a => a.StartsWith("--Snapstone:Cluster:GatewayPort=", StringComparison.Ordinal));
        Assert.Equal(
            ["--Snapstone:Auth:Tokens:0:Name=demo", "--Snapstone:Auth:Tokens:0:Scopes:0=admin", "--Snapstone:Auth:Tokens:1:Name=fleet", "--Snapstone:Auth:Tokens:1:Scopes:0=agent"],
            arguments.Where(a => a.StartsWith("--Snapstone:Auth", StringComparison.Ordinal)));
        Assert.Equal("--Logging:LogLevel:Default=Warning", arguments[^1]);
        Assert.DoesNotContain(arguments, a => a.Contains("token-0123456789", StringComparison.Ordinal));
        Assert.Equal("admin-token-0123456789", start.Environment["Snapstone__Auth__Tokens__0__Token"]);
        Assert.Equal("agent-token-0123456789", start.Environment["Snapstone__Auth__Tokens__1__Token"]);
        Assert.DoesNotContain(arguments, a => a.StartsWith("--Snapstone:Storage", StringComparison.Ordinal));
    }

    [Fact]
    public void A_second_token_may_approve_and_read_and_stays_out_of_the_process_list()
    {
        var start = ServerLauncher.StartInfo("/x/Snapstone.Server.dll", "/tmp/run-3", 5125, "a-token-0123456789", "b-token-0123456789",
            new Dictionary<string, string>(), "c-token-0123456789");

        var arguments = start.ArgumentList.ToList();
        Assert.Equal(
            ["--Snapstone:Auth:Tokens:2:Name=approver", "--Snapstone:Auth:Tokens:2:Scopes:0=approve", "--Snapstone:Auth:Tokens:2:Scopes:1=read"],
            arguments.Where(a => a.StartsWith("--Snapstone:Auth:Tokens:2", StringComparison.Ordinal)));
        Assert.DoesNotContain(arguments, a => a.Contains("c-token-0123456789", StringComparison.Ordinal));
        Assert.Equal("c-token-0123456789", start.Environment["Snapstone__Auth__Tokens__2__Token"]);
    }

    [Fact]
    public void Settings_from_our_own_environment_do_not_leak_into_the_server()
    {
        Environment.SetEnvironmentVariable("Snapstone__Storage__ConnectionString", "UseDevelopmentStorage=true");
        Environment.SetEnvironmentVariable("ASPNETCORE_URLS", "http://0.0.0.0:80");
        try
        {
            var start = ServerLauncher.StartInfo("/x/Snapstone.Server.dll", "/tmp/run-2", 5124, "a-token-0123456789", "b-token-0123456789",
                new Dictionary<string, string>());

            Assert.False(start.Environment.ContainsKey("Snapstone__Storage__ConnectionString"));
            Assert.False(start.Environment.ContainsKey("ASPNETCORE_URLS"));
        }
        finally
        {
            Environment.SetEnvironmentVariable("Snapstone__Storage__ConnectionString", null);
            Environment.SetEnvironmentVariable("ASPNETCORE_URLS", null);
        }
    }

    [Fact]
    public void The_repository_is_found_above_the_working_directory()
    {
        var root = ServerLauncher.FindRepositoryRoot();

        Assert.True(File.Exists(Path.Combine(root, ServerLauncher.ServerProject)), $"{root} holds no {ServerLauncher.ServerProject}");
    }
}
