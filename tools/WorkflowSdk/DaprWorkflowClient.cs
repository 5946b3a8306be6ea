using Google.Protobuf.WellKnownTypes;
using Microsoft.DurableTask.Protobuf;
using WorkflowSdk.Internal;

namespace WorkflowSdk;

/// <summary>Schedules, queries and controls workflow instances through the sidecar's TaskHubSidecarService.</summary>
public sealed class DaprWorkflowClient : IAsyncDisposable, IDisposable
{
    private readonly TaskHubSidecarService.TaskHubSidecarServiceClient client;

    public DaprWorkflowClient(TaskHubSidecarService.TaskHubSidecarServiceClient client)
    {
        this.client = client ?? throw new ArgumentNullException(nameof(client));
    }

    /// <summary>Starts a workflow; returns its instance id (a new GUID unless given).</summary>
    public async Task<string> ScheduleNewWorkflowAsync(
        string name,
        string? instanceId = null,
        object? input = null,
        DateTime? startTime = null,
        CancellationToken cancellation = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        var request = new CreateInstanceRequest
        {
            Name = name,
            InstanceId = string.IsNullOrEmpty(instanceId) ? Guid.NewGuid().ToString() : instanceId,
            Input = WorkflowJson.Serialize(input),
        };
        if (startTime is { } start)
        {
            request.ScheduledStartTimestamp = Timestamp.FromDateTime(ToUtc(start));
        }

        CreateInstanceResponse response = await this.client.StartInstanceAsync(request, cancellationToken: cancellation);
        return string.IsNullOrEmpty(response.InstanceId) ? request.InstanceId : response.InstanceId;
    }

    /// <summary>The instance's state; <see cref="WorkflowState.Exists"/> is false for an unknown id.</summary>
    public async Task<WorkflowState> GetWorkflowStateAsync(
        string instanceId, bool getInputsAndOutputs = true, CancellationToken cancellation = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(instanceId);
        GetInstanceResponse response = await this.client.GetInstanceAsync(
            new GetInstanceRequest { InstanceId = instanceId, GetInputsAndOutputs = getInputsAndOutputs },
            cancellationToken: cancellation);
        return new WorkflowState(response.Exists ? response.OrchestrationState : null);
    }

    /// <summary>Waits until the instance has left the Pending state.</summary>
    public async Task<WorkflowState> WaitForWorkflowStartAsync(
        string instanceId, bool getInputsAndOutputs = true, CancellationToken cancellation = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(instanceId);
        GetInstanceResponse response = await this.client.WaitForInstanceStartAsync(
            new GetInstanceRequest { InstanceId = instanceId, GetInputsAndOutputs = getInputsAndOutputs },
            cancellationToken: cancellation);
        return new WorkflowState(response.Exists ? response.OrchestrationState : null);
    }

    /// <summary>Waits until the instance completed, failed or was terminated.</summary>
    public async Task<WorkflowState> WaitForWorkflowCompletionAsync(
        string instanceId, bool getInputsAndOutputs = true, CancellationToken cancellation = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(instanceId);
        GetInstanceResponse response = await this.client.WaitForInstanceCompletionAsync(
            new GetInstanceRequest { InstanceId = instanceId, GetInputsAndOutputs = getInputsAndOutputs },
            cancellationToken: cancellation);
        return new WorkflowState(response.Exists ? response.OrchestrationState : null);
    }

    public async Task RaiseEventAsync(
        string instanceId, string eventName, object? eventPayload = null, CancellationToken cancellation = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(instanceId);
        ArgumentException.ThrowIfNullOrEmpty(eventName);
        await this.client.RaiseEventAsync(
            new RaiseEventRequest { InstanceId = instanceId, Name = eventName, Input = WorkflowJson.Serialize(eventPayload) },
            cancellationToken: cancellation);
    }

    /// <summary>Terminates the instance (and its child workflows).</summary>
    public async Task TerminateWorkflowAsync(string instanceId, object? output = null, CancellationToken cancellation = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(instanceId);
        await this.client.TerminateInstanceAsync(
            new TerminateRequest { InstanceId = instanceId, Output = WorkflowJson.Serialize(output), Recursive = true },
            cancellationToken: cancellation);
    }

    public async Task SuspendWorkflowAsync(string instanceId, string? reason = null, CancellationToken cancellation = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(instanceId);
        await this.client.SuspendInstanceAsync(
            new SuspendRequest { InstanceId = instanceId, Reason = reason },
            cancellationToken: cancellation);
    }

    public async Task ResumeWorkflowAsync(string instanceId, string? reason = null, CancellationToken cancellation = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(instanceId);
        await this.client.ResumeInstanceAsync(
            new ResumeRequest { InstanceId = instanceId, Reason = reason },
            cancellationToken: cancellation);
    }

    /// <summary>Deletes a completed instance's state; true when something was deleted.</summary>
    public async Task<bool> PurgeInstanceAsync(string instanceId, CancellationToken cancellation = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(instanceId);
        PurgeInstancesResponse response = await this.client.PurgeInstancesAsync(
            new PurgeInstancesRequest { InstanceId = instanceId },
            cancellationToken: cancellation);
        return response.DeletedInstanceCount > 0;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    public void Dispose()
    {
    }

    private static DateTime ToUtc(DateTime t) => t.Kind switch
    {
        DateTimeKind.Utc => t,
        DateTimeKind.Local => t.ToUniversalTime(),
        _ => DateTime.SpecifyKind(t, DateTimeKind.Utc),
    };
}
