using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;

namespace OrderFlow.ServiceDefaults;

/// <summary>
/// A request body that cannot be read (malformed JSON, a value of the wrong type, no body at all) is answered with
/// problem details that say what is wrong (logged at information level by <see cref="ProblemLog"/>). Minimal APIs
/// otherwise answer a bare 400 and log it at debug level only; <c>RouteHandlerOptions.ThrowOnBadRequest</c> turns it
/// into this exception.
/// </summary>
public sealed class BadRequestHandler(IProblemDetailsService problems) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is not BadHttpRequestException bad) return false;
        // System.Text.Json names the field ("… Path: $.amount …"), its inner error the expected type ("… for a Decimal.").
        var detail = bad.InnerException is JsonException json
            ? $"{bad.Message} {json.Message}{(json.InnerException is { } cause ? " " + cause.Message : "")}"
            : bad.Message;
        context.Response.StatusCode = bad.StatusCode;
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            Exception = exception,
            ProblemDetails = new ProblemDetails { Status = bad.StatusCode, Title = "The request could not be read.", Detail = detail },
        });
    }
}
