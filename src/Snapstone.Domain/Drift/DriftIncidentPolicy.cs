using System.Globalization;
using Snapstone.Domain.Incidents;

namespace Snapstone.Domain.Drift;

/// <summary>What the fleet's drift watcher remembers about its incident between checks. Persisted.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.DriftIncidentMemory")]
public sealed record DriftIncidentMemory
{
    public static readonly DriftIncidentMemory None = new();

    /// <summary>The drift incident being followed; null when there is none.</summary>
    [Id(0)] public string? Incident { get; init; }
    /// <summary>The share the incident's last automatic update named.</summary>
    [Id(1)] public double AnnouncedShare { get; init; }
    /// <summary>A person resolved the last incident while the fleet was still over the threshold: no new one until it falls under.</summary>
    [Id(2)] public bool Silenced { get; init; }
}

/// <summary>One check's outcome: what to remember, and at most one incident to open or one update to post.</summary>
public sealed record DriftIncidentStep
{
    public required DriftIncidentMemory Memory { get; init; }
    public Incident? Open { get; init; }
    public (IncidentStatus Status, string Message)? Update { get; init; }
}

/// <summary>
/// When fleet drift pages. Level-triggered: every check derives the one step from the counts, what was
/// remembered and the incident as it stands, so a missed or repeated check changes nothing.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>Over the threshold means more than <see cref="DriftSettings.IncidentShare"/> of the scanned nodes, and at
/// least <see cref="DriftSettings.IncidentMinNodes"/> nodes, are drifted or out of band. Stale nodes are not counted.</item>
/// <item>No open incident and over → open one (detected). One open drift incident at a time.</item>
/// <item>Open and over → an update only when the share moved by at least half the threshold since the last one.</item>
/// <item>Open and back under → monitoring; the incident's own quiet period resolves it. Over again while
/// monitoring → detected again, on the same incident.</item>
/// <item>Resolved by the quiet period → forgotten; the next breach opens a new incident. Resolved by a person while
/// still over → silenced until the share falls under the threshold: the person accepted this drift.</item>
/// </list>
/// </remarks>
public static class DriftIncidentPolicy
{
    /// <summary>What a drift incident names as its source, and the actor of its automatic updates.</summary>
    public const string Source = "drift";
    public const string Actor = "snapstone";
    internal const int MaxUnitsNamed = 10;
    internal const int MaxIncidentUnits = 20;

    /// <summary>Worked example, threshold 5 %, at least 3 nodes: 6 of 100 → over; 5 of 100 → not (not more than 5 %); 2 of 10 → not (too few nodes).</summary>
    public static bool Over(DriftCounts counts, DriftSettings settings) =>
        counts.Affected >= Math.Max(1, settings.IncidentMinNodes) && counts.Share > settings.IncidentShare;

    /// <summary>Whether the share moved enough to tell: by half the threshold (2.5 points at 5 %). Worked example: announced 8 %, now 10 % → no; 10.5 % or 5.5 % → yes.</summary>
    public static bool Material(double share, double announced, DriftSettings settings) =>
        Math.Abs(share - announced) >= settings.IncidentShare / 2 - 1e-9;

    /// <summary>
    /// The step for one check. <paramref name="incident"/> is the remembered incident as it stands (null when
    /// none is remembered, or it was never stored); <paramref name="newId"/> names an incident this step opens.
    /// </summary>
    public static DriftIncidentStep Decide(DriftIncidentMemory memory, Incident? incident, DriftCounts counts, DriftSettings settings,
        string newId, DateTimeOffset now)
    {
        var over = Over(counts, settings);
        if (memory.Incident is null || incident is not { IsOpen: true })
        {
            if (memory.Incident is not null && incident is { IsOpen: false })
            {
                memory = DriftIncidentMemory.None with { Silenced = over && ResolvedByPerson(incident) };
            }
            if (!over)
            {
                return Keep(DriftIncidentMemory.None);
            }
            if (memory.Silenced)
            {
                return Keep(memory);
            }
            // A remembered incident that was never stored is opened under its own id.
            var id = memory.Incident ?? newId;
            var opened = IncidentRules.Open(id, $"Drift on {Percent(counts.Share)} of the fleet", IncidentRules.SeverityOf(counts.Affected, counts.Nodes),
                [.. NamedUnits(counts).Take(MaxIncidentUnits)], Source, IncidentStatus.Detected, Describe(counts, settings), Actor, now);
            return new DriftIncidentStep { Memory = new DriftIncidentMemory { Incident = id, AnnouncedShare = counts.Share }, Open = opened };
        }
        var announced = memory with { AnnouncedShare = counts.Share };
        if (incident.Status == IncidentStatus.Monitoring)
        {
            return over ? Post(announced, IncidentStatus.Detected, "drift over the threshold again: " + Describe(counts, settings)) : Keep(memory);
        }
        if (!over)
        {
            return Post(announced, IncidentStatus.Monitoring,
                $"drift back under the {Percent(settings.IncidentShare)} threshold: {Summary(counts)}; resolves after a quiet period without new drift");
        }
        return Material(counts.Share, memory.AnnouncedShare, settings)
            ? Post(announced, incident.Status, "now " + Describe(counts, settings))
            : Keep(memory);

        static DriftIncidentStep Keep(DriftIncidentMemory memory) => new() { Memory = memory };
        static DriftIncidentStep Post(DriftIncidentMemory memory, IncidentStatus status, string message) => new() { Memory = memory, Update = (status, message) };
    }

    /// <summary>
    /// Worked example: <c>3 of 8 node(s) (37.5%) drifted or out of band (2 drifted, 1 out of band), over the 25% threshold;
    /// units: bot-features (3); 1 stale node(s) not counted</c>.
    /// </summary>
    public static string Describe(DriftCounts counts, DriftSettings settings)
    {
        var units = NamedUnits(counts).ToList();
        var named = string.Join(", ", units.Take(MaxUnitsNamed).Select(u => $"{u} ({counts.Units[u]})"));
        var more = units.Count > MaxUnitsNamed ? $" and {units.Count - MaxUnitsNamed} more" : "";
        var stale = counts.Stale > 0 ? $"; {counts.Stale} stale node(s) not counted" : "";
        return $"{Summary(counts)} ({counts.Drifted} drifted, {counts.OutOfBand} out of band), over the {Percent(settings.IncidentShare)} threshold; units: {named}{more}{stale}";
    }

    /// <summary><c>37.5%</c>, <c>5%</c>: invariant, at most one decimal.</summary>
    public static string Percent(double share) => (share * 100).ToString("0.#", CultureInfo.InvariantCulture) + "%";

    private static string Summary(DriftCounts counts) =>
        $"{counts.Affected} of {counts.Nodes} node(s) ({Percent(counts.Share)}) drifted or out of band";

    /// <summary>Units by how many nodes they affect, most first, then by name.</summary>
    private static IEnumerable<string> NamedUnits(DriftCounts counts) =>
        counts.Units.Where(u => u.Value > 0).OrderByDescending(u => u.Value).ThenBy(u => u.Key, StringComparer.Ordinal).Select(u => u.Key);

    private static bool ResolvedByPerson(Incident incident) => incident.Updates.Count > 0 && incident.Updates[^1].By != Actor;
}
