using System.Text.RegularExpressions;

namespace Snapstone.Domain.Alarms;

/// <summary>One alert as it arrived: every field optional, so <see cref="AlertRules.Read"/> can say which is missing.</summary>
public sealed record AlertDraft(
    string? Status,
    IReadOnlyDictionary<string, string>? Labels,
    IReadOnlyDictionary<string, string>? Annotations,
    DateTimeOffset? StartsAt,
    DateTimeOffset? EndsAt,
    string? GeneratorUrl,
    string? Fingerprint);

/// <summary>An Alertmanager webhook notification as it arrived (version 4).</summary>
public sealed record AlertBatchDraft(
    string? Version,
    string? Status,
    IReadOnlyDictionary<string, string>? GroupLabels,
    IReadOnlyDictionary<string, string>? CommonLabels,
    IReadOnlyDictionary<string, string>? CommonAnnotations,
    IReadOnlyList<AlertDraft?>? Alerts);

/// <summary>How much one notification may carry; past any of these it is refused whole, naming the field and the limit.</summary>
public sealed record AlarmLimits
{
    /// <summary>Alertmanager's own <c>max_alerts</c> is unlimited by default; a receiver for Snapstone should set it (the README does).</summary>
    public int MaxAlerts { get; init; } = 200;
    public int MaxLabels { get; init; } = 64;
    public int MaxAnnotations { get; init; } = 64;
    public int MaxNameLength { get; init; } = 128;
    public int MaxValueLength { get; init; } = 2048;
    public int MaxAnnotationLength { get; init; } = 8192;
    /// <summary>The label that makes an alert global, with the value <see cref="GlobalValue"/> (<c>Snapstone:Alarms:GlobalLabel</c>).</summary>
    public string GlobalLabel { get; init; } = AlertRules.DefaultGlobalLabel;
    public string GlobalValue { get; init; } = "global";
}

/// <summary>Reads an Alertmanager notification into checked <see cref="Alert"/>s and what each names.</summary>
public static partial class AlertRules
{
    public const string UnitLabel = "snapstone_unit";
    public const string PopLabel = "snapstone_pop";
    public const string RegionLabel = "snapstone_region";
    public const string DefaultGlobalLabel = "snapstone_scope";
    public const string SupportedVersion = "4";
    /// <summary>PoPs or regions one label may list (comma-separated).</summary>
    public const int MaxPlaces = 50;
    /// <summary>The summary kept on a timeline line.</summary>
    public const int MaxSummary = 300;
    /// <summary>The rendered labels kept on a timeline line.</summary>
    public const int MaxRendered = 1000;

    [GeneratedRegex(@"^[a-zA-Z_][a-zA-Z0-9_]*\z", RegexOptions.CultureInvariant)]
    private static partial Regex LabelName();

    [GeneratedRegex(@"^[0-9a-zA-Z]{1,64}\z", RegexOptions.CultureInvariant)]
    private static partial Regex FingerprintRule();

    /// <summary>
    /// The checked alerts, or every reason the notification is refused, each naming its field and limit, e.g.
    /// <c>alerts[2].labels holds 70 labels; at most 64</c> or <c>alerts[0].labels.snapstone_unit 'Bot' must match ^[a-z0-9]...</c>.
    /// </summary>
    public static (IReadOnlyList<Alert> Alerts, IReadOnlyList<string> Errors) Read(AlertBatchDraft batch, AlarmLimits limits)
    {
        var errors = new List<string>();
        if (batch.Version != SupportedVersion)
        {
            errors.Add(batch.Version is null
                ? $"version is required (Alertmanager's webhook payload version {SupportedVersion})"
                : $"version '{Short(batch.Version)}' is not supported; Snapstone reads Alertmanager's webhook payload version {SupportedVersion}");
        }
        if (batch.Status is not null && ParseStatus(batch.Status) is null)
        {
            errors.Add($"status '{Short(batch.Status)}' must be firing or resolved");
        }
        CheckMap("groupLabels", batch.GroupLabels, limits.MaxLabels, limits.MaxValueLength, limits, labels: true, errors);
        CheckMap("commonLabels", batch.CommonLabels, limits.MaxLabels, limits.MaxValueLength, limits, labels: true, errors);
        CheckMap("commonAnnotations", batch.CommonAnnotations, limits.MaxAnnotations, limits.MaxAnnotationLength, limits, labels: false, errors);
        if (batch.Alerts is null)
        {
            errors.Add("alerts is required (a list of alerts)");
            return ([], errors);
        }
        if (batch.Alerts.Count > limits.MaxAlerts)
        {
            errors.Add($"alerts holds {batch.Alerts.Count} alerts; at most {limits.MaxAlerts} per notification (set max_alerts in the receiver)");
            return ([], errors);
        }
        var alerts = new List<Alert>(batch.Alerts.Count);
        for (var i = 0; i < batch.Alerts.Count; i++)
        {
            if (ReadOne($"alerts[{i}]", batch.Alerts[i], limits, errors) is { } alert)
            {
                alerts.Add(alert);
            }
        }
        return errors.Count == 0 ? (alerts, []) : ([], errors);
    }

    private static Alert? ReadOne(string at, AlertDraft? draft, AlarmLimits limits, List<string> errors)
    {
        if (draft is null)
        {
            errors.Add($"{at} must be an alert object");
            return null;
        }
        var before = errors.Count;
        var status = ParseStatus(draft.Status);
        if (status is null)
        {
            errors.Add(draft.Status is null ? $"{at}.status is required (firing or resolved)" : $"{at}.status '{Short(draft.Status)}' must be firing or resolved");
        }
        if (draft.Fingerprint is null || !FingerprintRule().IsMatch(draft.Fingerprint))
        {
            errors.Add(draft.Fingerprint is null
                ? $"{at}.fingerprint is required"
                : $"{at}.fingerprint '{Short(draft.Fingerprint)}' must be 1 to 64 letters or digits");
        }
        if (draft.StartsAt is null)
        {
            errors.Add($"{at}.startsAt is required (RFC 3339)");
        }
        if (draft.Labels is null)
        {
            errors.Add($"{at}.labels is required");
        }
        CheckMap($"{at}.labels", draft.Labels, limits.MaxLabels, limits.MaxValueLength, limits, labels: true, errors);
        CheckMap($"{at}.annotations", draft.Annotations, limits.MaxAnnotations, limits.MaxAnnotationLength, limits, labels: false, errors);
        if (draft.GeneratorUrl is { Length: > 2048 })
        {
            errors.Add($"{at}.generatorURL is {draft.GeneratorUrl.Length} characters; at most 2048");
        }
        var target = draft.Labels is null ? null : TargetOf(at, draft.Labels, limits, errors);
        if (errors.Count > before)
        {
            return null;
        }
        var labels = draft.Labels!.OrderBy(l => l.Key, StringComparer.Ordinal).ToDictionary(l => l.Key, l => l.Value, StringComparer.Ordinal);
        return new Alert
        {
            Fingerprint = draft.Fingerprint!,
            Status = status!.Value,
            Name = labels.GetValueOrDefault("alertname") ?? "",
            Labels = labels,
            Summary = Shorten(draft.Annotations?.GetValueOrDefault("summary") ?? draft.Annotations?.GetValueOrDefault("description") ?? "", MaxSummary),
            StartsAt = draft.StartsAt!.Value.ToUniversalTime(),
            // Alertmanager sends 0001-01-01T00:00:00Z for "not ended".
            EndsAt = draft.EndsAt is { Year: > 1 } ends ? ends.ToUniversalTime() : null,
            GeneratorUrl = draft.GeneratorUrl,
            Target = target!,
        };
    }

    /// <summary>
    /// What the labels name. <c>snapstone_scope="global"</c> (label name configurable) wins over the rest;
    /// <c>snapstone_unit</c> names one unit; <c>snapstone_pop</c> and <c>snapstone_region</c> list places, comma-separated.
    /// A unit and places together name the unit's rollout only where its cohort touches those places.
    /// </summary>
    /// <example>
    /// <c>{ snapstone_pop: "ams01,fra02" }</c> → PoPs ams01 and fra02; <c>{ snapstone_scope: "global", snapstone_unit: "x" }</c> → global.
    /// </example>
    public static AlarmTarget? TargetOf(string at, IReadOnlyDictionary<string, string> labels, AlarmLimits limits, List<string> errors)
    {
        if (labels.TryGetValue(limits.GlobalLabel, out var scope) && scope == limits.GlobalValue)
        {
            return new AlarmTarget { Global = true };
        }
        var before = errors.Count;
        string? unit = null;
        if (labels.TryGetValue(UnitLabel, out var named))
        {
            if (Names.Check($"{at}.labels.{UnitLabel}", named) is { } bad)
            {
                errors.Add(bad);
            }
            unit = named;
        }
        var pops = Places($"{at}.labels.{PopLabel}", labels.GetValueOrDefault(PopLabel), errors);
        var regions = Places($"{at}.labels.{RegionLabel}", labels.GetValueOrDefault(RegionLabel), errors);
        return errors.Count > before ? null : new AlarmTarget { Unit = unit, Pops = pops, Regions = regions };
    }

    private static IReadOnlyList<string> Places(string field, string? value, List<string> errors)
    {
        if (value is null)
        {
            return [];
        }
        var places = value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Distinct(StringComparer.Ordinal).ToList();
        if (places.Count == 0)
        {
            errors.Add($"{field} is empty; list one or more names, comma-separated");
        }
        else if (places.Count > MaxPlaces)
        {
            errors.Add($"{field} lists {places.Count} names; at most {MaxPlaces}");
        }
        else
        {
            errors.AddRange(places.Select(p => Names.Check(field, p)).OfType<string>());
        }
        return [.. places.Order(StringComparer.Ordinal)];
    }

    private static void CheckMap(string field, IReadOnlyDictionary<string, string>? map, int maxCount, int maxValue, AlarmLimits limits, bool labels, List<string> errors)
    {
        if (map is null)
        {
            return;
        }
        var noun = labels ? "labels" : "annotations";
        if (map.Count > maxCount)
        {
            errors.Add($"{field} holds {map.Count} {noun}; at most {maxCount}");
            return;
        }
        foreach (var (name, value) in map)
        {
            if (name.Length > limits.MaxNameLength)
            {
                errors.Add($"{field} has a name of {name.Length} characters; at most {limits.MaxNameLength}");
            }
            else if (labels && !LabelName().IsMatch(name))
            {
                errors.Add($"{field} has '{Short(name)}', which is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)");
            }
            if (value is null)
            {
                errors.Add($"{field}.{Short(name)} must be a string");
            }
            else if (value.Length > maxValue)
            {
                errors.Add($"{field}.{Short(name)} is {value.Length} characters; at most {maxValue}");
            }
        }
    }

    private static AlertStatus? ParseStatus(string? status) => status switch
    {
        "firing" => AlertStatus.Firing,
        "resolved" => AlertStatus.Resolved,
        _ => null,
    };

    /// <summary><c>alertname=EdgeErrors, snapstone_unit=bot-features</c>, by name, shortened to <see cref="MaxRendered"/>.</summary>
    public static string Render(IReadOnlyDictionary<string, string> labels) =>
        Shorten(string.Join(", ", labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}={l.Value}")), MaxRendered);

    private static string Short(string value) => Shorten(value, 80);

    private static string Shorten(string value, int max) => value.Length <= max ? value : value[..(max - 3)] + "...";
}
