using Dapr.AspNetCore;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using OrderFlow.Contracts;
using OrderFlow.ServiceDefaults;

namespace OrderFlow.Patterns.Jobs;

/// <summary>
/// Pattern 5, RPC + event: POST /jobs answers 202 at once; the result comes later as a job-finished event, which
/// whichever instance of this app the broker picks consumes and records.
/// </summary>
public static class JobsApi
{
    public sealed record StartJob(string? Name, int? Steps);

    public sealed record JobAccepted(string JobId, JobStatus Status);

    public sealed record JobView(SlowJob Job, ReceivedResult? Result);

    public static IEndpointRouteBuilder MapJobsApi(this IEndpointRouteBuilder app)
    {
        var jobs = app.MapGroup("/jobs");
        jobs.MapPost("/", (StartJob request, JobStore store, JobRunner runner, InFlightWork work, IOptions<PatternsOptions> options, CancellationToken ct) =>
            AcceptAsync(request.Name, request.Steps, ReplyVia.Event, null, store, runner, work, options.Value, ct));
        jobs.MapGet("/{jobId}", GetAsync);
        jobs.MapPost("/events/job-finished", OnJobFinishedAsync).WithTopic(Components.PubSub, PatternTopics.JobFinished);
        return app;
    }

    /// <summary>Persists the job, starts it in the background and answers 202; shared with the callback pattern.</summary>
    internal static async Task<Results<Accepted<JobAccepted>, ValidationProblem, ProblemHttpResult>> AcceptAsync(string? name, int? steps,
        ReplyVia via, CallbackTarget? callback, JobStore store, JobRunner runner, InFlightWork work, PatternsOptions options, CancellationToken ct)
    {
        if (steps is < 1 or > 100)
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["steps"] = ["must be between 1 and 100"] });
        if (work.TryBegin() is not { } lease)
            return TypedResults.Problem("This instance is shutting down.", title: "Shutting down", statusCode: StatusCodes.Status503ServiceUnavailable);

        var job = new SlowJob(Guid.NewGuid().ToString("N"), name ?? "job", steps ?? 3, via, callback, options.InstanceId, JobStatus.Accepted, 0, [], null);
        try
        {
            await store.AddAsync(job, ct);
        }
        catch
        {
            lease.Dispose();
            throw;
        }
        runner.Start(job, lease);
        return TypedResults.Accepted($"/jobs/{job.JobId}", new JobAccepted(job.JobId, job.Status));
    }

    private static async Task<Results<Ok<JobView>, ProblemHttpResult>> GetAsync(string jobId, JobStore store, CancellationToken ct)
    {
        if (await store.GetAsync(jobId, ct) is not { } job)
            return Problems.NotFound("Job not found", $"There is no job '{jobId}'.");
        var kind = job.ReplyVia == ReplyVia.Event ? "job-result" : "callback-result";
        return TypedResults.Ok(new JobView(job, await store.GetResultAsync(kind, jobId, ct)));
    }

    private static async Task<Ok> OnJobFinishedAsync(JobFinished finished, JobStore store, IOptions<PatternsOptions> options,
        ILogger<JobRunner> logger, CancellationToken ct)
    {
        var recorded = await store.RecordResultAsync("job-result", finished, options.Value.InstanceId, ct);
        logger.LogInformation("job-finished {JobId} received by {Instance} (delivery {Count})", finished.JobId, options.Value.InstanceId, recorded?.Deliveries);
        return TypedResults.Ok();
    }
}
