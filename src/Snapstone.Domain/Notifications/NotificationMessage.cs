using System.Globalization;
using System.Text.Json;
using Snapstone.Domain.Incidents;
using Snapstone.Domain.Rollouts;

namespace Snapstone.Domain.Notifications;

/// <summary>
/// Where people open Snapstone's console, for links in messages: <c>{base}/console/rollouts/{id}</c> and
/// <c>{base}/console/incidents/{id}</c>. Without a base (none configured) messages carry no link.
/// </summary>
public sealed record ConsoleLinks(Uri? Base)
{
    public static readonly ConsoleLinks None = new((Uri?)null);

    /// <summary>From configuration: an absolute http(s) URL, or nothing (an unusable value gives no links, never a broken one).</summary>
    public static ConsoleLinks From(string? publicUrl) =>
        Uri.TryCreate(publicUrl?.TrimEnd('/'), UriKind.Absolute, out var uri) && uri.Scheme is "https" or "http" ? new ConsoleLinks(uri) : None;

    public string? Rollout(string id) => Path($"console/rollouts/{Uri.EscapeDataString(id)}");

    public string? Incident(string id) => Path($"console/incidents/{Uri.EscapeDataString(id)}");

    private string? Path(string path) => Base is null ? null : $"{Base.AbsoluteUri.TrimEnd('/')}/{path}";
}

/// <summary>How an event reads for a person, whatever the channel: the renderers only lay this out.</summary>
public sealed record NotificationMessage(string Title, string Summary, IReadOnlyList<(string Name, string Value)> Facts, string? Link, MessageTone Tone)
{
    public static NotificationMessage Of(NotificationEvent e, ConsoleLinks links)
    {
        if (e.Rollout is { } r)
        {
            var subject = $"Rollout {r.Id} of {r.Unit} v{r.Version}";
            var wave = r.WaveCount > 0 ? $"'{r.Wave}' ({r.WaveIndex + 1} of {r.WaveCount})" : "none";
            var (title, tone) = e.Type switch
            {
                NotificationEventType.RolloutStarted => ($"{subject} started", MessageTone.Neutral),
                NotificationEventType.RolloutAwaitingApproval => ($"{subject} awaits approval for wave '{r.Wave}'", MessageTone.Warning),
                NotificationEventType.RolloutWavePassed => ($"{subject} passed wave '{r.Wave}'", MessageTone.Good),
                NotificationEventType.RolloutPaused => ($"{subject} paused", MessageTone.Warning),
                NotificationEventType.RolloutRolledBack => ($"{subject} rolled back", MessageTone.Bad),
                NotificationEventType.RolloutAborted => ($"{subject} aborted", MessageTone.Warning),
                _ => ($"{subject} completed", MessageTone.Good),
            };
            return new NotificationMessage(title, r.Message,
            [
                ("Unit", r.Unit),
                ("Version", r.PreviousVersion is { } from ? $"v{from} → v{r.Version}" : $"v{r.Version} (first package)"),
                ("State", RolloutCommands.Describe(r.State)),
                ("Wave", wave),
                ("Rollout", r.Id),
            ], links.Rollout(r.Id), tone);
        }
        var i = e.Incident ?? throw new ArgumentException($"event {e.Id} names neither a rollout nor an incident", nameof(e));
        var severity = Wire(i.Severity).ToUpperInvariant();
        var what = e.Type == NotificationEventType.DriftIncident ? "Drift incident" : "Incident";
        var (verb, incidentTone) = e.Phase switch
        {
            IncidentPhase.Opened => ("opened", MessageTone.Bad),
            IncidentPhase.Resolved => ("resolved", MessageTone.Good),
            _ => (Wire(i.Status), MessageTone.Warning),
        };
        return new NotificationMessage($"[{severity}] {what} {verb}: {i.Title}", i.Latest?.Message ?? "",
        [
            ("Severity", severity),
            ("Status", Wire(i.Status)),
            ("Units", i.Units.Count == 0 ? "all units" : string.Join(", ", i.Units.Take(10)) + (i.Units.Count > 10 ? $" and {i.Units.Count - 10} more" : "")),
            ("Opened", Time(i.OpenedAt)),
            ("Incident", i.Id),
        ], links.Incident(i.Id), incidentTone);
    }

    /// <summary>The kebab-case name the API uses for an enum value: <c>RollingBack</c> → <c>rolling-back</c>.</summary>
    public static string Wire<T>(T value) where T : struct, Enum => JsonNamingPolicy.KebabCaseLower.ConvertName(value.ToString());

    /// <summary>RFC 3339 UTC with milliseconds, as the API writes times.</summary>
    public static string Time(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
}

public enum MessageTone { Neutral, Good, Warning, Bad }
