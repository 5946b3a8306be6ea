using Dapr;
using Dapr.Client;
using Microsoft.Extensions.Options;
using OrderFlow.Contracts;
using OrderFlow.ServiceDefaults;

namespace OrderFlow.Patterns.Jobs;

/// <summary>
/// Runs slow jobs in the background, each registered with <see cref="InFlightWork"/> (the wait group). A job checkpoints
/// after every step; when the grace period runs out it stops where it is and stays in the unfinished index, and
/// <see cref="JobResumer"/> picks it up after the restart. The reply is sent at least once; receivers are idempotent.
/// </summary>
public sealed class JobRunner(JobStore store, DaprClient dapr, IHttpClientFactory http, InFlightWork work, IOptions<PatternsOptions> options, TimeProvider clock,
    ILogger<JobRunner> logger)
{
    private static readonly TimeSpan ReplyRetryDelay = TimeSpan.FromMilliseconds(200);

    /// <summary>Runs <paramref name="job"/> to the end (or to the end of the grace period), then disposes <paramref name="lease"/>.</summary>
    public void Start(SlowJob job, IDisposable lease) => _ = Task.Run(async () =>
    {
        using (lease)
        {
            try
            {
                await RunAsync(job);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogError(e, "job {JobId} failed; it stays unfinished and resumes on the next start", job.JobId);
            }
        }
    });

    private async Task RunAsync(SlowJob job)
    {
        var handBack = work.GraceExpired;
        var attempt = job.Attempts + 1;
        job = job with { Status = job.Status == JobStatus.Finished ? JobStatus.Finished : JobStatus.Running, Attempts = attempt };
        await store.SaveAsync(job, CancellationToken.None);
        try
        {
            for (var step = job.CompletedSteps + 1; step <= job.Steps; step++)
            {
                await Task.Delay(options.Value.JobStepTime, handBack);
                job = job with { StepsDone = [.. job.StepsDone, new StepRun(step, attempt, clock.GetUtcNow())] };
                await store.SaveAsync(job, CancellationToken.None);
            }
            if (job.Status != JobStatus.Finished)
            {
                job = job with { Status = JobStatus.Finished, Result = $"{job.Name}: {job.Steps} step(s) done" };
                await store.SaveAsync(job, CancellationToken.None);
            }
            await ReplyAsync(job, handBack);
            await store.MarkRepliedAsync(job, CancellationToken.None);
            logger.LogInformation("job {JobId} replied via {Via} after {Attempts} attempt(s)", job.JobId, job.ReplyVia, attempt);
        }
        catch (OperationCanceledException) when (handBack.IsCancellationRequested)
        {
            logger.LogWarning("job {JobId} handed back at step {Step}/{Steps}; it resumes after the restart", job.JobId, job.CompletedSteps, job.Steps);
        }
    }

    /// <summary>The callback or event, retried until it goes through (the callee may itself be restarting).</summary>
    private async Task ReplyAsync(SlowJob job, CancellationToken handBack)
    {
        var message = new JobFinished(job.JobId, job.Name, job.Result!, options.Value.InstanceId);
        while (true)
        {
            try
            {
                if (job.ReplyVia == ReplyVia.Event)
                    await dapr.PublishEventAsync(Components.PubSub, PatternTopics.JobFinished, message, handBack);
                else
                    await InvokeCallbackAsync(job.Callback!, message, handBack);
                return;
            }
            catch (Exception e) when (e is DaprException or HttpRequestException && !handBack.IsCancellationRequested)
            {
                logger.LogWarning("job {JobId}: reply via {Via} failed, retrying: {Error}", job.JobId, job.ReplyVia, e.Message);
                await Task.Delay(ReplyRetryDelay, handBack);
            }
        }
    }

    private async Task InvokeCallbackAsync(CallbackTarget callback, JobFinished message, CancellationToken ct)
    {
        using var response = await http.CreateAppClient(callback.AppId).PostAsJsonAsync(callback.Method, message, ct);
        response.EnsureSuccessStatusCode(); // e.g. a 503 from a callee that is shutting down: try again
    }
}
