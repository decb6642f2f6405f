using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics;
using Snapstone.Domain;

namespace Snapstone.Server.Http;

/// <summary>RFC 9457 problem details for every error Snapstone returns.</summary>
public static class Problems
{
    public static int StatusOf(ProblemKind kind) => kind switch
    {
        ProblemKind.Invalid => StatusCodes.Status400BadRequest,
        ProblemKind.NotFound => StatusCodes.Status404NotFound,
        ProblemKind.Conflict => StatusCodes.Status409Conflict,
        ProblemKind.Unprocessable => StatusCodes.Status422UnprocessableEntity,
        ProblemKind.Forbidden => StatusCodes.Status403Forbidden,
        ProblemKind.TooLarge => StatusCodes.Status413PayloadTooLarge,
        ProblemKind.TooMany => StatusCodes.Status429TooManyRequests,
        ProblemKind.Unavailable => StatusCodes.Status503ServiceUnavailable,
        _ => StatusCodes.Status500InternalServerError,
    };

    public static IResult From(SnapstoneException e) => Result(StatusOf(e.Kind), e.Message, e.Errors);

    public static IResult Result(int status, string detail, IReadOnlyList<string>? errors = null) =>
        TypedResults.Problem(detail: detail, statusCode: status, title: Title(status),
            extensions: errors is { Count: > 1 } ? new Dictionary<string, object?> { ["errors"] = errors } : null);

    public static async Task WriteAsync(HttpContext context, int status, string detail)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/problem+json";
        await context.Response.WriteAsync(JsonSerializer.Serialize(new
        {
            type = $"https://tools.ietf.org/html/rfc9110#section-15.5.{status - 399}",
            title = Title(status),
            status,
            detail,
        }));
    }

    /// <summary>
    /// Maps exceptions that escape an endpoint: Snapstone refusals to their status, a too-large body to 413,
    /// anything else to a 500 whose detail does not leak internals.
    /// </summary>
    public static void UseSnapstoneProblems(this WebApplication app)
    {
        app.UseExceptionHandler(handler => handler.Run(async context =>
        {
            var error = context.Features.Get<IExceptionHandlerFeature>()?.Error;
            var (status, detail) = error switch
            {
                SnapstoneException e => (StatusOf(e.Kind), e.Message),
                BadHttpRequestException e => (e.StatusCode, e.Message),
                OperationCanceledException => (StatusCodes.Status503ServiceUnavailable, "the request was cancelled or timed out; retry"),
                TimeoutException => (StatusCodes.Status503ServiceUnavailable, "the cluster did not answer in time; retry"),
                _ => (StatusCodes.Status500InternalServerError, "internal error; see the server log"),
            };
            await WriteAsync(context, status, detail);
        }));
    }

    private static string Title(int status) => status switch
    {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        503 => "Service Unavailable",
        _ => "Error",
    };
}
