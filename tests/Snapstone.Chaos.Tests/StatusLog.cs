using System.Collections.Concurrent;
using System.Globalization;

namespace Snapstone.Chaos.Tests;

/// <summary>
/// One HTTP exchange with a gateway as a caller saw it: the status it got (null when no answer came: refused,
/// timed out, reset), whether a 503 carried <c>Retry-After</c>, and for a 5xx the first part of the body.
/// </summary>
public sealed record Exchange(DateTimeOffset At, string Caller, string Method, string Gateway, string Path, int? Status, bool RetryAfter, string? Detail)
{
    /// <summary>
    /// What the suite forbids: any 5xx but a 503 that says when to retry. A health probe's 503 is its answer ("not
    /// ready"), not a failure to serve.
    /// </summary>
    public bool IsServerFault => Status is >= 500 && !(Status == 503 && (RetryAfter || IsProbe));

    public bool IsProbe => Path is "/readyz" or "/healthz" or "/startupz";

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{At:HH:mm:ss.fff} {Caller} {Method} {Gateway}{Path} → {(Status is { } s ? s.ToString(CultureInfo.InvariantCulture) : "no answer")}{(RetryAfter ? " (Retry-After)" : "")}{(Detail is null ? "" : $": {Detail}")}");
}

/// <summary>Every exchange of the fleet and of the suite's own calls, in order; safe to use from any thread.</summary>
public sealed class StatusLog
{
    private readonly ConcurrentQueue<Exchange> _exchanges = new();

    public void Add(Exchange exchange) => _exchanges.Enqueue(exchange);

    /// <summary>The exchanges from <paramref name="from"/> on (a mark taken with <see cref="Mark"/>).</summary>
    public IReadOnlyList<Exchange> Since(DateTimeOffset from) => [.. _exchanges.Where(e => e.At >= from)];

    public DateTimeOffset Mark() => DateTimeOffset.UtcNow;
}

/// <summary>Counts of what callers saw, for the report: answers by class, 503s, 500s and requests that got no answer.</summary>
public sealed record StatusCounts(int Answers, int Ok, int ClientErrors, int Unavailable, int ServerFaults, int NoAnswer)
{
    public static StatusCounts Of(IReadOnlyList<Exchange> exchanges) => new(
        exchanges.Count(e => e.Status is not null),
        exchanges.Count(e => e.Status is >= 200 and < 300),
        exchanges.Count(e => e.Status is >= 400 and < 500),
        exchanges.Count(e => e.Status == 503 && e.RetryAfter && !e.IsProbe),
        exchanges.Count(e => e.IsServerFault),
        exchanges.Count(e => e.Status is null));

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Answers} answers ({Ok} 2xx, {ClientErrors} 4xx, {Unavailable} 503+Retry-After, {ServerFaults} other 5xx), {NoAnswer} without answer");
}

/// <summary>Records every exchange that passes through it in a <see cref="StatusLog"/>, under the caller's name.</summary>
public sealed class StatusTap(StatusLog log, string caller, HttpMessageHandler inner) : DelegatingHandler(inner)
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var uri = request.RequestUri!;
        var gateway = uri.GetLeftPart(UriPartial.Authority);
        try
        {
            var response = await base.SendAsync(request, cancellationToken);
            var status = (int)response.StatusCode;
            string? detail = null;
            if (status >= 500)
            {
                await response.Content.LoadIntoBufferAsync(cancellationToken);
                var body = await response.Content.ReadAsStringAsync(cancellationToken);
                detail = body.Length > 400 ? body[..400] : body;
            }
            log.Add(new Exchange(DateTimeOffset.UtcNow, caller, request.Method.Method, gateway, uri.AbsolutePath, status,
                response.Headers.RetryAfter is not null, detail));
            return response;
        }
        catch (Exception e)
        {
            log.Add(new Exchange(DateTimeOffset.UtcNow, caller, request.Method.Method, gateway, uri.AbsolutePath, null, false,
                $"{e.GetType().Name}: {e.Message.Split('\n')[0]}"));
            throw;
        }
    }
}
