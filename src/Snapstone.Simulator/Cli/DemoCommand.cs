using Microsoft.Extensions.Logging;
using Snapstone.Simulator.Demo;

namespace Snapstone.Simulator.Cli;

/// <summary>
/// <c>demo</c>: a fleet plus a scripted good-then-bad rollout, against a running Snapstone (<c>--server</c>)
/// or, by default, against one it builds, starts and stops itself.
/// </summary>
internal static class DemoCommand
{
    public const string Usage = """
          demo [--server URL --token TOKEN [--agent-token TOKEN] [--approver-token TOKEN]] [--scenario features|killswitch|latency]
               [--nodes 1000] [--pops 20] [--seed 1] [--bake 5] [--baseline 5] [--log warning]
            Without --server: builds src/Snapstone.Server, starts it on free loopback ports with embedded
            storage in a temporary folder and tokens of its own, runs the demo and stops it (also on Ctrl-C).
            The first start installs Azurite from npm. Run it from the repository.
            With --server: TOKEN needs the deploy and read scopes (and agent, unless --agent-token is
            given for the fleet). A high-risk rollout waits for approval by a second token with the
            approve scope: --approver-token (the demo's own server has one).
        """;

    public static async Task<int> ExecuteAsync(Arguments args, CancellationToken cancellationToken)
    {
        var serverText = args.Text("server");
        var token = args.Text("token");
        var agentToken = args.Text("agent-token");
        var approverToken = args.Text("approver-token");
        Uri? server = null;
        if (serverText is null)
        {
            if (token is not null || agentToken is not null || approverToken is not null)
            {
                throw new UsageException("--token, --agent-token and --approver-token go with --server; without it the demo starts a Snapstone with tokens of its own");
            }
        }
        else
        {
            if (!Uri.TryCreate(serverText, UriKind.Absolute, out server))
            {
                throw new UsageException($"--server must be an absolute URL like http://127.0.0.1:5080 (got '{serverText}')");
            }
            if (token is null)
            {
                throw new UsageException("--token is required with --server");
            }
        }
        var scenarioName = args.Text("scenario") ?? "features";
        if (!DemoScenario.Names.Contains(scenarioName))
        {
            throw new UsageException($"--scenario must be one of {string.Join(", ", DemoScenario.Names)} (got '{scenarioName}')");
        }
        var scenario = DemoScenario.Named(scenarioName, DemoScript.PlanName);
        var bake = args.Number("bake", 5);
        var baseline = args.Number("baseline", 5.0);
        if (bake < 1 || !(baseline >= 0))
        {
            throw new UsageException($"--bake must be 1 or more seconds and --baseline 0 or more (got {bake} and {baseline})");
        }
        var logLevel = FleetArguments.LogLevel(args);
        // A fresh server registers nodes at a few hundred per second; 1000 keeps the demo near a minute.
        var options = FleetArguments.Read(args, defaultNodes: 1000) with
        {
            Consumers = new Dictionary<string, Consumers.IConsumer> { [scenario.Unit] = scenario.Consumer },
            OtherUnits = null,
        };
        FleetArguments.Check(options);
        args.RejectUnknown();

        ServerLauncher? launched = null;
        try
        {
            if (server is null)
            {
                launched = await ServerLauncher.StartAsync(new ServerLaunchOptions(), Console.Out, cancellationToken);
                server = launched.BaseAddress;
                token = launched.AdminToken;
                agentToken = launched.AgentToken;
                approverToken = launched.ApproverToken;
            }
            return await RunScriptAsync(server, token!, approverToken, options with { Token = agentToken ?? token }, scenario, bake, baseline, logLevel, cancellationToken);
        }
        catch (ServerLaunchException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
        catch (ControlPlaneException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
        catch (HttpRequestException e)
        {
            Console.Error.WriteLine($"error: cannot reach Snapstone at {server}: {e.Message}");
            return 1;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Console.Error.WriteLine("interrupted");
            return 130;
        }
        finally
        {
            if (launched is not null)
            {
                await launched.DisposeAsync();
                Console.WriteLine("server stopped");
            }
        }
    }

    private static async Task<int> RunScriptAsync(
        Uri server, string token, string? approverToken, FleetOptions options, DemoScenario scenario, int bake, double baseline, LogLevel logLevel, CancellationToken cancellationToken)
    {
        var time = TimeProvider.System;
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = options.MaxConcurrentRequests })
        {
            BaseAddress = server,
            Timeout = TimeSpan.FromSeconds(30),
        };
        var fleet = new Fleet(options, http, time, new ConsoleLogger(logLevel, time));
        var script = new DemoScript(fleet, new ControlPlane(http, token), scenario, time, Console.Out)
        {
            BakeSeconds = bake,
            Baseline = TimeSpan.FromSeconds(baseline),
            Approver = approverToken is null ? null : new ControlPlane(http, approverToken),
        };
        return await script.RunAsync(cancellationToken);
    }
}
