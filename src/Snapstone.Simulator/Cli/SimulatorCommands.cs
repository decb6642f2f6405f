namespace Snapstone.Simulator.Cli;

/// <summary>Picks the command named first on the command line; each command lives in its own class.</summary>
internal static class SimulatorCommands
{
    private const string Usage = """
        Snapstone fleet simulator

        usage: snapstone-simulator COMMAND [--option value ...]

        """;

    public static async Task<int> RunAsync(string[] args)
    {
        using var cancel = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            cancel.Cancel();
        };
        if (args.Length == 0 || args[0] is "help" or "--help" or "-h")
        {
            return Help(Console.Out, args.Length == 0 ? 2 : 0);
        }
        try
        {
            var parsed = Arguments.Parse(args);
            return parsed.Command switch
            {
                "run" => await RunCommand.ExecuteAsync(parsed, cancel.Token),
                "demo" => await DemoCommand.ExecuteAsync(parsed, cancel.Token),
                _ => throw new UsageException($"unknown command '{parsed.Command}'"),
            };
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return Help(Console.Error, 2);
        }
    }

    private static int Help(TextWriter writer, int exitCode)
    {
        writer.WriteLine(Usage + RunCommand.Usage + Environment.NewLine + DemoCommand.Usage);
        return exitCode;
    }
}
