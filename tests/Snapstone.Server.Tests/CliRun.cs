using System.Text.Json.Nodes;
using Snapstone.Cli;

namespace Snapstone.Server.Tests;

/// <summary>What one <c>snapstone</c> invocation did: its exit code and everything it wrote.</summary>
public sealed record CliRun(int Code, string Output, string Errors)
{
    /// <summary>Standard output as the one JSON document <c>--output json</c> promises; fails the test if it is not.</summary>
    public JsonNode Json()
    {
        try
        {
            return JsonNode.Parse(Output) ?? throw new Xunit.Sdk.XunitException($"standard output was JSON null\n{this}");
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new Xunit.Sdk.XunitException($"standard output is not one JSON document ({e.Message})\n{this}");
        }
    }

    public override string ToString() => $"exit {Code}\n--- stdout\n{Output}\n--- stderr\n{Errors}";

    /// <summary>
    /// Runs the CLI in this process, as a redirected terminal would see it, with only <paramref name="environment"/>
    /// for an environment (never the machine's, so a SNAPSTONE_TOKEN on the test host changes nothing).
    /// </summary>
    public static Task<CliRun> Of(IReadOnlyDictionary<string, string>? environment, params string[] args) =>
        Start(environment, args).Completion;

    /// <summary>Starts the CLI in this process without waiting for it, so a test can read its output as it is written.</summary>
    public static RunningCli Start(IReadOnlyDictionary<string, string>? environment, params string[] args) => new(environment, args);
}

/// <summary>A <c>snapstone</c> invocation still running, whose output can be read while it goes on.</summary>
public sealed class RunningCli
{
    private readonly StringWriter _output = new();
    private readonly StringWriter _errors = new();
    private readonly TextWriter _syncOutput;
    private readonly TextWriter _syncErrors;

    public RunningCli(IReadOnlyDictionary<string, string>? environment, string[] args)
    {
        // The watcher writes from its stream listener as well as its poll loop.
        _syncOutput = TextWriter.Synchronized(_output);
        _syncErrors = TextWriter.Synchronized(_errors);
        Completion = RunAsync(environment, args);
    }

    public Task<CliRun> Completion { get; }

    /// <summary>Standard output so far.</summary>
    public string Output
    {
        get { lock (_syncOutput) return _output.ToString(); }
    }

    private async Task<CliRun> RunAsync(IReadOnlyDictionary<string, string>? environment, string[] args)
    {
        await Task.Yield();
        var code = await CommandLine.RunAsync(args, Terminal.Redirected(_syncOutput, _syncErrors, environment));
        lock (_syncOutput)
        lock (_syncErrors)
        {
            return new CliRun(code, _output.ToString(), _errors.ToString());
        }
    }
}
