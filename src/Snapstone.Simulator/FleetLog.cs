using Microsoft.Extensions.Logging;

namespace Snapstone.Simulator;

internal static partial class FleetLog
{
    [LoggerMessage(Level = LogLevel.Debug, Message = "Report batch for {Pop} ({Reports} reports) lost after {Attempts} attempts: {Reason}")]
    public static partial void BatchFailed(ILogger logger, string pop, int reports, int attempts, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Attempt {Attempt} of the {What} failed: {Reason}")]
    public static partial void AttemptFailed(ILogger logger, string what, int attempt, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Gateway {Gateway} failed ({Reason}); the fleet tries the others first for {Seconds} s")]
    public static partial void GatewayAvoided(ILogger logger, Uri gateway, double seconds, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Gateway {Gateway} answers again")]
    public static partial void GatewayBack(ILogger logger, Uri gateway);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Failed} of {Batches} report batches failed this tick; first: {First}")]
    public static partial void BatchesFailed(ILogger logger, int failed, int batches, string first);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Count} reports refused this tick; first: node {Node}: {Error}")]
    public static partial void ReportsRefused(ILogger logger, int count, string node, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Desired state for node {Node} unit {Unit} ignored: {Reason}")]
    public static partial void DesiredIgnored(ILogger logger, string node, string unit, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Content of {Unit} v{Version} from {Url} not fetched: {Reason}")]
    public static partial void ContentFailed(ILogger logger, string unit, long version, string url, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Fetched {Unit} v{Version} ({Bytes} bytes, sha256 {Sha256})")]
    public static partial void ContentFetched(ILogger logger, string unit, long version, int bytes, string sha256);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Count} nodes {Verdict} {Unit} v{Version}: {Detail}")]
    public static partial void Consumed(ILogger logger, int count, string verdict, string unit, long version, string detail);

    [LoggerMessage(Level = LogLevel.Error, Message = "Tick failed; the fleet keeps running")]
    public static partial void TickFailed(ILogger logger, Exception exception);
}
