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
    public static async Task<CliRun> Of(IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var output = new StringWriter();
        var errors = new StringWriter();
        // The watcher writes from its stream listener as well as its poll loop.
        var code = await CommandLine.RunAsync(args, Terminal.Redirected(TextWriter.Synchronized(output), TextWriter.Synchronized(errors), environment));
        return new CliRun(code, output.ToString(), errors.ToString());
    }
}
