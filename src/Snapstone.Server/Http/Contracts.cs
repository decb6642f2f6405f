using System.Text.Json;
using Snapstone.Domain.Nodes;
using Snapstone.Domain.Packages;
using Snapstone.Domain.Units;

namespace Snapstone.Server.Http;

// The wire shapes of API.md. Requests translate into domain records; responses are built from views.

public sealed record MaxItemsBody(string Path, int Max);

public sealed record ValidatorsBody
{
    public long? MaxBytes { get; init; }
    public ContentFormat? Format { get; init; }
    public MaxItemsBody? MaxItems { get; init; }
    public double? MaxGrowthPercent { get; init; }
    public JsonElement? JsonSchema { get; init; }

    public ValidatorSpec ToSpec()
    {
        if (JsonSchema is { ValueKind: not (JsonValueKind.Object or JsonValueKind.True or JsonValueKind.False or JsonValueKind.Null) })
        {
            throw SnapstoneException.Invalid("validators.jsonSchema must be a JSON Schema object");
        }
        return new ValidatorSpec
        {
            MaxBytes = MaxBytes,
            Format = Format,
            MaxItems = MaxItems is null ? null : new MaxItemsRule(MaxItems.Path, MaxItems.Max),
            MaxGrowthPercent = MaxGrowthPercent,
            JsonSchema = JsonSchema is { ValueKind: not JsonValueKind.Null } schema ? schema.GetRawText() : null,
        };
    }

    public static ValidatorsBody From(ValidatorSpec spec) => new()
    {
        MaxBytes = spec.MaxBytes,
        Format = spec.Format,
        MaxItems = spec.MaxItems is { } m ? new MaxItemsBody(m.Path, m.Max) : null,
        MaxGrowthPercent = spec.MaxGrowthPercent,
        JsonSchema = spec.JsonSchema is { } text ? JsonDocument.Parse(text).RootElement.Clone() : null,
    };
}

public sealed record TargetsBody(IReadOnlyDictionary<string, string>? Labels);

public sealed record UnitBody
{
    public required string Owner { get; init; }
    public string? Description { get; init; }
    public UnitKind? Kind { get; init; }
    public RiskTier? RiskTier { get; init; }
    public FailureMode? FailureMode { get; init; }
    public string? Plan { get; init; }
    public ValidatorsBody? Validators { get; init; }
    public TargetsBody? Targets { get; init; }
    /// <summary>What a firing alert naming the unit does to its active rollout: <c>rollback</c> (the default) or <c>pause</c>.</summary>
    public OnAlarm? OnAlarm { get; init; }

    public UnitDefinition ToDefinition()
    {
        var defaults = new UnitDefinition { Owner = Owner };
        return defaults with
        {
            Description = Description ?? "",
            Kind = Kind ?? defaults.Kind,
            RiskTier = RiskTier,
            FailureMode = FailureMode ?? defaults.FailureMode,
            Plan = Plan ?? defaults.Plan,
            Validators = Validators?.ToSpec() ?? new ValidatorSpec(),
            Targets = Targets?.Labels is { } labels ? new UnitTargets(labels) : new UnitTargets(new Dictionary<string, string>()),
            OnAlarm = OnAlarm ?? defaults.OnAlarm,
        };
    }
}

public sealed record UnitResponse(
    string Name, string Owner, string Description, UnitKind Kind, RiskTier? RiskTier, FailureMode FailureMode,
    string Plan, ValidatorsBody Validators, TargetsBody Targets,
    long? LkgVersion, long? LatestVersion, IReadOnlyList<long> Quarantined, string? ActiveRollout,
    DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, string UpdatedBy, PendingChangeResponse? PendingChange, OnAlarm OnAlarm)
{
    public static UnitResponse From(UnitView v) => new(
        v.Name, v.Definition.Owner, v.Definition.Description, v.Definition.Kind, v.Definition.RiskTier, v.Definition.FailureMode,
        v.Definition.Plan, ValidatorsBody.From(v.Definition.Validators), new TargetsBody(v.Definition.Targets.Labels),
        v.LkgVersion, v.LatestVersion, v.Quarantined, v.ActiveRollout, v.CreatedAt, v.UpdatedAt, v.UpdatedBy,
        v.PendingChange is { } p ? PendingChangeResponse.From(p) : null, v.Definition.OnAlarm);

    /// <summary>True when the newest redefinition waits for approval rather than having taken effect.</summary>
    public static bool Waits(UnitView v) => v.PendingChange is { } p && p.RequestedAt >= v.UpdatedAt;
}

/// <summary>A redefinition waiting for a second person: what it would set and what it weakens.</summary>
public sealed record PendingChangeResponse(
    string RequestedBy, DateTimeOffset RequestedAt, IReadOnlyList<string> Weakens,
    string Owner, string Description, UnitKind Kind, RiskTier? RiskTier, FailureMode FailureMode, string Plan, ValidatorsBody Validators, TargetsBody Targets,
    OnAlarm OnAlarm)
{
    public static PendingChangeResponse From(PendingDefinition p) => new(p.RequestedBy, p.RequestedAt, p.Weakens,
        p.Definition.Owner, p.Definition.Description, p.Definition.Kind, p.Definition.RiskTier, p.Definition.FailureMode, p.Definition.Plan,
        ValidatorsBody.From(p.Definition.Validators), new TargetsBody(p.Definition.Targets.Labels), p.Definition.OnAlarm);
}

public sealed record PackageBody
{
    public string? Content { get; init; }
    public string? ContentBase64 { get; init; }
    public string? Message { get; init; }
    public string? Source { get; init; }

    public PackageDraft ToDraft()
    {
        if ((Content is null) == (ContentBase64 is null))
        {
            throw SnapstoneException.Invalid("exactly one of content and contentBase64 is required");
        }
        byte[] bytes;
        if (ContentBase64 is not null)
        {
            try
            {
                bytes = Convert.FromBase64String(ContentBase64);
            }
            catch (FormatException)
            {
                throw SnapstoneException.Invalid("contentBase64 is not valid base64");
            }
        }
        else
        {
            bytes = System.Text.Encoding.UTF8.GetBytes(Content!);
        }
        return new PackageDraft { Content = bytes, Message = Message ?? "", Source = Source };
    }
}

public sealed record ValidationResponse(bool Passed, IReadOnlyList<Finding> Findings);

public sealed record RiskResponse(string Level, int Score, IReadOnlyList<string> Reasons, bool Critical)
{
    public static RiskResponse From(Snapstone.Domain.Risk.RiskAssessment risk) =>
        new(JsonNamingPolicy.KebabCaseLower.ConvertName(risk.Level.ToString()), risk.Score, risk.Reasons, risk.Critical);
}

public sealed record PackageResponse(
    string Unit, long Version, string Sha256, long SizeBytes, DateTimeOffset CreatedAt, string Author,
    string Message, string? Source, PackageState State, bool Lkg, ValidationResponse Validation, RiskResponse Risk,
    string? ContentUrl)
{
    public static PackageResponse From(PackageView v)
    {
        var r = v.Record;
        return new PackageResponse(r.Unit, r.Version, r.Sha256, r.SizeBytes, r.CreatedAt, r.Author, r.Message, r.Source,
            v.State, v.IsLkg, new ValidationResponse(r.Validation.Passed, r.Validation.Findings),
            RiskResponse.From(r.Risk),
            r.Version > 0 ? ContentUrlOf(r.Unit, r.Version) : null);
    }

    public static string ContentUrlOf(string unit, long version) => $"/v1/units/{unit}/packages/{version}/content";
}

public sealed record PipelineResponse(
    string Unit, string Owner, UnitKind Kind, RiskTier? RiskTier, FailureMode FailureMode, string Plan,
    RiskResponse Risk, long? LatestVersion, RiskResponse? LatestPackageRisk, int RankScore, double? FleetShare,
    long? LkgVersion, IReadOnlyList<RolloutSummaryResponse> LastRollouts, bool BreakGlassUsed)
{
    public static PipelineResponse From(PipelineView p) => new(
        p.Unit.Name, p.Unit.Definition.Owner, p.Unit.Definition.Kind, p.Unit.Definition.RiskTier, p.Unit.Definition.FailureMode,
        p.Unit.Definition.Plan, RiskResponse.From(p.Risk), p.Unit.LatestVersion, p.LatestPackageRisk is { } r ? RiskResponse.From(r) : null,
        p.RankScore, p.FleetShare, p.Unit.LkgVersion, [.. p.LastRollouts.Select(RolloutSummaryResponse.From)], p.BreakGlassUsed);
}

public sealed record DesiredEntry(long Version, string Sha256, string ContentUrl);

public sealed record DesiredResponse(IReadOnlyDictionary<string, DesiredEntry> Desired, string Stamp)
{
    public static DesiredResponse From(DesiredState state) => new(Map(state.Units), StampOf(state.Stamp));

    public static IReadOnlyDictionary<string, DesiredEntry> Map(IReadOnlyDictionary<string, DesiredPackage> units) =>
        units.ToDictionary(u => u.Key, u => new DesiredEntry(u.Value.Version, u.Value.Sha256, PackageResponse.ContentUrlOf(u.Key, u.Value.Version)));

    public static string StampOf(long stamp) => stamp.ToString("x", System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>The batch as read: each slot parsed once, straight from the request bytes, into a report or the reason it is not one.</summary>
public sealed record BatchReportBody(IReadOnlyList<ReportSlot>? Reports)
{
    /// <summary>
    /// The slots of a batch. A batch of well-formed reports is read in one pass (one reader state for the whole body,
    /// where reading each slot on its own cost a fresh one per report); only a batch with a malformed report is read
    /// again slot by slot, so that report alone is refused with its reason.
    /// </summary>
    public static IReadOnlyList<ReportSlot> Read(ReadOnlySpan<byte> json)
    {
        try
        {
            if (JsonSerializer.Deserialize<WellFormed>(json, Http.JsonBody.Lenient)?.Reports is { } reports)
            {
                var slots = new ReportSlot[reports.Count];
                for (var i = 0; i < slots.Length; i++)
                {
                    slots[i] = reports[i] is { } report ? new ReportSlot(report, report.Node, null) : ReportSlotConverter.NotAnObject;
                }
                return slots;
            }
        }
        catch (JsonException)
        {
        }
        return Http.JsonBody.Parse<BatchReportBody>(json, Http.JsonBody.Lenient).Reports
            ?? throw SnapstoneException.Invalid("reports is required (an array of reports)");
    }

    private sealed record WellFormed(IReadOnlyList<NodeReport?>? Reports);
}

/// <summary>The batch as documented (OpenAPI): an array of reports, each with its <c>node</c>.</summary>
public sealed record BatchReportRequest(IReadOnlyList<NodeReport> Reports);

/// <summary>One slot of a batch: the report, or why it is not one (and the node it names, if it names one).</summary>
[System.Text.Json.Serialization.JsonConverter(typeof(ReportSlotConverter))]
public sealed record ReportSlot(NodeReport? Report, string? Node, string? Error);

/// <summary>
/// Reads one slot of a batch without building a document of the whole body first. A slot that is not a
/// valid report becomes an error for that slot only; the reader moves on to the next one.
/// </summary>
public sealed class ReportSlotConverter : System.Text.Json.Serialization.JsonConverter<ReportSlot>
{
    internal static readonly ReportSlot NotAnObject = new(null, null, "report must be an object");

    public override ReportSlot Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            return NotAnObject;
        }
        var attempt = reader;
        try
        {
            var report = JsonSerializer.Deserialize<NodeReport>(ref attempt, options);
            reader = attempt;
            return report is null ? NotAnObject : new ReportSlot(report, report.Node, null);
        }
        catch (JsonException e)
        {
            using var slot = JsonDocument.ParseValue(ref reader);
            var node = slot.RootElement.TryGetProperty("node", out var named) && named.ValueKind == JsonValueKind.String ? named.GetString() : null;
            return new ReportSlot(null, node, Http.JsonBody.Describe(e));
        }
    }

    public override void Write(Utf8JsonWriter writer, ReportSlot value, JsonSerializerOptions options) =>
        JsonSerializer.Serialize(writer, value.Report, options);
}

public sealed record BatchResult(string? Node, IReadOnlyDictionary<string, DesiredEntry>? Desired, string? Error);

public sealed record BatchResponse(IReadOnlyList<BatchResult> Results);

public sealed record NodeResponse(
    string Node, string Pop, string Region, string Tier, IReadOnlyDictionary<string, string> Labels,
    IReadOnlyDictionary<string, DesiredEntry> Desired, IReadOnlyDictionary<string, AppliedPackage> Applied,
    DateTimeOffset FirstSeenAt, DateTimeOffset? LastReportAt, NodeMetrics? LastMetrics, long ReportsReceived)
{
    public static NodeResponse From(NodeView v) => new(
        v.Node, v.Identity.Pop, v.Identity.Region, v.Identity.Tier, v.Identity.Labels,
        DesiredResponse.Map(v.Desired), v.Applied, v.FirstSeenAt, v.LastReportAt, v.LastMetrics, v.ReportsReceived);
}
