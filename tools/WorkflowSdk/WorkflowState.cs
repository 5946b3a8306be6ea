using Microsoft.DurableTask.Protobuf;
using WorkflowSdk.Internal;

namespace WorkflowSdk;

/// <summary>A workflow instance's runtime status.</summary>
public enum WorkflowRuntimeStatus
{
    Unknown = -1,
    Running,
    Completed,
    ContinuedAsNew,
    Failed,
    Canceled,
    Terminated,
    Pending,
    Suspended,
}

/// <summary>A snapshot of a workflow instance's state, as the sidecar reports it.</summary>
public sealed class WorkflowState
{
    private readonly OrchestrationState? state;

    internal WorkflowState(OrchestrationState? state)
    {
        this.state = state;
    }

    /// <summary>False when the sidecar knows no instance with that id.</summary>
    public bool Exists => this.state is not null;

    public string InstanceId => this.state?.InstanceId ?? string.Empty;

    public string Name => this.state?.Name ?? string.Empty;

    public bool IsWorkflowRunning => this.RuntimeStatus == WorkflowRuntimeStatus.Running;

    public bool IsWorkflowCompleted => this.RuntimeStatus is WorkflowRuntimeStatus.Completed
        or WorkflowRuntimeStatus.Failed or WorkflowRuntimeStatus.Terminated or WorkflowRuntimeStatus.Canceled;

    public WorkflowRuntimeStatus RuntimeStatus => this.state is null
        ? WorkflowRuntimeStatus.Unknown
        : this.state.OrchestrationStatus switch
        {
            OrchestrationStatus.Running => WorkflowRuntimeStatus.Running,
            OrchestrationStatus.Completed => WorkflowRuntimeStatus.Completed,
            OrchestrationStatus.ContinuedAsNew => WorkflowRuntimeStatus.ContinuedAsNew,
            OrchestrationStatus.Failed => WorkflowRuntimeStatus.Failed,
            OrchestrationStatus.Canceled => WorkflowRuntimeStatus.Canceled,
            OrchestrationStatus.Terminated => WorkflowRuntimeStatus.Terminated,
            OrchestrationStatus.Pending => WorkflowRuntimeStatus.Pending,
            OrchestrationStatus.Suspended => WorkflowRuntimeStatus.Suspended,
            _ => WorkflowRuntimeStatus.Unknown,
        };

    public DateTimeOffset CreatedAt => this.state?.CreatedTimestamp?.ToDateTimeOffset() ?? default;

    public DateTimeOffset LastUpdatedAt => this.state?.LastUpdatedTimestamp?.ToDateTimeOffset() ?? default;

    /// <summary>Set when the workflow failed.</summary>
    public WorkflowTaskFailureDetails? FailureDetails => this.state?.FailureDetails is { } f
        ? WorkflowTaskFailureDetails.FromProto(f)
        : null;

    public T? ReadInputAs<T>() => WorkflowJson.Deserialize<T>(this.state?.Input);

    public T? ReadOutputAs<T>() => WorkflowJson.Deserialize<T>(this.state?.Output);

    public T? ReadCustomStatusAs<T>() => WorkflowJson.Deserialize<T>(this.state?.CustomStatus);
}
