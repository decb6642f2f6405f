using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Runtime.Messaging;
using Snapstone.Server.Hosting;
using Snapstone.Server.Http;

namespace Snapstone.Server.Tests;

/// <summary>
/// The gateway's handling of transient cluster failures, over real HTTP against the same middleware the server
/// runs, in front of endpoints that fail a given number of times before they succeed.
/// </summary>
public sealed class TransientFailuresTests : IAsyncLifetime
{
    private readonly Dictionary<string, int> _failures = new();
    private readonly Dictionary<string, List<string>> _bodies = new();
    private readonly ShutdownState _shutdown = new();
    private WebApplication _app = null!;
    private HttpClient _client = null!;

    public static TheoryData<Exception, bool> Failures => new()
    {
        { new SiloUnavailableException("silo S127.0.0.1:11111 is unavailable"), true },
        { new ConnectionFailedException("Unable to connect to endpoint S127.0.0.1:11111"), true },
        { new GatewayTooBusyException(), true },
        { new TimeoutException("Response did not arrive on time in 00:00:30"), true },
        { new Azure.RequestFailedException(503, "storage unavailable"), true },
        { new Azure.RequestFailedException(0, "connection refused"), true },
        { new OrleansException("grain call failed", new ConnectionFailedException("Unable to connect")), true },
        { new AggregateException(new InvalidOperationException("x"), new SiloUnavailableException()), true },
        { new Azure.RequestFailedException(409, "conflict"), false },
        { new Azure.RequestFailedException(404, "not found"), false },
        { new InvalidOperationException("a bug"), false },
        // The row changed under the activation: the grain reloads what is stored, and the same request made again is
        // judged against that (StateWriteFaultTests shows the refused change is not stored).
        { new Orleans.Storage.InconsistentStateException("etag mismatch"), true },
        { SnapstoneException.Conflict("unit has an active rollout"), false },
        { new System.Text.RegularExpressions.RegexMatchTimeoutException("(a+)+$", "aaaa!", TimeSpan.FromSeconds(1)), false },
    };

    [Theory]
    [MemberData(nameof(Failures))]
    public void Cluster_failures_are_transient_and_bugs_and_refusals_are_not(Exception failure, bool transient) =>
        Assert.Equal(transient, TransientFailures.IsTransient(failure));

    [Theory]
    [InlineData("GET", "/v1/units/{unit}", false, true)]
    [InlineData("PUT", "/v1/units/{unit}", false, true)]
    [InlineData("DELETE", "/v1/breakglass/freeze", false, true)]
    [InlineData("POST", "/v1/rollouts/", true, true)]
    [InlineData("POST", "/v1/rollouts/", false, false)]
    [InlineData("POST", "/v1/units/{unit}/packages:validate", false, true)]
    [InlineData("POST", "/v1/units/{unit}/packages", false, false)]
    [InlineData("POST", "/v1/reports", false, false)]
    [InlineData("POST", "/v1/rollouts/{id}/approve", false, false)]
    public void Only_operations_that_are_idempotent_by_construction_are_retried(string method, string route, bool idempotencyKey, bool retried)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = method;
        if (idempotencyKey)
        {
            context.Request.Headers["Idempotency-Key"] = "pipeline-1";
        }
        context.SetEndpoint(new Microsoft.AspNetCore.Routing.RouteEndpoint(_ => Task.CompletedTask,
            Microsoft.AspNetCore.Routing.Patterns.RoutePatternFactory.Parse(route), 0, null, route));
        Assert.Equal(retried, TransientFailures.IsIdempotent(context));
    }

    [Fact]
    public async Task A_read_that_fails_while_a_silo_is_unavailable_is_retried_until_it_succeeds()
    {
        _failures["read"] = 3;
        using var response = await _client.GetAsync("/v1/units/read");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("served after 3 failures", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_put_is_retried_with_its_body_replayed_byte_for_byte()
    {
        _failures["define"] = 2;
        using var response = await _client.PutAsync("/v1/units/define", Http.Json("{\"owner\":\"edge\"}"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(["{\"owner\":\"edge\"}", "{\"owner\":\"edge\"}", "{\"owner\":\"edge\"}"], _bodies["define"]);
    }

    [Fact]
    public async Task A_rollout_start_is_retried_only_with_an_idempotency_key()
    {
        _failures["rollouts"] = 1;
        using (var keyed = new HttpRequestMessage(HttpMethod.Post, "/v1/rollouts") { Content = Http.Json("{}") })
        {
            keyed.Headers.Add("Idempotency-Key", "pipeline-1");
            using var response = await _client.SendAsync(keyed);
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
            Assert.Equal(2, _bodies["rollouts"].Count);
        }
        _failures["rollouts"] = 1;
        using var unkeyed = await _client.PostAsync("/v1/rollouts", Http.Json("{}"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, unkeyed.StatusCode);
        Assert.Equal(3, _bodies["rollouts"].Count);
    }

    [Fact]
    public async Task A_write_that_is_not_idempotent_is_tried_once_and_answered_503_with_retry_after_as_a_problem()
    {
        _failures["packages"] = 1;
        using var response = await _client.PostAsync("/v1/units/packages/packages", Http.Json("{\"content\":\"{}\"}"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(7), response.Headers.RetryAfter?.Delta);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.ReadJson();
        Assert.Equal(503, (int?)problem["status"]);
        Assert.Equal("https://tools.ietf.org/html/rfc9110#section-15.6.4", (string?)problem["type"]);
        Assert.Equal("the cluster could not serve this request now (a silo is unavailable); retry after 7 s", (string?)problem["detail"]);
        Assert.Single(_bodies["packages"]);
    }

    [Fact]
    public async Task A_read_that_keeps_failing_is_answered_503_once_the_retry_budget_is_spent()
    {
        _failures["read"] = int.MaxValue;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var response = await _client.GetAsync("/v1/units/read");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.InRange(clock.Elapsed.TotalSeconds, 1.5, 6);
        Assert.True(_bodies["read"].Count >= 3, $"tried {_bodies["read"].Count} times");
    }

    [Fact]
    public async Task Once_shutdown_has_begun_nothing_is_retried()
    {
        _shutdown.Begin();
        _failures["read"] = 1;
        using var response = await _client.GetAsync("/v1/units/read");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Single(_bodies["read"]);
    }

    [Fact]
    public async Task Refusals_and_bugs_pass_through_untouched()
    {
        using var refused = await _client.GetAsync("/v1/refused");
        Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
        using var bug = await _client.GetAsync("/v1/bug");
        Assert.Equal(HttpStatusCode.InternalServerError, bug.StatusCode);
    }

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Services.Configure<ServerOptions>(o =>
        {
            o.Gateway.RetrySeconds = 2;
            o.Gateway.RetryAfterSeconds = 7;
        });
        builder.Services.AddSingleton(_shutdown);
        _app = builder.Build();
        _app.UseSnapstoneProblems();
        _app.UseTransientFailures();
        _app.MapGet("/v1/units/{unit}", (string unit, HttpContext http) => Serve(unit, http, attempts => Results.Text($"served after {attempts - 1} failures")));
        _app.MapPut("/v1/units/{unit}", (string unit, HttpContext http) => Serve(unit, http, _ => Results.Ok()));
        _app.MapPost("/v1/units/{unit}/packages", (string unit, HttpContext http) => Serve(unit, http, _ => Results.Created()));
        _app.MapPost("/v1/rollouts/", (Func<HttpContext, Task<IResult>>)(http => Serve("rollouts", http, _ => Results.Created())));
        _app.MapGet("/v1/refused", () => Results.Problem(statusCode: 409, detail: "refused"));
        _app.MapGet("/v1/bug", IResult () => throw new InvalidOperationException("a bug"));
        await _app.StartAsync();
        _client = new HttpClient { BaseAddress = new Uri(_app.Urls.Single()), Timeout = TimeSpan.FromSeconds(30) };
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _app.DisposeAsync();
    }

    /// <summary>Records the body the endpoint saw, then fails with a silo-unavailable rejection while failures remain.</summary>
    private async Task<IResult> Serve(string name, HttpContext http, Func<int, IResult> success)
    {
        var body = await new StreamReader(http.Request.Body).ReadToEndAsync();
        int attempts;
        lock (_bodies)
        {
            var seen = _bodies.TryGetValue(name, out var list) ? list : _bodies[name] = [];
            seen.Add(body);
            attempts = seen.Count;
            if (_failures.GetValueOrDefault(name) > 0)
            {
                _failures[name]--;
                throw new SiloUnavailableException("Exception while sending message: Unable to connect to S127.0.0.1:11111", new SocketException((int)SocketError.ConnectionRefused));
            }
        }
        return success(attempts);
    }
}
