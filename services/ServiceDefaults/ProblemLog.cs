using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace OrderFlow.ServiceDefaults;

/// <summary>
/// Logs every client error a service answers, at information level, with what the answer said. Every problem
/// answer passes through here: <c>TypedResults.Problem</c>/<c>ValidationProblem</c>, the status-code pages and the
/// exception handler all write through the <see cref="IProblemDetailsService"/>, which calls this before writing.
/// Server errors are left to the exception handler, which logs them with their exception.
/// </summary>
internal static class ProblemLog
{
    public static void Write(ProblemDetailsContext context)
    {
        var status = context.ProblemDetails.Status ?? context.HttpContext.Response.StatusCode;
        // daprd probes /dapr/config and /dapr/subscribe on start; a 404 there is an answer, not a client's mistake.
        if (status >= StatusCodes.Status500InternalServerError || context.HttpContext.Request.Path.StartsWithSegments("/dapr")) return;
        var logger = context.HttpContext.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("OrderFlow.Problems");
        var errors = context.ProblemDetails is HttpValidationProblemDetails validation
            ? string.Join("; ", validation.Errors.Select(e => $"{e.Key}: {string.Join(", ", e.Value)}"))
            : null;
        logger.LogInformation("{Method} {Path} answered {Status} {Title} {Detail}", context.HttpContext.Request.Method,
            context.HttpContext.Request.Path, status, context.ProblemDetails.Title, errors ?? context.ProblemDetails.Detail ?? "");
    }
}
