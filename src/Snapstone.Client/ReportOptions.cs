using Snapstone.Domain.Health;

namespace Snapstone.Client;

/// <summary>
/// How much traffic one report may claim (section <c>Snapstone:Nodes</c>, beside the membership limits). A report past
/// the ceiling is refused in its slot (400 for a single report) naming <c>metrics.requests</c> and the limit
/// (<see cref="TrafficCeiling"/>); the judge's cap on a node's weight stays as the second line.
/// </summary>
public sealed class ReportOptions
{
    public const string Section = "Snapstone:Nodes";

    /// <summary>Requests a second a report may claim, over its <c>intervalSeconds</c>.</summary>
    public double MaxRequestsPerSecond { get; set; } = TrafficCeiling.DefaultMaxRequestsPerSecond;

    /// <summary>Null when the settings are sound; else what is wrong, naming the key.</summary>
    public string? Problem() =>
        double.IsFinite(MaxRequestsPerSecond) && MaxRequestsPerSecond >= 1
            ? null
            : $"{Section}:MaxRequestsPerSecond must be a finite number of 1 or more (got {MaxRequestsPerSecond})";
}
