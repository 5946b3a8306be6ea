using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;

namespace OrderFlow.ServiceDefaults;

/// <summary>
/// The error answers every service gives, as RFC 9457 problem details (<c>application/problem+json</c>) saying what was
/// not found or in conflict. <c>TypedResults.NotFound(new ProblemDetails …)</c> would send the same body as plain
/// <c>application/json</c>, which a client cannot tell from a resource.
/// </summary>
public static class Problems
{
    public static ProblemHttpResult NotFound(string title, string detail) =>
        TypedResults.Problem(detail, title: title, statusCode: StatusCodes.Status404NotFound);

    public static ProblemHttpResult Conflict(string title, string detail) =>
        TypedResults.Problem(detail, title: title, statusCode: StatusCodes.Status409Conflict);
}
