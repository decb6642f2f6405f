using Microsoft.Extensions.Logging;
using Snapstone.Simulator.Demo;

namespace Snapstone.Simulator.Cli;

/// <summary><c>demo</c>: a fleet plus a scripted good-then-bad rollout against a running Snapstone.</summary>
internal static class DemoCommand
{
    public const string Usage = """
          demo --server URL --token TOKEN [--agent-token TOKEN] [--scenario features|killswitch|latency]
               [--nodes 2000] [--pops 20] [--seed 1] [--bake 20] [--baseline 10] [--log warning]
            Needs a running Snapstone; TOKEN needs the deploy and read scopes (and agent, unless
            --agent-token is given for the fleet).
        """;

    public static async Task<int> ExecuteAsync(Arguments args, CancellationToken cancellationToken)
    {
        var server = new Uri(args.RequiredText("server"), UriKind.Absolute);
        var token = args.RequiredText("token");
        var agentToken = args.Text("agent-token") ?? token;
        var scenarioName = args.Text("scenario") ?? "features";
        if (!DemoScenario.Names.Contains(scenarioName))
        {
            throw new UsageException($"--scenario must be one of {string.Join(", ", DemoScenario.Names)} (got '{scenarioName}')");
        }
        var scenario = DemoScenario.Named(scenarioName, DemoScript.PlanName);
        var bake = args.Number("bake", 20);
        var baseline = args.Number("baseline", 10.0);
        var logLevel = FleetArguments.LogLevel(args);
        var options = FleetArguments.Read(args) with
        {
            Consumers = new Dictionary<string, Consumers.IConsumer> { [scenario.Unit] = scenario.Consumer },
            OtherUnits = null,
            Token = agentToken,
        };
        FleetArguments.Check(options);
        args.RejectUnknown();

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
        };
        try
        {
            return await script.RunAsync(cancellationToken);
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
    }
}
