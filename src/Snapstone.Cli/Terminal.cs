using Spectre.Console;

namespace Snapstone.Cli;

/// <summary>
/// Where the CLI writes and what it may assume about the screen: standard output and error, each as a Spectre
/// console, whether a live display may redraw in place, and the environment it reads. Tests build one over
/// string writers; <see cref="System"/> is the real terminal.
/// </summary>
public sealed class Terminal
{
    /// <summary>Columns used when output is not a terminal: a CI log or a pipe keeps each verdict's reasons on one line.</summary>
    public const int RedirectedWidth = 4096;

    private Terminal(TextWriter output, TextWriter error, bool live, Func<string, string?> environment)
    {
        OutputWriter = output;
        ErrorWriter = error;
        Live = live;
        Environment = environment;
        Out = Console(output, live);
    }

    public TextWriter OutputWriter { get; }
    public TextWriter ErrorWriter { get; }

    /// <summary>Standard output as a Spectre console (colours and redraws only on a terminal).</summary>
    public IAnsiConsole Out { get; }

    /// <summary>Whether standard output is an interactive terminal, so a live display may redraw in place.</summary>
    public bool Live { get; }

    public Func<string, string?> Environment { get; }

    /// <summary>
    /// The process's own console and environment. Live redraws only on a terminal, and never where <c>CI</c> is set:
    /// some CI runners give jobs a pseudo-terminal, and a log full of redraws reads as noise.
    /// </summary>
    public static Terminal System() => new(
        global::System.Console.Out, global::System.Console.Error,
        live: !global::System.Console.IsOutputRedirected
            && global::System.Environment.GetEnvironmentVariable("TERM") != "dumb"
            && string.IsNullOrEmpty(global::System.Environment.GetEnvironmentVariable("CI")),
        global::System.Environment.GetEnvironmentVariable);

    /// <summary>Writers that are not a terminal (plain lines, no colour), with the given environment.</summary>
    public static Terminal Redirected(TextWriter output, TextWriter error, IReadOnlyDictionary<string, string>? environment = null) =>
        new(output, error, live: false, name => environment is not null && environment.TryGetValue(name, out var value) ? value : null);

    private static IAnsiConsole Console(TextWriter writer, bool live)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = live ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = live ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = live ? InteractionSupport.Detect : InteractionSupport.No,
            Out = new AnsiConsoleOutput(writer),
        });
        if (!live)
        {
            console.Profile.Width = RedirectedWidth;
        }
        return console;
    }
}
