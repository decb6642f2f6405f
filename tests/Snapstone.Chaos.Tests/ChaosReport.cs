using System.Globalization;
using System.Text;

namespace Snapstone.Chaos.Tests;

/// <summary>One fault's line in the suite's table.</summary>
public sealed record ChaosRow
{
    public required string Fault { get; init; }
    /// <summary>Each rollout of the scenario and how it ended, e.g. <c>good v2: completed (3 waves)</c>.</summary>
    public required string Outcome { get; init; }
    /// <summary>How many times each wave started, e.g. <c>1/1/1</c>.</summary>
    public required string WavesStarted { get; init; }
    /// <summary>For a bad package: from its first report to every touched node confirmed back; "–" without one.</summary>
    public required string TimeToSafe { get; init; }
    /// <summary>Where the rollout grain lived, e.g. <c>silo 1 → silo 0</c>.</summary>
    public required string Hosts { get; init; }
    public required string Answers { get; init; }
    public required string Batches { get; init; }
    public required string Passed { get; init; }
    public required TimeSpan Duration { get; init; }
    public string Notes { get; init; } = "";
}

/// <summary>
/// The suite's table: every fault's outcome and time to safe, kept in memory and written, after each scenario, to
/// <c>SNAPSTONE_CHAOS_REPORT</c> (which <c>.ci/run</c> prints) or else <c>chaos-report.md</c> beside the test assembly.
/// </summary>
public sealed class ChaosReport(string topology)
{
    private readonly List<ChaosRow> _rows = [];

    public static string FilePath =>
        Environment.GetEnvironmentVariable("SNAPSTONE_CHAOS_REPORT") is { Length: > 0 } path ? path : Path.Combine(AppContext.BaseDirectory, "chaos-report.md");

    public string Add(ChaosRow row)
    {
        string table;
        lock (_rows)
        {
            _rows.Add(row);
            table = Render();
        }
        try
        {
            File.WriteAllText(FilePath, table);
        }
        catch (IOException)
        {
        }
        return table;
    }

    private string Render()
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"Chaos suite, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC: {topology}");
        text.AppendLine(CultureInfo.InvariantCulture, $"load average {LoadAverage()}");
        text.AppendLine();
        text.AppendLine("| fault | outcome | waves started | time to safe | rollout grain on | gateway answers | report batches sent / retried / lost | promises | took |");
        text.AppendLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        foreach (var r in _rows)
        {
            text.AppendLine(CultureInfo.InvariantCulture,
                $"| {r.Fault} | {r.Outcome} | {r.WavesStarted} | {r.TimeToSafe} | {r.Hosts} | {r.Answers} | {r.Batches} | {r.Passed} | {r.Duration.TotalSeconds:0} s |");
        }
        foreach (var r in _rows.Where(r => r.Notes.Length > 0))
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"- {r.Fault}: {r.Notes}");
        }
        return text.ToString();
    }

    public static string LoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "unknown";
        }
    }
}
