using Microsoft.Extensions.Logging;

namespace WorkflowSdk;

/// <summary>
/// What a workflow can do. Every method that schedules work (activities, timers, child workflows, events)
/// is recorded in the workflow's history; on replay the recorded results are handed back instead of
/// doing the work again.
/// </summary>
public abstract class WorkflowContext
{
    /// <summary>The workflow's registered name.</summary>
    public abstract string Name { get; }

    /// <summary>The workflow instance id.</summary>
    public abstract string InstanceId { get; }

    /// <summary>Deterministic "now": the timestamp at which the current turn of the workflow started.</summary>
    public abstract DateTime CurrentUtcDateTime { get; }

    /// <summary>True while the workflow re-runs through recorded history.</summary>
    public abstract bool IsReplaying { get; }

    public abstract Task<T> CallActivityAsync<T>(string name, object? input = null, WorkflowTaskOptions? options = null);

    public virtual Task CallActivityAsync(string name, object? input = null, WorkflowTaskOptions? options = null) =>
        this.CallActivityAsync<object?>(name, input, options);

    /// <summary>A durable timer that fires at <paramref name="fireAt"/> (UTC).</summary>
    public abstract Task CreateTimer(DateTime fireAt, CancellationToken cancellationToken = default);

    /// <summary>A durable timer that fires <paramref name="delay"/> after <see cref="CurrentUtcDateTime"/>.</summary>
    public virtual Task CreateTimer(TimeSpan delay, CancellationToken cancellationToken = default) =>
        this.CreateTimer(this.CurrentUtcDateTime.Add(delay), cancellationToken);

    /// <summary>Waits for an external event (names match case-insensitively). Events raised earlier are buffered.</summary>
    public abstract Task<T> WaitForExternalEventAsync<T>(string eventName, CancellationToken cancellationToken = default);

    /// <summary>Waits for an external event, up to <paramref name="timeout"/> (a durable timer); throws <see cref="TaskCanceledException"/> on timeout.</summary>
    public abstract Task<T> WaitForExternalEventAsync<T>(string eventName, TimeSpan timeout);

    /// <summary>Raises an event on another workflow instance.</summary>
    public abstract void SendEvent(string instanceId, string eventName, object? payload);

    public abstract Task<TResult> CallChildWorkflowAsync<TResult>(string workflowName, object? input = null, ChildWorkflowTaskOptions? options = null);

    public virtual Task CallChildWorkflowAsync(string workflowName, object? input = null, ChildWorkflowTaskOptions? options = null) =>
        this.CallChildWorkflowAsync<object?>(workflowName, input, options);

    /// <summary>Sets the custom status reported with the workflow's state (serialized as JSON).</summary>
    public abstract void SetCustomStatus(object? customStatus);

    /// <summary>Restarts the workflow with a fresh history and <paramref name="newInput"/> once <c>RunAsync</c> returns.</summary>
    public abstract void ContinueAsNew(object? newInput = null, bool preserveUnprocessedEvents = true);

    /// <summary>A GUID that is the same on every replay.</summary>
    public abstract Guid NewGuid();

    public abstract ILogger CreateReplaySafeLogger(string categoryName);

    public virtual ILogger CreateReplaySafeLogger(Type type) => this.CreateReplaySafeLogger(type.FullName ?? type.Name);

    public virtual ILogger CreateReplaySafeLogger<T>() => this.CreateReplaySafeLogger(typeof(T));

    public abstract ILogger CreateReplaySafeLogger(ILogger logger);
}
