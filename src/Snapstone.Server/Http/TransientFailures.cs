using System.Diagnostics;
using Microsoft.Extensions.Options;
using Orleans.Runtime.Messaging;
using Polly;
using Polly.Retry;
using Snapstone.Server.Hosting;

namespace Snapstone.Server.Http;

/// <summary>
/// A degraded cluster answers, it does not throw. While a silo is dead but not yet declared dead, calls to the
/// grains it hosted fail (rejected, unable to connect, timed out); once membership declares it, they succeed on
/// another silo. So, in one place in front of every endpoint:
///
/// - an operation that is idempotent — every GET, PUT and DELETE, and the POSTs idempotent by construction
///   (<c>POST /v1/rollouts</c> with an <c>Idempotency-Key</c>, <c>:validate</c> and <c>/judge</c>, which store
///   nothing) — is retried with jittered exponential backoff for up to <c>Snapstone:Gateway:RetrySeconds</c>;
/// - anything else (a report batch, approve, pause, a package upload) is not: it may have been half done;
/// - a write storage refused because the grain's row changed under it (another activation wrote it) is transient
///   too: the grain reloads and the retry is judged afresh;
/// - what still fails transiently is answered <c>503</c> with <c>Retry-After</c>, never 500, so the caller
///   retries (agents resend their reports anyway; CI retries with the same idempotency key).
///
/// No retry starts once shutdown has begun, and none once the response has started (a stream).
/// </summary>
public static class TransientFailures
{
    public static IApplicationBuilder UseTransientFailures(this IApplicationBuilder app) => app.UseMiddleware<TransientFailureMiddleware>();

    /// <summary>
    /// Failures of the cluster rather than of the request: the message was rejected or could not be sent, the
    /// target silo is unavailable, the call timed out, or storage answered with a server-side error or not at all.
    /// </summary>
    public static bool IsTransient(Exception e) => e switch
    {
        SnapstoneException => false,
        // A pattern that ran too long is the input's doing, not the cluster's.
        System.Text.RegularExpressions.RegexMatchTimeoutException => false,
        AggregateException all => all.InnerExceptions.Any(IsTransient),
        OrleansMessageRejectionException or GatewayTooBusyException or ConnectionFailedException or ClientNotAvailableException => true,
        TimeoutException or System.Net.Sockets.SocketException => true,
        // Storage refused the write because the row changed under the activation: the grain starts over from what is
        // stored, and the same request made again is judged against that.
        Orleans.Storage.InconsistentStateException => true,
        Azure.RequestFailedException storage => storage.Status is 0 or 408 or 429 or >= 500,
        _ => e.InnerException is { } inner && IsTransient(inner),
    };

    /// <summary>Whether running the request twice leaves the same state as running it once.</summary>
    public static bool IsIdempotent(HttpContext context)
    {
        var method = context.Request.Method;
        if (HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsPut(method) || HttpMethods.IsDelete(method))
        {
            return true;
        }
        if (!HttpMethods.IsPost(method))
        {
            return false;
        }
        return ((context.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText?.TrimEnd('/')) switch
        {
            "/v1/rollouts" => context.Request.Headers.ContainsKey("Idempotency-Key"),
            "/v1/units/{unit}/packages:validate" or "/v1/rollouts/{id}/judge" => true,
            _ => false,
        };
    }

    internal static readonly ResiliencePropertyKey<Attempts> AttemptsKey = new("snapstone.attempts");

    /// <summary>One pipeline for every request; what may be retried is decided per request from its <see cref="Attempts"/>.</summary>
    internal static readonly ResiliencePipeline Retry = new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            MaxRetryAttempts = int.MaxValue,
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            Delay = TimeSpan.FromMilliseconds(100),
            MaxDelay = TimeSpan.FromSeconds(1),
            ShouldHandle = args => ValueTask.FromResult(
                args.Outcome.Exception is { } e && args.Context.Properties.GetValue(AttemptsKey, null!).MayRetry(e)),
        })
        .Build();

    /// <summary>The state of one request's attempts.</summary>
    internal sealed class Attempts(HttpContext http, TimeSpan budget, ShutdownState shutdown)
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();

        public int Count { get; set; }

        public TimeSpan Elapsed => _clock.Elapsed;

        public bool MayRetry(Exception e) =>
            IsFailure(e) && !http.Response.HasStarted && !shutdown.IsStopping && _clock.Elapsed < budget;

        /// <summary>Transient, or cancelled by something other than the caller going away.</summary>
        public bool IsFailure(Exception e) =>
            !http.RequestAborted.IsCancellationRequested && (IsTransient(e) || e is OperationCanceledException);
    }
}

internal sealed class TransientFailureMiddleware(RequestDelegate next, IOptions<ServerOptions> options, ShutdownState shutdown, ILogger<TransientFailureMiddleware> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var gateway = options.Value.Gateway;
        var attempts = new TransientFailures.Attempts(context, TimeSpan.FromSeconds(gateway.RetrySeconds), shutdown);
        try
        {
            if (TransientFailures.IsIdempotent(context) && !shutdown.IsStopping)
            {
                await RetryAsync(context, attempts);
            }
            else
            {
                attempts.Count = 1;
                await next(context);
            }
        }
        catch (Exception e) when (attempts.IsFailure(e) && !context.Response.HasStarted)
        {
            logger.LogWarning("Answered 503 to {Method} {Path} after {Attempts} attempt(s) in {Milliseconds:0} ms: {Failure}",
                context.Request.Method, context.Request.Path, attempts.Count, attempts.Elapsed.TotalMilliseconds, Describe(e));
            context.Response.Clear();
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            context.Response.Headers.RetryAfter = gateway.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            await context.Response.WriteAsJsonAsync(new
            {
                type = "https://tools.ietf.org/html/rfc9110#section-15.6.4",
                title = "Service Unavailable",
                status = StatusCodes.Status503ServiceUnavailable,
                detail = $"the cluster could not serve this request now ({Kind(e)}); retry after {gateway.RetryAfterSeconds} s",
            }, (System.Text.Json.JsonSerializerOptions?)null, "application/problem+json");
        }
    }

    /// <summary>Runs the request until it succeeds or may not be retried; a body is replayed from memory on each attempt.</summary>
    private async Task RetryAsync(HttpContext context, TransientFailures.Attempts attempts)
    {
        var body = await BufferAsync(context.Request);
        var resilience = ResilienceContextPool.Shared.Get(context.RequestAborted);
        resilience.Properties.Set(TransientFailures.AttemptsKey, attempts);
        try
        {
            await TransientFailures.Retry.ExecuteAsync(async _ =>
            {
                if (++attempts.Count > 1)
                {
                    context.Response.Clear();
                    logger.LogDebug("Retrying {Method} {Path} (attempt {Attempt}) after a transient cluster failure", context.Request.Method, context.Request.Path, attempts.Count);
                }
                if (body is not null)
                {
                    context.Request.Body = new MemoryStream(body, writable: false);
                }
                await next(context);
            }, resilience);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(resilience);
        }
    }

    /// <summary>Idempotent requests carry small bodies (definitions, a rollout start); Kestrel's body limit still applies.</summary>
    private static async Task<byte[]?> BufferAsync(HttpRequest request)
    {
        if (request.ContentLength is 0 || (request.ContentLength is null && !request.Headers.TransferEncoding.Any()))
        {
            return null;
        }
        using var buffer = new MemoryStream();
        try
        {
            await request.Body.CopyToAsync(buffer, request.HttpContext.RequestAborted);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw new SnapstoneException(Domain.ProblemKind.TooLarge,
                $"request body exceeds the limit of {request.HttpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize} bytes (Snapstone:Gateway:MaxRequestBytes)");
        }
        return buffer.ToArray();
    }

    private static string Kind(Exception e) => e switch
    {
        OperationCanceledException or TimeoutException => "a call timed out",
        Azure.RequestFailedException => "storage did not answer",
        _ when Find<Azure.RequestFailedException>(e) is not null => "storage did not answer",
        _ => "a silo is unavailable",
    };

    private static string Describe(Exception e)
    {
        var innermost = e;
        while (innermost.InnerException is { } inner)
        {
            innermost = inner;
        }
        var line = e.Message.Split('\n', 2)[0].Trim();
        return innermost == e ? $"{e.GetType().Name}: {line}" : $"{e.GetType().Name}: {line} ({innermost.GetType().Name})";
    }

    private static T? Find<T>(Exception e) where T : Exception
    {
        for (var at = e; at is not null; at = at.InnerException)
        {
            if (at is T found)
            {
                return found;
            }
        }
        return null;
    }
}
