using Microsoft.Extensions.Options;
using OrderFlow.ServiceDefaults;

namespace OrderFlow.Patterns.Jobs;

/// <summary>On start, resumes the jobs this instance left unfinished when it last stopped.</summary>
public sealed class JobResumer(JobStore store, JobRunner runner, InFlightWork work, IOptions<PatternsOptions> options, ILogger<JobResumer> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var owner = options.Value.InstanceId;
        foreach (var jobId in await store.UnfinishedAsync(owner, stoppingToken))
        {
            if (await store.GetAsync(jobId, stoppingToken) is not { Status: not JobStatus.Replied } job) continue;
            logger.LogInformation("resuming job {JobId} at step {Step}/{Steps}", jobId, job.CompletedSteps + 1, job.Steps);
            runner.Start(job, work.Begin());
        }
    }
}
