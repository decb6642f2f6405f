using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Snapstone.Server.Http;

/// <summary>
/// The OpenAPI document at <c>/openapi/v1.json</c>, complete enough to generate a client from: every operation of
/// <c>/v1</c> has a stable <c>operationId</c> and a summary (from <see cref="Operations"/>, one table, so that a new
/// endpoint without an entry fails <c>ApiDocumentTests</c>), the bearer scheme with the scope each operation needs,
/// and each problem-detail answer the gateway can give it. The Orleans Dashboard's routes, the status page, the
/// console and the probes are not part of the API and are left out.
/// </summary>
public static class ApiDocument
{
    public const string BearerScheme = "bearer";

    /// <summary>Operation id and summary of every API operation, by method and route pattern.</summary>
    public static readonly IReadOnlyDictionary<string, (string Id, string Summary)> Operations = new Dictionary<string, (string, string)>
    {
        ["PUT /v1/units/{unit}"] = ("PutUnit", "Define a unit or change its definition (a weakening change waits for a second person: 202)"),
        ["POST /v1/units/{unit}/approve"] = ("ApproveUnitChange", "Approve a unit's pending definition change (a person other than its author)"),
        ["GET /v1/units"] = ("ListUnits", "List units"),
        ["GET /v1/units/{unit}"] = ("GetUnit", "Read a unit: its definition, LKG, quarantine and risk"),
        ["POST /v1/units/{unit}/packages"] = ("CreatePackage", "Publish an immutable package of a unit (validated; 422 when it fails validation)"),
        ["POST /v1/units/{unit}/packages:validate"] = ("ValidatePackage", "Validate a package without storing it (a CI dry run)"),
        ["GET /v1/units/{unit}/packages"] = ("ListPackages", "List a unit's packages, newest first"),
        ["GET /v1/units/{unit}/packages/{version}"] = ("GetPackage", "Read a package's metadata, validation findings and risk"),
        ["GET /v1/units/{unit}/packages/{version}/content"] = ("GetPackageContent", "Read a package's exact bytes"),
        ["PUT /v1/plans/{plan}"] = ("PutPlan", "Define a rollout plan (waves, selections, bakes and gates)"),
        ["GET /v1/plans/{plan}"] = ("GetPlan", "Read a plan"),
        ["POST /v1/nodes/{node}/report"] = ("ReportNode", "An agent reports one node's applied versions and health; answers its desired state"),
        ["POST /v1/reports"] = ("ReportBatch", "An agent reports many nodes at once; answers each node's desired state"),
        ["GET /v1/nodes/{node}/desired"] = ("GetDesiredState", "Read a node's desired state, optionally waiting for it to change (long poll)"),
        ["GET /v1/nodes/{node}"] = ("GetNode", "Read a node: identity, applied and desired versions, recent health"),
        ["PUT /v1/nodes/{node}"] = ("EnrolNode", "Enrol or re-enrol a node with its PoP, region, tier and labels"),
        ["GET /v1/fleet"] = ("GetFleet", "Count the fleet by PoP, region and tier"),
        ["GET /v1/drift"] = ("GetDrift", "Nodes whose applied versions differ from what they should run"),
        ["GET /v1/risk/pipelines"] = ("ListRiskPipelines", "Units by risk, with the reasons for each"),
        ["POST /v1/rollouts"] = ("StartRollout", "Start rolling a package out in waves (honours Idempotency-Key)"),
        ["GET /v1/rollouts"] = ("ListRollouts", "List rollouts, newest first, by unit and state"),
        ["GET /v1/rollouts/{id}"] = ("GetRollout", "Read a rollout: its waves, verdicts and timeline"),
        ["POST /v1/rollouts/{id}/approve"] = ("ApproveRollout", "Approve the wave a rollout waits on (a person other than its starter)"),
        ["POST /v1/rollouts/{id}/pause"] = ("PauseRollout", "Pause a rollout where it stands"),
        ["POST /v1/rollouts/{id}/resume"] = ("ResumeRollout", "Resume a paused rollout"),
        ["POST /v1/rollouts/{id}/abort"] = ("AbortRollout", "Abort a rollout: the nodes it touched go back to the LKG"),
        ["GET /v1/rollouts/{id}/events"] = ("WatchRollout", "Follow a rollout's timeline as server-sent events"),
        ["GET /v1/rollouts/{id}/timeline"] = ("ReadRolloutTimeline", "Read a rollout's whole timeline, page by page, oldest first"),
        ["GET /v1/rollouts/{id}/evidence"] = ("ReadRolloutEvidence", "Read the evidence a rollout's verdicts were made from, cohort beside control, by wave"),
        ["POST /v1/rollouts/{id}/judge"] = ("JudgeRollout", "Judge a rollout's recorded evidence again under another plan or other gates"),
        ["POST /v1/breakglass/freeze"] = ("Freeze", "Freeze one unit or every unit: no rollout starts or advances"),
        ["DELETE /v1/breakglass/freeze"] = ("Unfreeze", "Lift a freeze"),
        ["GET /v1/breakglass/freeze"] = ("ListFreezes", "List the freezes in force"),
        ["POST /v1/breakglass/rollback"] = ("InstantRollback", "Send every node of a unit back to its LKG at once, and quarantine the version"),
        ["GET /v1/breakglass/actions/{id}"] = ("GetBreakGlassAction", "Follow a break-glass action to its end"),
        ["POST /v1/breakglass/deploy"] = ("EmergencyDeploy", "Deploy a package on the emergency plan (audited, with an incident)"),
        ["GET /v1/incidents"] = ("ListIncidents", "List incidents, open first"),
        ["GET /v1/incidents/{id}"] = ("GetIncident", "Read an incident with its updates"),
        ["POST /v1/incidents/{id}/updates"] = ("UpdateIncident", "Post an update to an incident (status and message)"),
        ["PUT /v1/webhooks/{name}"] = ("PutWebhook", "Create or replace a signed incident webhook"),
        ["GET /v1/webhooks"] = ("ListWebhooks", "List webhooks (never a secret)"),
        ["GET /v1/webhooks/{name}"] = ("GetWebhook", "Read one webhook with its receiver's circuit (never its secret)"),
        ["DELETE /v1/webhooks/{name}"] = ("DeleteWebhook", "Delete a webhook"),
        ["GET /v1/audit"] = ("ReadAudit", "Read the audit log, oldest first, from a time or a sequence number"),
        ["GET /v1/audit/verify"] = ("VerifyAudit", "Verify the audit log's hash chain and its sealed head"),
        ["GET /v1/status"] = ("GetStatus", "Open incidents and active rollouts, for people outside the team"),
        ["PUT /v1/notifications/{name}"] = ("PutNotification", "Create or replace a notification (Slack, Teams, PagerDuty or a signed webhook)"),
        ["GET /v1/notifications"] = ("ListNotifications", "List notifications (never a secret or routing key)"),
        ["GET /v1/notifications/{name}"] = ("GetNotification", "Read one notification (never its secret or routing key)"),
        ["DELETE /v1/notifications/{name}"] = ("DeleteNotification", "Delete a notification"),
        ["POST /v1/alarms/alertmanager"] = ("PostAlertmanagerAlarm", "Alertmanager webhook (payload version 4): firing alerts roll back or pause the rollouts they name; resolved ones are recorded"),
    };

    /// <summary>What each tag groups.</summary>
    private static readonly IReadOnlyDictionary<string, string> Tags = new Dictionary<string, string>
    {
        ["Units"] = "Configuration units and their immutable, validated packages",
        ["Plans"] = "Rollout plans: waves, selections, bakes and health gates",
        ["Nodes"] = "Edge agents: reports, desired state, enrolment",
        ["Fleet"] = "The enrolled fleet at a glance",
        ["Drift"] = "Nodes that run something other than what they should",
        ["Risk"] = "Units by risk",
        ["Rollouts"] = "Rollouts in waves, judged against a control, with approval, pause, resume and abort",
        ["Break-glass"] = "Audited emergency actions: freeze, instant rollback, emergency deploy",
        ["Incidents"] = "Incidents opened by rollbacks and break-glass, with their updates",
        ["Webhooks"] = "Signed incident webhooks",
        ["Notifications"] = "Slack, Teams, PagerDuty and signed-webhook notifications",
        ["Audit"] = "The tamper-evident audit log",
        ["Status"] = "The public status of incidents and rollouts",
        ["Alarms"] = "Alerts from monitoring systems that halt rollouts",
    };

    /// <summary>The scopes an authorization policy admits (a policy named for one scope, or the agent's read-or-agent).</summary>
    private static string[] ScopesOf(string policy) => policy == Scopes.ReadOrAgent ? [Scopes.Read, Scopes.Agent] : [policy];

    public static IServiceCollection AddSnapstoneApiDocument(this IServiceCollection services) => services.AddOpenApi(options =>
    {
        options.CreateSchemaReferenceId = type => SchemaName(type) ?? OpenApiOptions.CreateDefaultSchemaReferenceId(type);
        options.ShouldInclude = description => description.RelativePath?.StartsWith("v1/", StringComparison.Ordinal) == true;
        options.AddDocumentTransformer((document, _, _) =>
        {
            document.Info = new OpenApiInfo
            {
                Title = "Snapstone",
                Version = "v1",
                Description = "Safe configuration rollouts across an edge fleet: units, immutable packages, plans of waves judged " +
                              "against a control, automatic rollback, break-glass, incidents and audit. Every operation takes a " +
                              "bearer token (Authorization: Bearer …) whose scopes are listed on the operation; errors are " +
                              "problem details (RFC 9457).",
                License = new OpenApiLicense { Name = "Proprietary", Url = new Uri("https://snapstone.invalid/license") },
            };
            document.Servers = [new OpenApiServer { Url = "/", Description = "this Snapstone server" }];
            foreach (var tag in document.Tags ?? new HashSet<OpenApiTag>())
            {
                if (tag.Name is { } name && Tags.TryGetValue(name, out var about))
                {
                    tag.Description = about;
                }
            }
            document.Components ??= new OpenApiComponents();
            document.Components.SecuritySchemes = new Dictionary<string, IOpenApiSecurityScheme>
            {
                [BearerScheme] = new OpenApiSecurityScheme
                {
                    Type = SecuritySchemeType.Http,
                    Scheme = "bearer",
                    Description = "A token from Snapstone:Auth:Tokens. Its scopes (read, deploy, approve, agent, breakglass, admin, alarm) " +
                                  "decide what it may do: a missing or unknown token is 401, a known one without the operation's scope 403.",
                },
            };
            document.Components.Schemas ??= new Dictionary<string, IOpenApiSchema>();
            document.Components.Schemas[nameof(Problem)] = Problem;
            return Task.CompletedTask;
        });
        options.AddOperationTransformer((operation, context, _) =>
        {
            var description = context.Description;
            var method = description.HttpMethod ?? "GET";
            var route = "/" + (description.RelativePath ?? "").TrimEnd('/');
            if (Operations.TryGetValue($"{method} {route}", out var named))
            {
                operation.OperationId ??= named.Id;
                operation.Summary ??= named.Summary;
            }
            var metadata = description.ActionDescriptor.EndpointMetadata;
            var anonymous = metadata.OfType<IAllowAnonymous>().Any();
            var policies = metadata.OfType<IAuthorizeData>().Select(a => a.Policy).OfType<string>().Distinct().ToList();
            operation.Responses ??= new OpenApiResponses();
            if (!anonymous && policies.Count > 0)
            {
                var scheme = new OpenApiSecuritySchemeReference(BearerScheme, context.Document);
                operation.Security = [.. policies.SelectMany(ScopesOf).Distinct().Select(scope => new OpenApiSecurityRequirement { [scheme] = [scope] })];
                var scopes = string.Join(" or ", policies.SelectMany(ScopesOf).Distinct().Select(s => $"`{s}`"));
                operation.Description = string.IsNullOrEmpty(operation.Description) ? $"Scope: {scopes}." : $"{operation.Description}\n\nScope: {scopes}.";
                AddProblem(operation, context.Document, "401", "No token, or one Snapstone does not know");
                AddProblem(operation, context.Document, "403", "The token lacks the operation's scope");
            }
            else
            {
                operation.Security = [];
            }
            AddProblem(operation, context.Document, "400", "The request is malformed or a field is out of its limits; the detail names the field and the limit");
            if (route.Contains('{'))
            {
                AddProblem(operation, context.Document, "404", "What the path names does not exist");
            }
            if (method is "POST" or "PUT" or "DELETE")
            {
                AddProblem(operation, context.Document, "409", "The change conflicts with the state it would change (an active rollout, a freeze, a quarantined version, a pending change)");
            }
            if (method is "POST" or "PUT")
            {
                AddProblem(operation, context.Document, "413", "The body exceeds Snapstone:Gateway:MaxRequestBytes");
                AddProblem(operation, context.Document, "415", "The body is not sent as application/json");
            }
            if (route is "/v1/reports" or "/v1/nodes/{node}/report" or "/v1/rollouts/{id}/events" or "/v1/nodes/{node}/desired")
            {
                AddProblem(operation, context.Document, "429", "Too many requests or open streams for this token; retry after Retry-After");
            }
            AddProblem(operation, context.Document, "503", "The cluster or its storage is briefly unavailable; retry after Retry-After (never 500 for a transient failure)");
            return Task.CompletedTask;
        });
    });

    /// <summary>
    /// The lists and the verification are answered as anonymous objects (<c>{ "units": [ … ] }</c>); generated clients
    /// get names a person would choose for them instead of the compiler's.
    /// </summary>
    private static string? SchemaName(System.Text.Json.Serialization.Metadata.JsonTypeInfo type)
    {
        if (!type.Type.Name.Contains("AnonymousType", StringComparison.Ordinal))
        {
            return null;
        }
        var properties = type.Properties.Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
        return properties.Count == 1 ? properties.Single() switch
        {
            "units" => "UnitList",
            "packages" => "PackageList",
            "pipelines" => "PipelineList",
            "rollouts" => "RolloutList",
            "webhooks" => "WebhookList",
            "entries" => "AuditLog",
            "freezes" => "FreezeList",
            "incidents" => "IncidentList",
            _ => null,
        } : properties.Contains("valid") && properties.Contains("firstBroken") ? "AuditVerification" : null;
    }

    private static void AddProblem(OpenApiOperation operation, OpenApiDocument? document, string status, string description)
    {
        if (operation.Responses!.ContainsKey(status))
        {
            return;
        }
        operation.Responses[status] = new OpenApiResponse
        {
            Description = description,
            Content = new Dictionary<string, OpenApiMediaType>
            {
                ["application/problem+json"] = new() { Schema = new OpenApiSchemaReference(nameof(Problem), document) },
            },
        };
    }

    /// <summary>RFC 9457 problem details, as every refusal is answered.</summary>
    private static readonly OpenApiSchema Problem = new()
    {
        Type = JsonSchemaType.Object,
        Description = "A problem detail (RFC 9457): what went wrong, in words a person can act on.",
        Properties = new Dictionary<string, IOpenApiSchema>
        {
            ["type"] = new OpenApiSchema { Type = JsonSchemaType.String, Description = "A URI naming the kind of problem" },
            ["title"] = new OpenApiSchema { Type = JsonSchemaType.String, Description = "The kind of problem, in words" },
            ["status"] = new OpenApiSchema { Type = JsonSchemaType.Integer, Description = "The HTTP status" },
            ["detail"] = new OpenApiSchema { Type = JsonSchemaType.String, Description = "What was wrong with this request: the field and the limit" },
            ["instance"] = new OpenApiSchema { Type = JsonSchemaType.String },
            ["errors"] = new OpenApiSchema
            {
                Type = JsonSchemaType.Array,
                Items = new OpenApiSchema { Type = JsonSchemaType.String },
                Description = "Every error, when the request had more than one (a plan with several bad fields)",
            },
        },
        Examples = [System.Text.Json.Nodes.JsonNode.Parse("""{"type":"https://tools.ietf.org/html/rfc9110#section-15.5.1","title":"Bad Request","status":400,"detail":"waves[0].bakeSeconds must be between 0 and 86400 (got -1)"}""")!],
    };
}
