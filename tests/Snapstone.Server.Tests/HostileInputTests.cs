using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Snapstone.Testing;

namespace Snapstone.Server.Tests;

/// <summary>
/// Hostile input, driven by the OpenAPI document: every operation is sent bodies with each field missing, null,
/// wrong-typed, oversized, at and past its bounds and non-finite; malformed bodies; hostile path and query values.
/// Nothing may answer 5xx; every refusal is a problem detail, and a 400 names the field; and a refused request
/// changes nothing (the audit log, which every change appends to, does not move).
/// </summary>
public sealed class HostileInputTests : IAsyncLifetime
{
    private ServerProcess _server = null!;
    private HttpClient _admin = null!;
    private string _rollout = "";
    private string _incident = "";

    private const string Unit = "hostile-unit";
    private const string Node = "hostile-node";

    /// <summary>A valid body per request schema: mutating a valid body reaches each field's own check.</summary>
    private static readonly Dictionary<string, string> Valid = new()
    {
        ["UnitBody"] = """{"owner":"edge","kind":"file","riskTier":"standard","plan":"standard","description":"d","failureMode":"fail-stale","validators":{"format":"json","maxBytes":1024,"maxItems":{"path":"$.f","max":10},"maxGrowthPercent":50},"targets":{"labels":{"hostile":"yes"}}}""",
        ["ReasonBody"] = """{"reason":"because"}""",
        ["PackageBody"] = """{"content":"{\"f\":[1]}","message":"m","source":"s"}""",
        ["Plan"] = """{"waves":[{"name":"canary","select":{"tier":"canary"},"bakeSeconds":1,"gates":{"maxErrorRate":0.01,"maxErrorRateRatio":2.0,"maxP99LatencyRatio":1.5,"maxCrashes":0,"maxRejected":0,"minReportingFraction":0.9},"requiresApproval":false},{"name":"all","select":{"percent":100},"bakeSeconds":1}]}""",
        ["NodeReport"] = """{"pop":"hpop","region":"hregion","tier":"canary","labels":{"hostile":"yes"},"applied":{},"metrics":{"requests":100,"errors":0,"p99LatencyMs":10.5,"crashes":0},"intervalSeconds":1}""",
        ["BatchReportRequest"] = """{"reports":[{"node":"hostile-node","pop":"hpop","region":"hregion","tier":"canary","labels":{"hostile":"yes"},"applied":{},"metrics":{"requests":100,"errors":0,"p99LatencyMs":10.5,"crashes":0},"intervalSeconds":1}]}""",
        ["NodeEnrolmentBody"] = """{"pop":"hpop","region":"hregion","tier":"canary","labels":{"hostile":"yes"}}""",
        ["RolloutBody"] = """{"unit":"hostile-unit","version":1,"reason":"r","plan":"standard"}""",
        ["FreezeBody"] = """{"unit":"hostile-unit","reason":"r"}""",
        ["BreakGlassRollbackBody"] = """{"unit":"hostile-unit","reason":"r"}""",
        ["BreakGlassDeployBody"] = """{"unit":"hostile-unit","version":1,"reason":"r"}""",
        ["IncidentUpdateBody"] = """{"status":"monitoring","message":"m"}""",
        ["WebhookBody"] = """{"url":"https://hooks.example/snapstone","events":["incident.opened"],"secret":"0123456789abcdef0123"}""",
        ["AlertmanagerPayload"] = """{"version":"4","groupKey":"{}:{alertname=\"EdgeErrors\"}","status":"firing","receiver":"snapstone","groupLabels":{"alertname":"EdgeErrors"},"commonLabels":{"alertname":"EdgeErrors"},"commonAnnotations":{},"externalURL":"http://alertmanager.example","truncatedAlerts":0,"alerts":[{"status":"firing","labels":{"alertname":"EdgeErrors","snapstone_unit":"hostile-unit"},"annotations":{"summary":"s"},"startsAt":"2026-12-01T00:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus.example","fingerprint":"0123456789abcdef"}]}""",
        ["JudgeBody"] = """{"gates":{"maxErrorRate":0.01,"maxErrorRateRatio":2.0,"maxP99LatencyRatio":1.5,"maxCrashes":0,"maxRejected":0,"minReportingFraction":0.9}}""",
        ["NotificationBody"] = """{"kind":"webhook","url":"https://hooks.example/snapstone","events":["rollout.rolled-back"],"units":[],"minSeverity":"sev3","secret":"0123456789abcdef0123"}""",
    };

    public async Task InitializeAsync()
    {
        _server = await ServerProcess.StartAsync();
        _admin = _server.Client("admin");
        Assert.Equal(200, (await _admin.Put($"/v1/units/{Unit}", JsonNode.Parse(Valid["UnitBody"])!)).Status);
        Assert.Equal(201, (await _admin.Post($"/v1/units/{Unit}/packages", new { content = "{\"f\":[1]}" })).Status);
        var (status, rollout) = await _admin.Post("/v1/rollouts", new { unit = Unit, version = 1, reason = "setup" });
        Assert.True(status == 201, rollout.ToJsonString());
        _rollout = (string)rollout["id"]!;
        var (frozen, action) = await _server.Client("admin").Post("/v1/breakglass/freeze", new { unit = "hostile-other", reason = "an incident to update" });
        Assert.True(frozen == 200, action.ToJsonString());
        _incident = (string)(await Eventually.Until(async () => (await _admin.Get($"/v1/breakglass/actions/{(string)action["action"]!}")).Body,
            a => a["incident"] is not null, "the freeze's incident"))["incident"]!;
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private sealed record Case(string Method, string Path, string? Body, string What, string? Field);

    [Fact]
    public async Task No_operation_answers_5xx_every_refusal_is_a_problem_naming_its_field_and_no_refusal_changes_anything()
    {
        using var anonymous = _server.Client(null);
        var (_, document) = await anonymous.Get("/openapi/v1.json");
        var schemas = document["components"]!["schemas"]!.AsObject();
        var cases = new List<Case>();
        foreach (var (path, item) in document["paths"]!.AsObject())
        {
            foreach (var (verb, op) in item!.AsObject())
            {
                var method = verb.ToUpperInvariant();
                var parameters = op!["parameters"]?.AsArray().Select(p => ((string)p!["name"]!, (string)p["in"]!)).ToList() ?? [];
                var concrete = Fill(path);
                var schema = (string?)op["requestBody"]?["content"]?["application/json"]?["schema"]?["$ref"];
                var name = schema?.Split('/')[^1];
                // Hostile path values, for each path parameter in turn.
                foreach (var (parameter, _) in parameters.Where(p => p.Item2 == "path"))
                {
                    foreach (var (value, what) in HostilePathValues)
                    {
                        cases.Add(new Case(method, Fill(path, parameter, value), name is null ? null : Valid.GetValueOrDefault(name, "{}"), $"path {parameter} = {what}", null));
                    }
                }
                foreach (var (parameter, _) in parameters.Where(p => p.Item2 == "query"))
                {
                    foreach (var value in HostileQueryValues)
                    {
                        cases.Add(new Case(method, $"{concrete}?{parameter}={Uri.EscapeDataString(value)}", name is null ? null : Valid.GetValueOrDefault(name, "{}"),
                            $"query {parameter} = {(value.Length > 40 ? value[..20] + "…" : value)}", null));
                    }
                }
                if (name is null)
                {
                    continue;
                }
                var valid = JsonNode.Parse(Valid.GetValueOrDefault(name, "{}"))!;
                foreach (var (body, what) in MalformedBodies)
                {
                    cases.Add(new Case(method, concrete, body, $"body {what}", null));
                }
                // Every field of the valid body, nested ones too, and every top-level field its schema names.
                var fields = Leaves(valid, "$").ToList();
                foreach (var property in schemas[name]?["properties"]?.AsObject().Select(p => p.Key) ?? [])
                {
                    if (fields.All(f => f.Path != $"$.{property}"))
                    {
                        fields.Add(($"$.{property}", null));
                    }
                }
                foreach (var (field, value) in fields)
                {
                    foreach (var (replacement, what) in Mutations(value))
                    {
                        var mutated = valid.DeepClone();
                        Set(mutated, field, replacement);
                        cases.Add(new Case(method, concrete, mutated.ToJsonString(), $"{field} {what}", field.Split('.', '[')[^1].TrimEnd(']')));
                    }
                    if (value is not null)
                    {
                        var without = valid.DeepClone();
                        Set(without, field, null, remove: true);
                        cases.Add(new Case(method, concrete, without.ToJsonString(), $"{field} missing", null));
                    }
                }
            }
        }

        var failures = new List<string>();
        var refused = 0;
        var entries = await AuditEntriesAsync();
        foreach (var c in cases)
        {
            using var request = new HttpRequestMessage(new HttpMethod(c.Method), c.Path);
            if (c.Body is not null)
            {
                request.Content = new StringContent(c.Body, Encoding.UTF8);
                request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            }
            using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            HttpResponseMessage response;
            try
            {
                response = await _admin.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, limit.Token);
            }
            catch (Exception e) when (e is TaskCanceledException or HttpRequestException)
            {
                failures.Add($"{c.Method} {c.Path} with {c.What}: no answer ({e.GetType().Name})");
                continue;
            }
            using (response)
            {
                var status = (int)response.StatusCode;
                var text = c.Path.EndsWith("/events", StringComparison.Ordinal) && status == 200 ? "" : await response.Content.ReadAsStringAsync(limit.Token);
                var label = $"{c.Method} {c.Path[..Math.Min(c.Path.Length, 120)]} with {c.What}";
                if (status >= 500)
                {
                    failures.Add($"{label}: {status} {Short(text)}");
                    continue;
                }
                if (status < 400)
                {
                    // Accepted: a change it made moves the audit log; refusals after it are measured from there.
                    entries = await AuditEntriesAsync();
                    continue;
                }
                refused++;
                if (status == 400 && text.Length == 0 && c.Path.Contains("%00", StringComparison.Ordinal))
                {
                    // Kestrel refuses a NUL in the request target itself, before any middleware runs: a 400 without a body.
                    continue;
                }
                if (status == 422 && c.Path.Contains("/packages", StringComparison.Ordinal) && JsonNode.Parse(text)?["validation"]?["passed"]?.GetValue<bool>() == false)
                {
                    // API.md: a package that fails validation is answered 422 with the package and its findings, and is
                    // recorded (it gets a version and a package.reject entry) so that it can never be rolled out.
                    entries = await AuditEntriesAsync();
                    continue;
                }
                if (response.Content.Headers.ContentType?.MediaType != "application/problem+json")
                {
                    failures.Add($"{label}: {status} is not a problem detail ({response.Content.Headers.ContentType}): {Short(text)}");
                    continue;
                }
                var problem = JsonNode.Parse(text)!;
                var detail = (string?)problem["detail"] ?? "";
                if (detail.Length == 0)
                {
                    failures.Add($"{label}: {status} problem without a detail");
                }
                else if (status == 400 && c.Field is { } field && !Names(problem, field))
                {
                    failures.Add($"{label}: 400 does not name '{field}': {Short(detail)}");
                }
                var now = await AuditEntriesAsync();
                if (now != entries)
                {
                    failures.Add($"{label}: refused with {status} yet the audit log moved from {entries} to {now} entries");
                    entries = now;
                }
            }
        }
        Assert.True(refused > cases.Count / 2, $"only {refused} of {cases.Count} hostile requests were refused: the suite is not reaching the checks");
        Assert.True(failures.Count == 0, $"{failures.Count} of {cases.Count} hostile requests were mishandled:\n" + string.Join("\n", failures.Take(80)));
    }

    private async Task<long> AuditEntriesAsync()
    {
        var (status, verified) = await _admin.Get("/v1/audit/verify");
        Assert.Equal(200, status);
        return (long)verified["entries"]!;
    }

    /// <summary>A problem names the field when its detail (or one of its errors) says the field's name, in any case or word split.</summary>
    private static bool Names(JsonNode problem, string field)
    {
        var said = ((string?)problem["detail"] ?? "") + " " + string.Join(" ", problem["errors"]?.AsArray().Select(e => (string?)e) ?? []);
        return said.Contains(field, StringComparison.OrdinalIgnoreCase);
    }

    private static string Short(string text) => text.Length > 300 ? text[..300] + "…" : text;

    private string Fill(string path, string? hostile = null, string? value = null)
    {
        var filled = path
            .Replace("{unit}", hostile == "unit" ? value : Unit)
            .Replace("{plan}", hostile == "plan" ? value : "hostile-plan")
            .Replace("{node}", hostile == "node" ? value : Node)
            .Replace("{version}", hostile == "version" ? value : "1")
            .Replace("{name}", hostile == "name" ? value : "hostile-hook")
            .Replace("{id}", hostile == "id" ? value : path.StartsWith("/v1/incidents", StringComparison.Ordinal) ? _incident : path.StartsWith("/v1/rollouts", StringComparison.Ordinal) ? _rollout : "hostile-action");
        return filled;
    }

    private static readonly (string Value, string What)[] HostilePathValues =
    [
        (new string('a', 300), "300 characters"),
        ("%00", "a NUL"),
        ("..%2F..%2Fetc", "an escaped traversal"),
        ("%C3%A4%E2%80%AE", "non-ASCII and a right-to-left override"),
        ("-1", "a negative number"),
        ("99999999999999999999", "a number past long"),
        ("a%20b", "a space"),
    ];

    private static readonly string[] HostileQueryValues =
        ["abc", "-1", "0", "1e309", "NaN", "Infinity", "99999999999999999999", "2026-13-45T99:99:99Z", new string('9', 300)];

    private static readonly (string Body, string What)[] MalformedBodies =
    [
        ("", "empty"),
        ("null", "null"),
        ("[]", "an array"),
        ("\"text\"", "a string"),
        ("1e309", "a non-finite number"),
        ("{", "truncated"),
        ("{\"a\":1,}", "with a trailing comma"),
        (new string('[', 10_000) + new string(']', 10_000), "nested 10,000 deep"),
        ("{\"unknown-field\": 1}", "with only an unknown field"),
    ];

    /// <summary>Replacements for a field whose valid value is <paramref name="value"/> (null: a field only its schema names).</summary>
    private static IEnumerable<(JsonNode? Value, string What)> Mutations(JsonNode? value)
    {
        yield return (null, "null");
        var kind = value?.GetValueKind();
        switch (kind)
        {
            case System.Text.Json.JsonValueKind.String:
                yield return (JsonValue.Create(12345), "a number instead of a string");
                yield return (JsonValue.Create(""), "empty");
                yield return (JsonValue.Create(new string('x', 70_000)), "70,000 characters");
                yield return (JsonValue.Create(string.Concat(Enumerable.Repeat("\u00e4\u20ac\U0001F600", 6_000))), "6,000 multi-byte runs (42,000 bytes)");
                yield return (JsonValue.Create("\u0000\u202e<script>"), "control and markup characters");
                break;
            case System.Text.Json.JsonValueKind.Number:
                yield return (JsonValue.Create("ten"), "a string instead of a number");
                yield return (JsonValue.Create(-1), "-1");
                yield return (JsonValue.Create(0.5), "0.5");
                yield return (JsonNode.Parse("1e309"), "1e309 (not finite)");
                yield return (JsonNode.Parse("99999999999999999999"), "past long");
                yield return (JsonValue.Create(int.MaxValue), "int.MaxValue");
                break;
            case System.Text.Json.JsonValueKind.True or System.Text.Json.JsonValueKind.False:
                yield return (JsonValue.Create("yes"), "a string instead of a boolean");
                break;
            case System.Text.Json.JsonValueKind.Array:
                yield return (new JsonObject { ["x"] = 1 }, "an object instead of an array");
                yield return (new JsonArray([.. Enumerable.Range(0, 20_000).Select(i => (JsonNode?)JsonValue.Create($"item-{i}"))]), "20,000 items");
                break;
            case System.Text.Json.JsonValueKind.Object:
                yield return (new JsonArray(1, 2), "an array instead of an object");
                yield return (new JsonObject([.. Enumerable.Range(0, 5_000).Select(i => KeyValuePair.Create($"key-{i}", (JsonNode?)JsonValue.Create(new string('v', 100))))]), "5,000 keys");
                break;
            default:
                yield return (JsonValue.Create(new string('x', 70_000)), "70,000 characters");
                yield return (JsonNode.Parse("1e309"), "1e309 (not finite)");
                yield return (new JsonArray(1, 2), "an array");
                break;
        }
    }

    /// <summary>Every field of <paramref name="node"/> down to three levels, with its JSON path and valid value.</summary>
    private static IEnumerable<(string Path, JsonNode? Value)> Leaves(JsonNode node, string at, int depth = 0)
    {
        if (depth >= 3)
        {
            yield break;
        }
        if (node is JsonObject o)
        {
            foreach (var (key, value) in o)
            {
                yield return ($"{at}.{key}", value);
                if (value is JsonObject or JsonArray)
                {
                    foreach (var leaf in Leaves(value, $"{at}.{key}", depth + 1))
                    {
                        yield return leaf;
                    }
                }
            }
        }
        else if (node is JsonArray a && a.Count > 0 && a[0] is JsonObject first)
        {
            foreach (var leaf in Leaves(first, $"{at}[0]", depth + 1))
            {
                yield return leaf;
            }
        }
    }

    private static void Set(JsonNode root, string path, JsonNode? value, bool remove = false)
    {
        var steps = path[2..].Replace("[0]", ".[0]").Split('.');
        var node = root;
        for (var i = 0; i < steps.Length - 1; i++)
        {
            node = steps[i] == "[0]" ? node.AsArray()[0]! : node[steps[i]]!;
        }
        var last = steps[^1];
        if (remove)
        {
            node.AsObject().Remove(last);
        }
        else
        {
            node[last] = value;
        }
    }
}
