using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using OrderFlow.Patterns.Jobs;
using OrderFlow.ServiceDefaults;

namespace OrderFlow.Patterns.Callback;

/// <summary>
/// Pattern 1, RPC + callback: the caller names its callback (app id + method); POST /callback/jobs answers 202 at
/// once and, when the job is done, invokes that method through the sidecar. /callback/inbox is such a callback
/// endpoint — the extra endpoint the essay says every caller has to provide.
/// </summary>
public static class CallbackApi
{
    public const string InboxMethod = "callback/inbox";

    public sealed record StartJobWithCallback(string? Name, int? Steps, string? CallbackAppId, string? CallbackMethod);

    public static IEndpointRouteBuilder MapCallbackApi(this IEndpointRouteBuilder app)
    {
        var callback = app.MapGroup("/callback");
        callback.MapPost("/jobs", (StartJobWithCallback request, JobStore store, JobRunner runner, InFlightWork work,
            IOptions<PatternsOptions> options, CancellationToken ct) =>
        {
            var target = new CallbackTarget(request.CallbackAppId ?? "patterns", request.CallbackMethod ?? InboxMethod);
            return JobsApi.AcceptAsync(request.Name, request.Steps, ReplyVia.Callback, target, store, runner, work, options.Value, ct);
        });
        callback.MapPost("/inbox", async (JobFinished finished, JobStore store, IOptions<PatternsOptions> options, CancellationToken ct) =>
        {
            await store.RecordResultAsync("callback-result", finished, options.Value.InstanceId, ct);
            return TypedResults.NoContent();
        });
        callback.MapGet("/inbox/{jobId}", async Task<Results<Ok<ReceivedResult>, ProblemHttpResult>> (string jobId, JobStore store, CancellationToken ct) =>
            await store.GetResultAsync("callback-result", jobId, ct) is { } received
                ? TypedResults.Ok(received)
                : Problems.NotFound("No callback yet", $"No callback has arrived for job '{jobId}'."));
        return app;
    }
}
