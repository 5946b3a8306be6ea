using Dapr.Client;
using OrderFlow.Contracts;
using OrderFlow.ServiceDefaults;

namespace OrderFlow.Patterns.Jobs;

/// <summary>Slow jobs in the state store, with a per-instance index of unfinished ones (state stores cannot list keys).</summary>
public sealed class JobStore(DaprClient dapr)
{
    private static string Key(string jobId) => $"job-{jobId}";
    private static string UnfinishedKey(string owner) => $"jobs-unfinished-{owner}";

    public Task<SlowJob?> GetAsync(string jobId, CancellationToken ct) =>
        dapr.GetStateAsync<SlowJob?>(Components.StateStore, Key(jobId), cancellationToken: ct);

    /// <summary>Only the owning instance writes a job, so a plain save is enough.</summary>
    public Task SaveAsync(SlowJob job, CancellationToken ct) =>
        dapr.SaveStateAsync(Components.StateStore, Key(job.JobId), job, cancellationToken: ct);

    public async Task AddAsync(SlowJob job, CancellationToken ct)
    {
        await SaveAsync(job, ct);
        await dapr.AddToIndexAsync(UnfinishedKey(job.Owner), job.JobId, ct);
    }

    public Task MarkRepliedAsync(SlowJob job, CancellationToken ct) =>
        Task.WhenAll(SaveAsync(job with { Status = JobStatus.Replied }, ct),
            dapr.UpdateStateAsync<List<string>>(UnfinishedKey(job.Owner), ids => ids?.Contains(job.JobId) == true ? [.. ids.Where(i => i != job.JobId)] : null, ct));

    public Task<IReadOnlyList<string>> UnfinishedAsync(string owner, CancellationToken ct) => dapr.ReadIndexAsync(UnfinishedKey(owner), ct);

    /// <summary>Records a result delivery; the first one is applied, later ones (redeliveries) only counted.</summary>
    public Task<ReceivedResult?> RecordResultAsync(string kind, JobFinished result, string receivedBy, CancellationToken ct) =>
        dapr.UpdateStateAsync<ReceivedResult>($"{kind}-{result.JobId}",
            current => current is null ? new ReceivedResult(result, receivedBy, 1) : current with { Deliveries = current.Deliveries + 1 }, ct);

    public Task<ReceivedResult?> GetResultAsync(string kind, string jobId, CancellationToken ct) =>
        dapr.GetStateAsync<ReceivedResult?>(Components.StateStore, $"{kind}-{jobId}", cancellationToken: ct);
}
