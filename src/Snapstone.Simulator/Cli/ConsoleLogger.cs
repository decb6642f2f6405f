using Microsoft.Extensions.Logging;

namespace Snapstone.Simulator.Cli;

/// <summary>Log lines to standard error, so the summary lines on standard output stay readable.</summary>
internal sealed class ConsoleLogger(LogLevel minimum, TimeProvider time) : ILogger
{
    private readonly object _sync = new();

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= minimum && logLevel != LogLevel.None;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (!IsEnabled(logLevel))
        {
            return;
        }
        var line = $"{time.GetUtcNow():HH:mm:ss} {Short(logLevel)} {formatter(state, exception)}";
        lock (_sync)
        {
            Console.Error.WriteLine(line);
            if (exception is not null)
            {
                Console.Error.WriteLine(exception);
            }
        }
    }

    private static string Short(LogLevel level) => level switch
    {
        LogLevel.Trace => "trce",
        LogLevel.Debug => "dbug",
        LogLevel.Information => "info",
        LogLevel.Warning => "warn",
        LogLevel.Error => "fail",
        _ => "crit",
    };
}
