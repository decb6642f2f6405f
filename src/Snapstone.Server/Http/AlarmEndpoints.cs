using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;
using Snapstone.Domain.Alarms;
using Snapstone.Grains;

namespace Snapstone.Server.Http;

/// <summary>Alarm settings (section <c>Snapstone:Alarms</c>): the global label and how much one notification may carry.</summary>
public sealed class AlarmOptions
{
    public const string Section = "Snapstone:Alarms";

    /// <summary>The label that, with the value <see cref="GlobalValue"/>, pauses every active rollout.</summary>
    public string GlobalLabel { get; set; } = AlertRules.DefaultGlobalLabel;
    public string GlobalValue { get; set; } = "global";
    public int MaxAlerts { get; set; } = 200;
    public int MaxLabels { get; set; } = 64;
    public int MaxAnnotations { get; set; } = 64;
    public int MaxLabelValueLength { get; set; } = 2048;
    public int MaxAnnotationLength { get; set; } = 8192;

    public AlarmLimits Limits() => new()
    {
        GlobalLabel = GlobalLabel,
        GlobalValue = GlobalValue,
        MaxAlerts = MaxAlerts,
        MaxLabels = MaxLabels,
        MaxAnnotations = MaxAnnotations,
        MaxValueLength = MaxLabelValueLength,
        MaxAnnotationLength = MaxAnnotationLength,
    };
}

/// <summary>One alert of Alertmanager's webhook payload (version 4), as sent.</summary>
public sealed record AlertmanagerAlert
{
    public string? Status { get; init; }
    public Dictionary<string, string>? Labels { get; init; }
    public Dictionary<string, string>? Annotations { get; init; }
    public DateTimeOffset? StartsAt { get; init; }
    public DateTimeOffset? EndsAt { get; init; }
    [JsonPropertyName("generatorURL")] public string? GeneratorUrl { get; init; }
    public string? Fingerprint { get; init; }
}

/// <summary>
/// Alertmanager's webhook payload, version 4 (<c>webhook_config</c>). Read leniently: fields a newer Alertmanager adds
/// (as 0.25 added <c>truncatedAlerts</c>) are ignored, never refused.
/// </summary>
public sealed record AlertmanagerPayload
{
    public string? Version { get; init; }
    public string? GroupKey { get; init; }
    public int? TruncatedAlerts { get; init; }
    public string? Status { get; init; }
    public string? Receiver { get; init; }
    public Dictionary<string, string>? GroupLabels { get; init; }
    public Dictionary<string, string>? CommonLabels { get; init; }
    public Dictionary<string, string>? CommonAnnotations { get; init; }
    [JsonPropertyName("externalURL")] public string? ExternalUrl { get; init; }
    public List<AlertmanagerAlert?>? Alerts { get; init; }

    public AlertBatchDraft ToDraft() => new(Version, Status, GroupLabels, CommonLabels, CommonAnnotations,
        Alerts?.Select(a => a is null ? null : new AlertDraft(a.Status, a.Labels, a.Annotations, a.StartsAt, a.EndsAt, a.GeneratorUrl, a.Fingerprint)).ToList());
}

/// <summary>What one alert did to one rollout.</summary>
public sealed record AlarmActionResponse(string Rollout, string Unit, string Action, string Reason);

/// <summary>What one alert did: an action per rollout it named, or a note saying why it named none.</summary>
public sealed record AlarmAlertResponse(
    string Fingerprint, string Name, string Status, DateTimeOffset StartsAt, string Target, IReadOnlyList<AlarmActionResponse> Actions, string? Note)
{
    public static AlarmAlertResponse From(AlarmOutcome o) => new(
        o.Alert.Fingerprint, o.Alert.Name, o.Alert.Status == AlertStatus.Firing ? "firing" : "resolved", o.Alert.StartsAt, o.Alert.Target.Describe(),
        [.. o.Effects.Select(e => new AlarmActionResponse(e.Rollout, e.Unit, AlarmRules.Wire(e.Action), e.Reason))], o.Note);
}

public sealed record AlarmResponse(IReadOnlyList<AlarmAlertResponse> Alerts);

/// <summary>
/// <c>POST /v1/alarms/alertmanager</c> (scope <c>alarm</c>, or <c>admin</c>). Translation only: the payload is read and
/// bounded by <see cref="AlertRules.Read"/>, and each alert is one call to its <see cref="IAlarmGrain"/>, where the
/// cluster finds the rollouts it names and each decides for itself.
/// </summary>
public static class AlarmEndpoints
{
    public static IServiceCollection AddSnapstoneAlarms(this IServiceCollection services)
    {
        services.AddOptions<AlarmOptions>().BindConfiguration(AlarmOptions.Section);
        return services;
    }

    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapPost("/alarms/alertmanager", async (HttpContext http, IGrainFactory grains, IOptions<AlarmOptions> options) =>
        {
            var payload = await JsonBody.ReadAsync<AlertmanagerPayload>(http.Request, JsonBody.Lenient);
            var (alerts, errors) = AlertRules.Read(payload.ToDraft(), options.Value.Limits());
            if (errors.Count > 0)
            {
                throw SnapstoneException.Invalid(errors);
            }
            var actor = http.Actor();
            var outcomes = new List<AlarmAlertResponse>(alerts.Count);
            // In order, one call per alert: two alerts about one rollout act in the order Alertmanager sent them.
            foreach (var alert in alerts)
            {
                outcomes.Add(AlarmAlertResponse.From(await grains.GetGrain<IAlarmGrain>(alert.Fingerprint).Receive(alert, actor)));
            }
            return TypedResults.Accepted((string?)null, new AlarmResponse(outcomes));
        }).RequireAuthorization(Scopes.Alarm).WithTags("Alarms").Accepts<AlertmanagerPayload>("application/json")
            .Produces<AlarmResponse>(StatusCodes.Status202Accepted)
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .WithName("PostAlertmanagerAlarm")
            .WithSummary("Alertmanager webhook (payload version 4): firing alerts roll back or pause the rollouts they name; resolved ones are recorded");
    }
}
