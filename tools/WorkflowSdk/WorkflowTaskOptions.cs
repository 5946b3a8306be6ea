namespace WorkflowSdk;

/// <summary>Options for a call to an activity.</summary>
public record WorkflowTaskOptions(WorkflowRetryPolicy? RetryPolicy = null);

/// <summary>Options for a call to a child workflow.</summary>
public record ChildWorkflowTaskOptions(string? InstanceId = null, WorkflowRetryPolicy? RetryPolicy = null)
    : WorkflowTaskOptions(RetryPolicy);

/// <summary>
/// Retry policy for activities and child workflows. Retries run inside the workflow: a failed attempt is
/// followed by a durable timer and a fresh call, so retries survive restarts.
/// </summary>
public sealed class WorkflowRetryPolicy
{
    public WorkflowRetryPolicy(
        int maxNumberOfAttempts,
        TimeSpan firstRetryInterval,
        double backoffCoefficient = 1.0,
        TimeSpan? maxRetryInterval = null,
        TimeSpan? retryTimeout = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxNumberOfAttempts, 1);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(firstRetryInterval, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(backoffCoefficient, 1.0);
        if (maxRetryInterval is { } max && max < firstRetryInterval)
        {
            throw new ArgumentOutOfRangeException(nameof(maxRetryInterval), "must not be shorter than firstRetryInterval");
        }

        if (retryTimeout is { } timeout && timeout != Timeout.InfiniteTimeSpan && timeout < firstRetryInterval)
        {
            throw new ArgumentOutOfRangeException(nameof(retryTimeout), "must not be shorter than firstRetryInterval");
        }

        this.MaxNumberOfAttempts = maxNumberOfAttempts;
        this.FirstRetryInterval = firstRetryInterval;
        this.BackoffCoefficient = backoffCoefficient;
        this.MaxRetryInterval = maxRetryInterval ?? TimeSpan.FromHours(1);
        this.RetryTimeout = retryTimeout ?? Timeout.InfiniteTimeSpan;
    }

    public int MaxNumberOfAttempts { get; }
    public TimeSpan FirstRetryInterval { get; }
    public double BackoffCoefficient { get; }
    public TimeSpan MaxRetryInterval { get; }
    public TimeSpan RetryTimeout { get; }

    /// <summary>The delay before retry number <paramref name="failedAttempts"/> (1 = after the first failure).</summary>
    internal TimeSpan DelayAfter(int failedAttempts)
    {
        double ms = this.FirstRetryInterval.TotalMilliseconds * Math.Pow(this.BackoffCoefficient, failedAttempts - 1);
        return ms >= this.MaxRetryInterval.TotalMilliseconds ? this.MaxRetryInterval : TimeSpan.FromMilliseconds(ms);
    }
}
