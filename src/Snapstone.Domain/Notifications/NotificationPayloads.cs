using System.Text.Json.Nodes;
using Snapstone.Domain.Incidents;
using Snapstone.Domain.Rollouts;

namespace Snapstone.Domain.Notifications;

/// <summary>
/// The body each kind of receiver is sent for one event, as its vendor documents it. Null when the kind has
/// nothing to send for that event (PagerDuty has no action for an incident update).
/// </summary>
public static class NotificationPayloads
{
    /// <summary>Slack's limits: header text 150, section text 3000, a field 2000, a button's text 75, at most 10 fields.</summary>
    public const int SlackHeaderMax = 150, SlackTextMax = 3000, SlackFieldMax = 2000;
    /// <summary>The Adaptive Card schema version sent to Teams workflows (the newest Teams renders everywhere).</summary>
    public const string AdaptiveCardVersion = "1.4";
    public const string AdaptiveCardSchema = "http://adaptivecards.io/schemas/adaptive-card.json";
    public const string AdaptiveCardContentType = "application/vnd.microsoft.card.adaptive";
    /// <summary>PagerDuty's limits: <c>payload.summary</c> 1024, <c>dedup_key</c> 255.</summary>
    public const int PagerDutySummaryMax = 1024, PagerDutyDedupKeyMax = 255;

    public static string? Render(Notification notification, NotificationEvent e, ConsoleLinks links) => notification.Kind switch
    {
        NotificationKind.Slack => Slack(NotificationMessage.Of(e, links), e).ToJsonString(),
        NotificationKind.Teams => Teams(NotificationMessage.Of(e, links)).ToJsonString(),
        NotificationKind.PagerDuty => PagerDuty(e, links)?.ToJsonString(),
        _ => Webhook(e, links).ToJsonString(),
    };

    /// <summary>
    /// An incoming-webhook message: <c>text</c> (the notification's fallback) and Block Kit <c>blocks</c> — a
    /// header, a section with the summary and the facts as fields, a context line and, with a console link, a button.
    /// </summary>
    public static JsonObject Slack(NotificationMessage m, NotificationEvent e)
    {
        var blocks = new JsonArray
        {
            new JsonObject
            {
                ["type"] = "header",
                ["text"] = new JsonObject { ["type"] = "plain_text", ["text"] = Text.Cut(m.Title, SlackHeaderMax), ["emoji"] = true },
            },
        };
        var section = new JsonObject
        {
            ["type"] = "section",
            ["fields"] = new JsonArray([.. m.Facts.Take(10).Select(f => (JsonNode)new JsonObject
            {
                ["type"] = "mrkdwn",
                ["text"] = Text.Cut($"*{f.Name}*\n{SlackEscape(f.Value)}", SlackFieldMax),
            })]),
        };
        if (m.Summary.Length > 0)
        {
            section["text"] = new JsonObject { ["type"] = "mrkdwn", ["text"] = Text.Cut(SlackEscape(m.Summary), SlackTextMax) };
        }
        blocks.Add(section);
        if (m.Link is { } link)
        {
            blocks.Add(new JsonObject
            {
                ["type"] = "actions",
                ["elements"] = new JsonArray(new JsonObject
                {
                    ["type"] = "button",
                    ["text"] = new JsonObject { ["type"] = "plain_text", ["text"] = "Open in the Snapstone console" },
                    ["url"] = link,
                    ["action_id"] = "snapstone-console",
                    ["style"] = m.Tone == MessageTone.Bad ? "danger" : "primary",
                }),
            });
        }
        blocks.Add(new JsonObject
        {
            ["type"] = "context",
            ["elements"] = new JsonArray(new JsonObject { ["type"] = "mrkdwn", ["text"] = $"Snapstone · {e.Type.WireName()} · {NotificationMessage.Time(e.At)}" }),
        });
        var fallback = m.Summary.Length > 0 ? $"{m.Title}: {m.Summary}" : m.Title;
        return new JsonObject { ["text"] = Text.Cut(SlackEscape(fallback), SlackTextMax), ["blocks"] = blocks };
    }

    /// <summary>
    /// A message for a Teams workflow: one attachment of content type <see cref="AdaptiveCardContentType"/> holding an
    /// Adaptive Card (<see cref="AdaptiveCardVersion"/>) with the title, the summary, a fact set and an Action.OpenUrl.
    /// </summary>
    public static JsonObject Teams(NotificationMessage m)
    {
        var body = new JsonArray
        {
            new JsonObject
            {
                ["type"] = "TextBlock", ["text"] = m.Title, ["weight"] = "Bolder", ["size"] = "Medium", ["wrap"] = true,
                ["color"] = m.Tone switch { MessageTone.Bad => "Attention", MessageTone.Warning => "Warning", MessageTone.Good => "Good", _ => "Default" },
            },
        };
        if (m.Summary.Length > 0)
        {
            body.Add(new JsonObject { ["type"] = "TextBlock", ["text"] = m.Summary, ["wrap"] = true });
        }
        body.Add(new JsonObject
        {
            ["type"] = "FactSet",
            ["facts"] = new JsonArray([.. m.Facts.Select(f => (JsonNode)new JsonObject { ["title"] = f.Name, ["value"] = f.Value })]),
        });
        var card = new JsonObject
        {
            ["$schema"] = AdaptiveCardSchema,
            ["type"] = "AdaptiveCard",
            ["version"] = AdaptiveCardVersion,
            ["body"] = body,
        };
        if (m.Link is { } link)
        {
            card["actions"] = new JsonArray(new JsonObject { ["type"] = "Action.OpenUrl", ["title"] = "Open in the Snapstone console", ["url"] = link });
        }
        return new JsonObject
        {
            ["type"] = "message",
            ["attachments"] = new JsonArray(new JsonObject { ["contentType"] = AdaptiveCardContentType, ["contentUrl"] = null, ["content"] = card }),
        };
    }

    /// <summary>
    /// An Events API v2 event: <c>trigger</c> when an incident opens, <c>resolve</c> when it resolves, both with
    /// <c>dedup_key</c> = the incident id so PagerDuty resolves the alert it opened. Null for any other event. Without its
    /// <c>routing_key</c>: the body is stored in the delivery's row until it is sent, and the key is a credential (anyone
    /// holding it can trigger and resolve the service's alerts), so it is put in only as the request is made
    /// (<see cref="Addressed"/>), from the notification's sealed copy.
    /// </summary>
    public static JsonObject? PagerDuty(NotificationEvent e, ConsoleLinks links)
    {
        if (e.Incident is not { } incident || e.Phase is not (IncidentPhase.Opened or IncidentPhase.Resolved))
        {
            return null;
        }
        var dedupKey = Text.Cut(incident.Id, PagerDutyDedupKeyMax);
        if (e.Phase == IncidentPhase.Resolved)
        {
            return new JsonObject { ["event_action"] = "resolve", ["dedup_key"] = dedupKey };
        }
        var m = NotificationMessage.Of(e, links);
        var units = incident.Units.Count == 0 ? "fleet" : string.Join(",", incident.Units.Take(10));
        var details = new JsonObject
        {
            ["incident"] = incident.Id,
            ["severity"] = NotificationMessage.Wire(incident.Severity),
            ["status"] = NotificationMessage.Wire(incident.Status),
            ["units"] = new JsonArray([.. incident.Units.Select(u => (JsonNode?)JsonValue.Create(u))]),
            ["opened_by"] = incident.Source,
            ["message"] = incident.Latest?.Message ?? "",
        };
        var pd = new JsonObject
        {
            ["event_action"] = "trigger",
            ["dedup_key"] = dedupKey,
            ["payload"] = new JsonObject
            {
                ["summary"] = Text.Cut(m.Title, PagerDutySummaryMax),
                ["source"] = $"snapstone/{units}",
                ["severity"] = PagerDutySeverity(incident.Severity),
                ["timestamp"] = NotificationMessage.Time(incident.OpenedAt),
                ["component"] = units,
                ["group"] = "snapstone",
                ["class"] = e.Type == NotificationEventType.DriftIncident ? "drift" : incident.Source.StartsWith("r-", StringComparison.Ordinal) ? "rollout" : incident.Source,
                ["custom_details"] = details,
            },
            ["client"] = "Snapstone",
        };
        if (m.Link is { } link)
        {
            pd["client_url"] = link;
            pd["links"] = new JsonArray(new JsonObject { ["href"] = link, ["text"] = "Snapstone console" });
        }
        return pd;
    }

    /// <summary>
    /// A stored PagerDuty body with its <c>routing_key</c>, as it is sent: the key first, the rest unchanged.
    /// <c>{"event_action":"resolve","dedup_key":"inc-1"}</c> with key <c>R0UT…</c> →
    /// <c>{"routing_key":"R0UT…","event_action":"resolve","dedup_key":"inc-1"}</c>. A key already in the body (a row
    /// stored before keys were left out) is replaced.
    /// </summary>
    public static string Addressed(string body, string routingKey)
    {
        var stored = JsonNode.Parse(body) as JsonObject ?? throw new ArgumentException("a PagerDuty body is a JSON object", nameof(body));
        var sent = new JsonObject { ["routing_key"] = routingKey };
        foreach (var (name, value) in stored.ToList())
        {
            if (name != "routing_key")
            {
                stored.Remove(name);
                sent[name] = value;
            }
        }
        return sent.ToJsonString();
    }

    /// <summary>A body without any <c>routing_key</c>, for rows stored before keys were left out; null when it had none (nothing to rewrite).</summary>
    public static string? WithoutRoutingKey(string body) =>
        body.Contains("\"routing_key\"", StringComparison.Ordinal) && JsonNode.Parse(body) is JsonObject o && o.Remove("routing_key") ? o.ToJsonString() : null;

    /// <summary>sev1 → critical, sev2 → error, sev3 → warning, sev4 → info (PagerDuty's four severities, most severe first).</summary>
    public static string PagerDutySeverity(IncidentSeverity severity) => severity switch
    {
        IncidentSeverity.Sev1 => "critical",
        IncidentSeverity.Sev2 => "error",
        IncidentSeverity.Sev3 => "warning",
        _ => "info",
    };

    /// <summary>
    /// Snapstone's own JSON. For an incident it is what <c>/v1/webhooks</c> has always sent (<c>id, title, severity,
    /// status, units, latest</c>) plus <c>event</c> and <c>link</c>; for a rollout, the rollout's id, unit, versions,
    /// state, wave and the timeline message.
    /// </summary>
    public static JsonObject Webhook(NotificationEvent e, ConsoleLinks links)
    {
        if (e.Incident is { } i)
        {
            return new JsonObject
            {
                ["event"] = e.Type.WireName(),
                ["id"] = i.Id,
                ["title"] = i.Title,
                ["severity"] = NotificationMessage.Wire(i.Severity),
                ["status"] = NotificationMessage.Wire(i.Status),
                ["units"] = new JsonArray([.. i.Units.Select(u => (JsonNode?)JsonValue.Create(u))]),
                ["latest"] = i.Latest is not { } latest ? null : new JsonObject
                {
                    ["at"] = NotificationMessage.Time(latest.At),
                    ["status"] = NotificationMessage.Wire(latest.Status),
                    ["message"] = latest.Message,
                    ["by"] = latest.By,
                },
                ["link"] = links.Incident(i.Id),
            };
        }
        var r = e.Rollout ?? throw new ArgumentException($"event {e.Id} names neither a rollout nor an incident", nameof(e));
        return new JsonObject
        {
            ["event"] = e.Type.WireName(),
            ["at"] = NotificationMessage.Time(e.At),
            ["rollout"] = new JsonObject
            {
                ["id"] = r.Id,
                ["unit"] = r.Unit,
                ["version"] = r.Version,
                ["previousVersion"] = r.PreviousVersion,
                ["state"] = RolloutCommands.Describe(r.State),
                ["wave"] = r.Wave,
                ["waveIndex"] = r.WaveIndex,
                ["waves"] = r.WaveCount,
            },
            ["message"] = r.Message,
            ["link"] = links.Rollout(r.Id),
        };
    }

    /// <summary>Slack reads <c>&amp;</c>, <c>&lt;</c> and <c>&gt;</c> as markup (<c>&lt;!channel&gt;</c> pings everyone): escaped as Slack documents.</summary>
    public static string SlackEscape(string text) => text.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal).Replace(">", "&gt;", StringComparison.Ordinal);
}
