using System.Text.Json;
using Snapstone.Client;
using Snapstone.Domain.Nodes;
using Snapstone.Domain.Plans;

namespace Snapstone.Server.Http;

/// <summary>
/// The HTTP gateway of API.md. Each handler only translates HTTP to a <see cref="SnapstoneClient"/> operation
/// and back; no decision is made here.
/// </summary>
public static class Endpoints
{
    public static void MapSnapstoneApi(this IEndpointRouteBuilder app)
    {
        var v1 = app.MapGroup("/v1").AddEndpointFilter(RefusalsAsProblems);
        MapUnits(v1.MapGroup("/units").WithTags("Units"));
        MapPlans(v1.MapGroup("/plans").WithTags("Plans"));
        MapNodes(v1);
        v1.MapNodeEnrolment();
        RolloutEndpoints.MapRollouts(v1);
        RolloutRecordEndpoints.MapRolloutRecords(v1);
        EmergencyEndpoints.Map(v1);
        NotificationEndpoints.Map(v1);
        AlarmEndpoints.Map(v1);
        DriftEndpoints.MapDrift(v1);
        v1.MapGet("/risk/pipelines", async (SnapstoneClient client) =>
            TypedResults.Ok(new { pipelines = (await client.RiskPipelinesAsync()).Select(PipelineResponse.From) }))
            .RequireAuthorization(Scopes.Read).WithTags("Risk");
    }

    /// <summary>A <see cref="SnapstoneException"/> is the user's doing: answer with its problem, log nothing alarming.</summary>
    private static async ValueTask<object?> RefusalsAsProblems(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        try
        {
            return await next(context);
        }
        catch (SnapstoneException e)
        {
            return Problems.From(e);
        }
    }

    private static void MapUnits(RouteGroupBuilder units)
    {
        units.MapPut("/{unit}", async (string unit, HttpContext http, SnapstoneClient client) =>
        {
            var body = await JsonBody.ReadAsync<UnitBody>(http.Request, JsonBody.Strict);
            var view = await client.DefineUnitAsync(unit, body.ToDefinition(), http.Actor());
            // A change that weakens the unit waits for a second person: 202, the unit as it stands with its pending change.
            return UnitResponse.Waits(view)
                ? Results.Accepted($"/v1/units/{unit}", UnitResponse.From(view))
                : Results.Ok(UnitResponse.From(view));
        }).RequireAuthorization(Scopes.Deploy).Accepts<UnitBody>("application/json")
          .Produces<UnitResponse>().Produces<UnitResponse>(StatusCodes.Status202Accepted);

        units.MapPost("/{unit}/approve", async (string unit, HttpContext http, SnapstoneClient client) =>
        {
            var body = http.Request.ContentLength is null or 0 && !http.Request.Headers.TransferEncoding.Any()
                ? new ReasonBody(null)
                : await JsonBody.ReadAsync<ReasonBody>(http.Request, JsonBody.Strict);
            return TypedResults.Ok(UnitResponse.From(await client.ApproveUnitChangeAsync(unit, http.Actor(), body.Reason)));
        }).RequireAuthorization(Scopes.Approve).Accepts<ReasonBody>("application/json").Produces<UnitResponse>();

        units.MapGet("/", async (SnapstoneClient client) =>
            TypedResults.Ok(new { units = (await client.ListUnitsAsync()).Select(UnitResponse.From) }))
            .RequireAuthorization(Scopes.Read);

        units.MapGet("/{unit}", async (string unit, SnapstoneClient client) =>
            TypedResults.Ok(UnitResponse.From(await client.GetUnitAsync(unit))))
            .RequireAuthorization(Scopes.Read).Produces<UnitResponse>();

        units.MapPost("/{unit}/packages", async (string unit, HttpContext http, SnapstoneClient client) =>
        {
            var body = await JsonBody.ReadAsync<PackageBody>(http.Request, JsonBody.Strict);
            var package = PackageResponse.From(await client.CreatePackageAsync(unit, body.ToDraft(), http.Actor()));
            return package.Validation.Passed
                ? Results.Created($"/v1/units/{unit}/packages/{package.Version}", package)
                : Results.Json(package, statusCode: StatusCodes.Status422UnprocessableEntity);
        }).RequireAuthorization(Scopes.Deploy).Accepts<PackageBody>("application/json")
          .Produces<PackageResponse>(StatusCodes.Status201Created).Produces<PackageResponse>(StatusCodes.Status422UnprocessableEntity);

        units.MapPost("/{unit}/packages:validate", async (string unit, HttpContext http, SnapstoneClient client) =>
        {
            var body = await JsonBody.ReadAsync<PackageBody>(http.Request, JsonBody.Strict);
            var package = PackageResponse.From(await client.ValidatePackageAsync(unit, body.ToDraft(), http.Actor()));
            return Results.Json(package, statusCode: package.Validation.Passed ? StatusCodes.Status200OK : StatusCodes.Status422UnprocessableEntity);
        }).RequireAuthorization(Scopes.Deploy).Accepts<PackageBody>("application/json")
          .Produces<PackageResponse>().Produces<PackageResponse>(StatusCodes.Status422UnprocessableEntity);

        units.MapGet("/{unit}/packages", async (string unit, long? before, int? limit, SnapstoneClient client) =>
            TypedResults.Ok(new { packages = (await client.ListPackagesAsync(unit, before, limit ?? 50)).Select(PackageResponse.From) }))
            .RequireAuthorization(Scopes.Read);

        units.MapGet("/{unit}/packages/{version}", async (string unit, string version, SnapstoneClient client) =>
            TypedResults.Ok(PackageResponse.From(await client.GetPackageAsync(unit, ParseVersion(version)))))
            .RequireAuthorization(Scopes.Read).Produces<PackageResponse>();

        units.MapGet("/{unit}/packages/{version}/content", async (string unit, string version, SnapstoneClient client) =>
        {
            var number = ParseVersion(version);
            var content = await client.GetPackageContentAsync(unit, number);
            return Results.Bytes(content, "application/octet-stream", $"{unit}-{number}");
        }).RequireAuthorization(Scopes.ReadOrAgent).Produces<byte[]>(StatusCodes.Status200OK, "application/octet-stream");
    }

    private static void MapPlans(RouteGroupBuilder plans)
    {
        plans.MapPut("/{plan}", async (string plan, HttpContext http, SnapstoneClient client) =>
        {
            var body = await JsonBody.ReadAsync<Plan>(http.Request, JsonBody.Strict);
            return TypedResults.Ok(PlanResponse(await client.DefinePlanAsync(plan, body, http.Actor())));
        }).RequireAuthorization(Scopes.Deploy).Accepts<Plan>("application/json")
          // 400: the plan (a metric query Prometheus refuses included); 503: its metric queries could not be checked.
          .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status503ServiceUnavailable);

        plans.MapGet("/{plan}", async (string plan, SnapstoneClient client) =>
            TypedResults.Ok(PlanResponse(await client.GetPlanAsync(plan))))
            .RequireAuthorization(Scopes.Read);
    }

    private static object PlanResponse(PlanView view) =>
        new { name = view.Name, waves = view.Plan.Waves, builtIn = view.BuiltIn, updatedBy = view.UpdatedBy, updatedAt = view.UpdatedAt };

    private static void MapNodes(RouteGroupBuilder v1)
    {
        v1.MapPost("/nodes/{node}/report", async (string node, HttpContext http, SnapstoneClient client, AgentTokens agents) =>
        {
            var report = await JsonBody.ReadAsync<NodeReport>(http.Request, JsonBody.Lenient);
            if (report.Node is { } named && named != node)
            {
                throw SnapstoneException.Invalid($"node '{named}' in the body does not match '{node}' in the path");
            }
            return TypedResults.Ok(DesiredResponse.From(await client.ReportAsync(report with { Node = node }, agents.Of(http))));
        }).RequireAuthorization(Scopes.Agent).Accepts<NodeReport>("application/json").Produces<DesiredResponse>().WithTags("Nodes")
          .AddEndpointFilter(Hosting.ReportMetering.Single);

        v1.MapPost("/reports", async (HttpContext http, SnapstoneClient client, AgentTokens agents) =>
        {
            IReadOnlyList<ReportSlot> slots;
            using (var body = await JsonBody.ReadPooledAsync(http.Request, new ArrayItemCounter("reports", SnapstoneClient.MaxBatchReports)))
            {
                slots = BatchReportBody.Read(body.Span);
            }
            var outcomes = Hosting.ReportMetering.Counted(await client.ReportBatchAsync([.. slots.Select(s => s.Report)], agents.Of(http)));
            var results = outcomes.Select((o, i) => slots[i].Error is { } error
                ? new BatchResult(slots[i].Node, null, error)
                : new BatchResult(o.Node, o.Desired is null ? null : DesiredResponse.Map(o.Desired.Units), o.Error));
            return TypedResults.Ok(new BatchResponse([.. results]));
        }).RequireAuthorization(Scopes.Agent).Accepts<BatchReportRequest>("application/json").Produces<BatchResponse>().WithTags("Nodes")
          .AddEndpointFilter(Hosting.ReportMetering.Batch);

        v1.MapGet("/nodes/{node}/desired", async (string node, double? waitSeconds, string? stamp, SnapstoneClient client) =>
        {
            long? known = null;
            if (stamp is not null)
            {
                known = long.TryParse(stamp, System.Globalization.NumberStyles.HexNumber, null, out var s) ? s
                    : throw SnapstoneException.Invalid("stamp must be the hex stamp of an earlier desired-state answer");
            }
            if (waitSeconds is { } seconds && !(seconds >= 0 && seconds <= SnapstoneClient.MaxDesiredWait.TotalSeconds))
            {
                // NaN, infinities and 1e309 (read as infinity) included: none of them is a number of seconds to wait.
                throw SnapstoneException.Invalid($"waitSeconds must be between 0 and {SnapstoneClient.MaxDesiredWait.TotalSeconds} (got {seconds})");
            }
            var wait = TimeSpan.FromSeconds(waitSeconds ?? 0);
            return TypedResults.Ok(DesiredResponse.From(await client.WaitForDesiredAsync(node, known, wait)));
        }).RequireAuthorization(Scopes.ReadOrAgent).Produces<DesiredResponse>().WithTags("Nodes");

        v1.MapGet("/nodes/{node}", async (string node, SnapstoneClient client) =>
            TypedResults.Ok(NodeResponse.From(await client.GetNodeAsync(node))))
            .RequireAuthorization(Scopes.Read).Produces<NodeResponse>().WithTags("Nodes");

        v1.MapGet("/fleet", async (SnapstoneClient client) => TypedResults.Ok(FleetResponse.From(await client.GetFleetAsync())))
            .RequireAuthorization(Scopes.Read).Produces<FleetResponse>().WithTags("Fleet");
    }

    private static long ParseVersion(string version) =>
        long.TryParse(version, out var number) && number >= 1
            ? number
            : throw SnapstoneException.Invalid($"version must be a whole number of 1 or more (got '{(version.Length > 40 ? version[..40] : version)}')");
}
