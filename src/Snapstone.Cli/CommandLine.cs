using System.CommandLine;
using System.CommandLine.Invocation;
using System.Text.Json.Nodes;
using Snapstone.Cli.Commands;
using Spectre.Console;

namespace Snapstone.Cli;

/// <summary>
/// <c>snapstone</c>: the command tree, the options every command takes, and the one place where failures become
/// exit codes (<see cref="ExitCodes"/>) and messages.
/// </summary>
public static class CommandLine
{
    public static async Task<int> RunAsync(string[] args, Terminal terminal, CancellationToken ct = default)
    {
        var root = Build(terminal);
        var parse = root.Parse(args);
        var config = new InvocationConfiguration
        {
            Output = terminal.OutputWriter,
            Error = terminal.ErrorWriter,
            EnableDefaultExceptionHandler = false,
        };
        if (parse.Errors.Count > 0)
        {
            if (parse.Action is ParseErrorAction errors)
            {
                errors.ShowHelp = false;
                errors.ShowTypoCorrections = true;
            }
            // The parse errors and any "did you mean" go to standard error: standard output stays for results.
            await parse.InvokeAsync(new InvocationConfiguration { Output = terminal.ErrorWriter, Error = terminal.ErrorWriter }, ct);
            await terminal.ErrorWriter.WriteLineAsync($"usage: {Usage(parse.CommandResult.Command)}");
            await terminal.ErrorWriter.WriteLineAsync($"run '{Path(parse.CommandResult.Command)} --help' for every option");
            return ExitCodes.Usage;
        }
        return await parse.InvokeAsync(config, ct);
    }

    public static RootCommand Build(Terminal terminal)
    {
        var context = new CommandContext(new GlobalOptions(), terminal);
        var root = new RootCommand(
            "Snapstone from a terminal or a CI job: units, packages, rollouts, incidents, drift and break-glass over the HTTP gateway.\n" +
            "Server and token: --server/--token, else --profile, else SNAPSTONE_URL/SNAPSTONE_TOKEN, else the default profile\n" +
            "of $SNAPSTONE_CONFIG or ~/.config/snapstone/config.json. Exit codes: 0 done or completed, 1 server unreachable or failed,\n" +
            "2 usage, 3 refused (4xx), 4 check failed, 10 rolled back, 11 paused, 12 aborted, 13 timed out.");
        context.Options.AddTo(root);
        root.Add(UnitCommands.Build(context));
        root.Add(PlanCommands.Build(context));
        root.Add(PackageCommands.Build(context));
        root.Add(RolloutCommands.Build(context));
        root.Add(IncidentCommands.Build(context));
        root.Add(FleetCommands.BuildDrift(context));
        root.Add(FleetCommands.BuildFleet(context));
        root.Add(BreakGlassCommands.Build(context));
        root.Add(AuditCommands.Build(context));
        return root;
    }

    /// <summary><c>snapstone rollout start &lt;unit&gt; &lt;version&gt; --reason &lt;reason&gt; [options]</c>: the shape of a command in one line.</summary>
    public static string Usage(Command command)
    {
        var parts = new List<string> { Path(command) };
        if (command.Subcommands.Count > 0 && command.Action is null)
        {
            parts.Add($"<{string.Join('|', command.Subcommands.Where(s => !s.Hidden).Select(s => s.Name))}>");
        }
        parts.AddRange(command.Arguments.Where(a => !a.Hidden).Select(a => $"<{a.Name}>"));
        parts.AddRange(command.Options.Where(o => o.Required).Select(o => $"{o.Name} <{o.HelpName ?? o.Name.TrimStart('-')}>"));
        parts.Add("[options]");
        return string.Join(' ', parts);
    }

    private static string Path(Command command)
    {
        var names = new Stack<string>();
        for (Symbol? at = command; at is Command c; at = c.Parents.FirstOrDefault())
        {
            names.Push(c is RootCommand ? "snapstone" : c.Name);
        }
        return string.Join(' ', names);
    }
}

/// <summary>The options every command takes, wherever they stand on the line.</summary>
public sealed class GlobalOptions
{
    public Option<string?> Server { get; } = new("--server", "-s")
    {
        Description = $"the gateway's URL (else the profile, SNAPSTONE_URL, or {Connection.DefaultServer})",
        HelpName = "url",
        Recursive = true,
    };

    public Option<string?> Token { get; } = new("--token")
    {
        Description = "the bearer token (else the profile or SNAPSTONE_TOKEN)",
        HelpName = "token",
        Recursive = true,
    };

    public Option<string?> Profile { get; } = new("--profile")
    {
        Description = "a profile of the profile file ($SNAPSTONE_CONFIG, else ~/.config/snapstone/config.json)",
        HelpName = "name",
        Recursive = true,
    };

    public Option<string> Output { get; } = new Option<string>("--output", "-o")
    {
        Description = "text for people, json for machines (one JSON document on standard output)",
        HelpName = "text|json",
        DefaultValueFactory = _ => "text",
        Recursive = true,
    }.AcceptOnlyFromAmong("text", "json");

    public void AddTo(RootCommand root)
    {
        root.Add(Server);
        root.Add(Token);
        root.Add(Profile);
        root.Add(Output);
    }
}

/// <summary>What command builders share: the global options, the terminal, and how an action is run.</summary>
public sealed class CommandContext(GlobalOptions options, Terminal terminal)
{
    public GlobalOptions Options { get; } = options;
    public Terminal Terminal { get; } = terminal;

    /// <summary>
    /// Makes <paramref name="action"/> the command's action: it gets a <see cref="Session"/> connected to the gateway,
    /// and whatever it throws is printed and mapped to an exit code here, the same way for every command.
    /// </summary>
    public void Run(Command command, Func<Session, ParseResult, CancellationToken, Task<int>> action) =>
        command.SetAction(async (parse, ct) =>
        {
            var json = parse.GetValue(Options.Output) == "json";
            Uri? server = null;
            try
            {
                var connection = Connection.Resolve(parse.GetValue(Options.Server), parse.GetValue(Options.Token), parse.GetValue(Options.Profile), Terminal.Environment);
                server = connection.Server;
                using var session = new Session(Terminal, json, new Gateway(connection.Server, connection.Token));
                return await action(session, parse, ct);
            }
            catch (UsageError e)
            {
                return Fail(ExitCodes.Usage, $"error: {e.Message}\nusage: {CommandLine.Usage(command)}");
            }
            catch (Refusal e)
            {
                var lines = new List<string> { $"error: {e.Status} {e.Title}: {e.Detail}" };
                lines.AddRange(e.Errors.Where(x => x != e.Detail).Select(x => $"  - {x}"));
                return Fail(ExitCodes.Refused, string.Join('\n', lines));
            }
            catch (GatewayFailure e)
            {
                return Fail(ExitCodes.Error, $"error: {e.Message}");
            }
            catch (HttpRequestException e)
            {
                return Fail(ExitCodes.Error, $"error: cannot reach Snapstone at {server}: {e.Message}");
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return Fail(ExitCodes.Interrupted, "interrupted");
            }
        });

    private int Fail(int code, string message)
    {
        Terminal.ErrorWriter.WriteLine(message);
        return code;
    }
}

/// <summary>One invocation: the gateway it talks to and how it prints (text for people, one JSON document for machines).</summary>
public sealed class Session(Terminal terminal, bool json, Gateway gateway) : IDisposable
{
    public Terminal Terminal { get; } = terminal;
    public Gateway Gateway { get; } = gateway;
    /// <summary><c>--output json</c>: one JSON document on standard output, progress on standard error.</summary>
    public bool AsJson { get; } = json;
    public IAnsiConsole Out => Terminal.Out;

    /// <summary>Prints the result: <paramref name="document"/> as is with <c>--output json</c>, else <paramref name="text"/>.</summary>
    public int Emit(JsonNode document, Action<IAnsiConsole> text, int code = ExitCodes.Ok)
    {
        if (AsJson)
        {
            Terminal.OutputWriter.WriteLine(document.ToJsonString(Snapstone.Cli.Json.Output));
        }
        else
        {
            text(Out);
        }
        Terminal.OutputWriter.Flush();
        return code;
    }

    /// <summary>
    /// A line of progress while waiting: on standard output for people, on standard error with <c>--output json</c>
    /// so standard output stays one parseable document.
    /// </summary>
    public void Progress(string line)
    {
        var writer = AsJson ? Terminal.ErrorWriter : Terminal.OutputWriter;
        writer.WriteLine(line);
        writer.Flush();
    }

    public void Dispose() => Gateway.Dispose();
}
