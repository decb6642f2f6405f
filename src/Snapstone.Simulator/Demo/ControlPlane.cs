using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;

namespace Snapstone.Simulator.Demo;

/// <summary>
/// What a CI pipeline does against Snapstone: define units and plans, publish packages, start and
/// watch rollouts. Needs a token with the <c>deploy</c> and <c>read</c> scopes.
/// </summary>
public sealed class ControlPlane(HttpClient http, string? token)
{
    public async Task PutUnitAsync(string unit, JsonObject definition, CancellationToken cancellationToken)
    {
        using var request = Request(HttpMethod.Put, $"/v1/units/{Uri.EscapeDataString(unit)}", definition, ControlPlaneJson.Default.JsonObject);
        using var response = await SendAsync(request, cancellationToken);
    }

    public async Task PutPlanAsync(string plan, JsonObject definition, CancellationToken cancellationToken)
    {
        using var request = Request(HttpMethod.Put, $"/v1/plans/{Uri.EscapeDataString(plan)}", definition, ControlPlaneJson.Default.JsonObject);
        using var response = await SendAsync(request, cancellationToken);
    }

    /// <summary>Publishes a package; one that fails validation (422) comes back with <c>passed: false</c>, not as an error.</summary>
    public async Task<PackageView> CreatePackageAsync(string unit, NewPackage package, CancellationToken cancellationToken)
    {
        using var request = Request(HttpMethod.Post, $"/v1/units/{Uri.EscapeDataString(unit)}/packages", package, ControlPlaneJson.Default.NewPackage);
        using var response = await SendAsync(request, cancellationToken, HttpStatusCode.UnprocessableEntity);
        return await ReadAsync(request, response, ControlPlaneJson.Default.PackageView, cancellationToken);
    }

    public async Task<RolloutView> StartRolloutAsync(NewRollout rollout, string idempotencyKey, CancellationToken cancellationToken)
    {
        using var request = Request(HttpMethod.Post, "/v1/rollouts", rollout, ControlPlaneJson.Default.NewRollout);
        request.Headers.Add("Idempotency-Key", idempotencyKey);
        using var response = await SendAsync(request, cancellationToken);
        return await ReadAsync(request, response, ControlPlaneJson.Default.RolloutView, cancellationToken);
    }

    public async Task<RolloutView> GetRolloutAsync(string id, CancellationToken cancellationToken)
    {
        using var request = Request<object>(HttpMethod.Get, $"/v1/rollouts/{Uri.EscapeDataString(id)}", null, null);
        using var response = await SendAsync(request, cancellationToken);
        return await ReadAsync(request, response, ControlPlaneJson.Default.RolloutView, cancellationToken);
    }

    /// <summary>
    /// Approves a rollout that waits in <c>awaiting-approval</c>. Needs the <c>approve</c> scope, on a token other
    /// than the one that started the rollout.
    /// </summary>
    public async Task<RolloutView> ApproveRolloutAsync(string id, string reason, CancellationToken cancellationToken)
    {
        using var request = Request(HttpMethod.Post, $"/v1/rollouts/{Uri.EscapeDataString(id)}/approve", new ReasonBody(reason), ControlPlaneJson.Default.ReasonBody);
        using var response = await SendAsync(request, cancellationToken);
        return await ReadAsync(request, response, ControlPlaneJson.Default.RolloutView, cancellationToken);
    }

    /// <summary>
    /// The rollout's recorded evidence judged again with every wave's gates replaced by <paramref name="gates"/>
    /// (<c>POST /v1/rollouts/{id}/judge</c>; the <c>read</c> scope).
    /// </summary>
    public async Task<JudgementView> JudgeAsync(string id, JsonObject gates, CancellationToken cancellationToken)
    {
        using var request = Request(HttpMethod.Post, $"/v1/rollouts/{Uri.EscapeDataString(id)}/judge",
            new JsonObject { ["gates"] = gates.DeepClone() }, ControlPlaneJson.Default.JsonObject);
        using var response = await SendAsync(request, cancellationToken);
        return await ReadAsync(request, response, ControlPlaneJson.Default.JudgementView, cancellationToken);
    }

    /// <summary>What the server knows about the fleet: the nodes that have reported, by region and tier.</summary>
    public async Task<FleetView> GetFleetAsync(CancellationToken cancellationToken)
    {
        using var request = Request<object>(HttpMethod.Get, "/v1/fleet", null, null);
        using var response = await SendAsync(request, cancellationToken);
        return await ReadAsync(request, response, ControlPlaneJson.Default.FleetView, cancellationToken);
    }

    private HttpRequestMessage Request<T>(HttpMethod method, string path, T? body, JsonTypeInfo<T>? type)
    {
        var request = new HttpRequestMessage(method, path);
        if (body is not null && type is not null)
        {
            request.Content = JsonContent.Create(body, type);
        }
        if (token is not null)
        {
            request.Headers.Authorization = new("Bearer", token);
        }
        return request;
    }

    /// <summary>Sends and throws a <see cref="ControlPlaneException"/> with the problem's detail unless the answer is a success.</summary>
    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken, HttpStatusCode? alsoAccepted = null)
    {
        var response = await http.SendAsync(request, cancellationToken);
        if (response.IsSuccessStatusCode || response.StatusCode == alsoAccepted)
        {
            return response;
        }
        using (response)
        {
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            string? detail = null;
            try
            {
                var problem = JsonSerializer.Deserialize(body, ControlPlaneJson.Default.Problem);
                detail = problem?.Detail ?? problem?.Title;
            }
            catch (JsonException)
            {
            }
            throw new ControlPlaneException(response.StatusCode,
                $"{request.Method} {Where(request)} answered {(int)response.StatusCode}: {detail ?? (body.Length > 300 ? body[..300] : body)}");
        }
    }

    private async Task<T> ReadAsync<T>(HttpRequestMessage request, HttpResponseMessage response, JsonTypeInfo<T> type, CancellationToken cancellationToken) =>
        await response.Content.ReadFromJsonAsync(type, cancellationToken)
        ?? throw new ControlPlaneException(response.StatusCode, $"{request.Method} {Where(request)} answered an empty body");

    private string Where(HttpRequestMessage request) =>
        http.BaseAddress is { } baseAddress && request.RequestUri is { IsAbsoluteUri: false } relative
            ? new Uri(baseAddress, relative).ToString()
            : request.RequestUri?.ToString() ?? "";
}

public sealed class ControlPlaneException(HttpStatusCode status, string message) : Exception(message)
{
    public HttpStatusCode Status { get; } = status;
}
