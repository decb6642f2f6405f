using Snapstone.Domain.Incidents;

namespace Snapstone.Domain.Notifications;

/// <summary>Where a notification is sent and how its message is shaped.</summary>
public enum NotificationKind
{
    /// <summary>A Slack incoming webhook: a message with Block Kit blocks.</summary>
    Slack,
    /// <summary>A Microsoft Teams workflow ("when a Teams webhook request is received"): a message with an Adaptive Card.</summary>
    Teams,
    /// <summary>PagerDuty Events API v2: trigger when an incident opens, resolve when it resolves.</summary>
    PagerDuty,
    /// <summary>Snapstone's own signed JSON, as <c>/v1/webhooks</c> sends it.</summary>
    Webhook,
}

/// <summary>One configured notification: a receiver, the events it hears of and its filters.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.Notification")]
public sealed record Notification
{
    [Id(0)] public required string Name { get; init; }
    [Id(1)] public required NotificationKind Kind { get; init; }
    [Id(2)] public required string Url { get; init; }
    /// <summary>PagerDuty only: the integration's routing key. Never shown back; sealed in the registry's state.</summary>
    [Id(3)] public string? RoutingKey { get; init; }
    /// <summary>Webhook only: the HMAC-SHA256 key of the signature. Never shown back; sealed in the registry's state.</summary>
    [Id(4)] public string? Secret { get; init; }
    [Id(5)] public required IReadOnlyList<NotificationEventType> Events { get; init; }
    /// <summary>Units whose events are sent; empty for every unit.</summary>
    [Id(6)] public IReadOnlyList<string> Units { get; init; } = [];
    /// <summary>Incident events less severe than this are not sent; null for every severity.</summary>
    [Id(7)] public IncidentSeverity? MinSeverity { get; init; }
    [Id(8)] public string UpdatedBy { get; init; } = "";
    [Id(9)] public DateTimeOffset UpdatedAt { get; init; }
    /// <summary>Set by the registry when the name is defined after being absent, kept across redefinitions: deliveries queued for an earlier one are dropped.</summary>
    [Id(10)] public string Incarnation { get; init; } = "";

    /// <summary>
    /// Whether this notification hears of <paramref name="e"/>: its type is listed, it names one of the units (or
    /// the filter or the event names none) and it is at least <see cref="MinSeverity"/> (rollout events have no
    /// severity and always pass). Worked example: <c>minSeverity: sev2</c> sends a sev1 or sev2 incident, not a sev3.
    /// </summary>
    public bool Wants(NotificationEvent e) =>
        Events.Contains(e.Type)
        && (Units.Count == 0 || e.Units.Count == 0 || e.Units.Any(u => Units.Contains(u)))
        && (MinSeverity is not { } min || e.Severity is not { } severity || severity <= min);
}

/// <summary>A definition as a client sends it, before it is checked.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.NotificationRequest")]
public sealed record NotificationRequest(
    [property: Id(0)] string? Kind,
    [property: Id(1)] string? Url,
    [property: Id(2)] string? RoutingKey,
    [property: Id(3)] string? Secret,
    [property: Id(4)] IReadOnlyList<string>? Events,
    [property: Id(5)] IReadOnlyList<string>? Units,
    [property: Id(6)] string? MinSeverity);

/// <summary>The checks a definition must pass, with every limit named in its message.</summary>
public static class NotificationRules
{
    public const int MaxUrlLength = 2048;
    public const int MaxUnits = 100;
    public const int MaxNotifications = 100;
    public const int MinSecretLength = 16;
    public const int MaxSecretLength = 256;
    /// <summary>PagerDuty's integration keys are 32 characters.</summary>
    public const int RoutingKeyLength = 32;
    public const string PagerDutyEventsUrl = "https://events.pagerduty.com/v2/enqueue";

    /// <summary>What PagerDuty can act on: trigger on an opening, resolve on a resolution.</summary>
    public static readonly IReadOnlyList<NotificationEventType> PagerDutyEvents =
        [NotificationEventType.IncidentOpened, NotificationEventType.IncidentResolved, NotificationEventType.DriftIncident];

    public static readonly IReadOnlyList<string> Kinds = ["slack", "teams", "pagerduty", "webhook"];

    /// <summary>
    /// The checked definition, or every problem with it. <paramref name="allowHttp"/> lets plain-http receivers in
    /// (a lab, a test); otherwise every url must be https. Omitted <c>events</c> mean every event the kind can send.
    /// </summary>
    public static (Notification? Notification, IReadOnlyList<string> Errors) Check(string name, NotificationRequest request, bool allowHttp, string actor, DateTimeOffset now)
    {
        var errors = new List<string>();
        if (Names.Check("name", name) is { } badName) errors.Add(badName);
        NotificationKind? kind = request.Kind switch
        {
            "slack" => NotificationKind.Slack,
            "teams" => NotificationKind.Teams,
            "pagerduty" => NotificationKind.PagerDuty,
            "webhook" => NotificationKind.Webhook,
            _ => null,
        };
        if (kind is null)
        {
            errors.Add(request.Kind is null or "" ? $"kind is required: one of {string.Join(", ", Kinds)}" : $"kind '{Names.Shorten(request.Kind)}' must be one of {string.Join(", ", Kinds)}");
        }
        var url = request.Url ?? (kind == NotificationKind.PagerDuty ? PagerDutyEventsUrl : null);
        if (CheckUrl(url, allowHttp) is { } badUrl) errors.Add(badUrl);

        if (kind == NotificationKind.PagerDuty)
        {
            if (request.RoutingKey is null or "") errors.Add($"routingKey is required for pagerduty: the {RoutingKeyLength}-character integration key");
            else if (request.RoutingKey.Length != RoutingKeyLength || !request.RoutingKey.All(char.IsAsciiLetterOrDigit))
                errors.Add($"routingKey must be {RoutingKeyLength} letters or digits (got {request.RoutingKey.Length} characters)");
        }
        else if (request.RoutingKey is not null)
        {
            errors.Add("routingKey is only for kind pagerduty");
        }
        if (kind == NotificationKind.Webhook)
        {
            if (request.Secret is not { Length: >= MinSecretLength and <= MaxSecretLength })
                errors.Add($"secret must be {MinSecretLength} to {MaxSecretLength} characters (got {request.Secret?.Length ?? 0})");
        }
        else if (request.Secret is not null && kind is not null)
        {
            errors.Add("secret is only for kind webhook (slack and teams carry their credential in the url, pagerduty in routingKey)");
        }

        var events = CheckEvents(kind, request.Events, errors);
        var units = request.Units ?? [];
        if (units.Count > MaxUnits) errors.Add($"units must list at most {MaxUnits} units (got {units.Count})");
        else errors.AddRange(units.Select((u, i) => Names.Check($"units[{i}]", u)).OfType<string>());

        IncidentSeverity? minSeverity = request.MinSeverity switch
        {
            null => null,
            "sev1" => IncidentSeverity.Sev1,
            "sev2" => IncidentSeverity.Sev2,
            "sev3" => IncidentSeverity.Sev3,
            "sev4" => IncidentSeverity.Sev4,
            _ => null,
        };
        if (request.MinSeverity is not null && minSeverity is null)
            errors.Add($"minSeverity '{Names.Shorten(request.MinSeverity)}' must be one of sev1, sev2, sev3, sev4 (sev1 is the most severe)");

        if (errors.Count > 0)
        {
            return (null, errors);
        }
        return (new Notification
        {
            Name = name,
            Kind = kind!.Value,
            Url = url!,
            RoutingKey = request.RoutingKey,
            Secret = request.Secret,
            Events = events,
            Units = [.. units.Distinct()],
            MinSeverity = minSeverity,
            UpdatedBy = actor,
            UpdatedAt = now,
        }, errors);
    }

    /// <summary>
    /// The url as responses show it. Slack and Teams URLs are themselves the credential (the path holds the token),
    /// so only their origin is shown; any other keeps its path but not its query.
    /// Worked example: <c>https://hooks.slack.com/services/T0/B0/XYZ</c> → <c>https://hooks.slack.com/…</c>;
    /// <c>https://hooks.example/in?token=abc</c> → <c>https://hooks.example/in?…</c>.
    /// </summary>
    public static string ShownUrl(Notification notification)
    {
        if (!Uri.TryCreate(notification.Url, UriKind.Absolute, out var uri))
        {
            return "…";
        }
        var origin = uri.GetLeftPart(UriPartial.Authority);
        return notification.Kind is NotificationKind.Slack or NotificationKind.Teams
            ? origin + "/…"
            : uri.GetLeftPart(UriPartial.Path) + (uri.Query.Length > 0 ? "?…" : "");
    }

    /// <summary>Null when <paramref name="url"/> is an absolute https URL (or http, where allowed) without credentials in it.</summary>
    public static string? CheckUrl(string? url, bool allowHttp)
    {
        var schemes = allowHttp ? "https or http" : "https";
        if (url is null or "") return $"url is required: an absolute {schemes} URL";
        if (url.Length > MaxUrlLength) return $"url must be at most {MaxUrlLength} characters (got {url.Length})";
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            return $"url must be an absolute {schemes} URL";
        if (uri.Scheme == "http" && !allowHttp)
            return "url must be https (plain http is allowed only where Snapstone:Notifications:AllowHttp is true)";
        if (uri.UserInfo.Length > 0) return "url must not carry a user name or password";
        return null;
    }

    private static IReadOnlyList<NotificationEventType> CheckEvents(NotificationKind? kind, IReadOnlyList<string>? names, List<string> errors)
    {
        var allowed = kind == NotificationKind.PagerDuty ? PagerDutyEvents : NotificationEvents.All;
        var known = string.Join(", ", allowed.Select(e => e.WireName()));
        if (names is null)
        {
            return allowed;
        }
        if (names.Count == 0 || names.Count > NotificationEvents.All.Count)
        {
            errors.Add($"events must list 1 to {NotificationEvents.All.Count} events of {known} (got {names.Count}), or be left out for all of them");
            return [];
        }
        var events = new List<NotificationEventType>();
        for (var i = 0; i < names.Count; i++)
        {
            if (NotificationEvents.Parse(names[i]) is not { } type)
                errors.Add($"events[{i}] '{Names.Shorten(names[i] ?? "")}' is not an event (known: {known})");
            else if (!allowed.Contains(type))
                errors.Add($"events[{i}] '{names[i]}' cannot be sent to pagerduty, which triggers and resolves incidents (allowed: {known})");
            else if (!events.Contains(type))
                events.Add(type);
        }
        if (kind == NotificationKind.PagerDuty && events.Contains(NotificationEventType.IncidentOpened) && !events.Contains(NotificationEventType.IncidentResolved))
            errors.Add("events must include incident.resolved with incident.opened for pagerduty, or its alerts would never resolve");
        return events;
    }
}
