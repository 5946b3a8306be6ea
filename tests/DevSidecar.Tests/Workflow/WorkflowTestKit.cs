using System.Collections.Concurrent;
using System.Text.Json;
using Dapr.Workflow;
using Dapr.Workflow.Client;

namespace DevSidecar.Tests.Workflow;

/// <summary>
/// Deadline-bounded waits on workflow instances, through the official DaprWorkflowClient only. Every wait ends in a
/// TimeoutException naming what was awaited and the last state seen, never in a hang.
/// </summary>
public static class WorkflowWaits
{
    public static readonly TimeSpan Deadline = Wait.DefaultTimeout;

    /// <summary>WaitForWorkflowCompletionAsync bounded by a deadline.</summary>
    public static async Task<WorkflowState> CompletionAsync(this DaprWorkflowClient client, string instanceId, TimeSpan? timeout = null)
    {
        var limit = timeout ?? Deadline;
        using var cts = new CancellationTokenSource(limit);
        try
        {
            return await client.WaitForWorkflowCompletionAsync(instanceId, getInputsAndOutputs: true, cancellation: cts.Token);
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            var last = await client.GetWorkflowStateAsync(instanceId);
            throw new TimeoutException($"Timed out after {limit.TotalSeconds:0.#}s waiting for workflow '{instanceId}' to complete; last status {Describe(last)}");
        }
    }

    /// <summary>Polls GetWorkflowStateAsync until <paramref name="condition"/> holds.</summary>
    public static Task<WorkflowState> StateAsync(this DaprWorkflowClient client, string instanceId, Func<WorkflowState, bool> condition,
        string what, TimeSpan? timeout = null) =>
        Wait.ForAsync(() => client.GetWorkflowStateAsync(instanceId), condition, $"workflow '{instanceId}': {what}", timeout ?? Deadline, Describe);

    public static Task<WorkflowState> StatusAsync(this DaprWorkflowClient client, string instanceId, WorkflowRuntimeStatus status, TimeSpan? timeout = null) =>
        client.StateAsync(instanceId, s => s.RuntimeStatus == status, $"status {status}", timeout);

    /// <summary>The types of the instance's history events, in order.</summary>
    public static async Task<List<WorkflowHistoryEventType>> HistoryTypesAsync(this DaprWorkflowClient client, string instanceId) =>
        [.. (await client.GetInstanceHistoryAsync(instanceId)).Select(e => e.EventType)];

    public static string Describe(WorkflowState state) =>
        !state.Exists ? "(no such instance)"
        : $"{state.RuntimeStatus}" + (state.FailureDetails is { } f ? $" ({f.ErrorType}: {f.ErrorMessage})" : "");

    /// <summary>A task awaited with a deadline; the timeout names what was awaited.</summary>
    public static Task<T> Within<T>(this Task<T> task, string what, TimeSpan? timeout = null) =>
        Wait.WithDeadline(task, what, timeout ?? Deadline);

    public static Task Within(this Task task, string what, TimeSpan? timeout = null) =>
        Wait.WithDeadline(task, what, timeout ?? Deadline);

    /// <summary>The JSON the SDK's default serializer writes for a value (what daprd's HTTP API shows as input/output).</summary>
    public static string Json<T>(T value) => JsonSerializer.Serialize(value, JsonSerializerOptions.Web);
}

/// <summary>A thread-safe record of what the workers' activities were called with, in call order.</summary>
public sealed class CallLog
{
    private readonly ConcurrentQueue<string> _calls = new();
    private readonly TaskCompletionSource _firstCall = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Add(string call)
    {
        _calls.Enqueue(call);
        _firstCall.TrySetResult();
    }

    public IReadOnlyList<string> All => [.. _calls];
    public int Count => _calls.Count;
    public int CountOf(string call) => _calls.Count(c => c == call);
    public Task FirstCall => _firstCall.Task;
}
