using Dapr.DurableTask.Protobuf;

namespace DevSidecar.Workflow;

/// <summary>
/// How one app's workflow engine reaches another app's, for activities and child workflows whose router names that
/// app (daprd does this through its workflow and activity actors), and for the events that flow back.
/// </summary>
public interface IWorkflowPeers
{
    /// <summary>Runs an activity on <paramref name="appId"/>'s worker; its result comes back through <see cref="DeliverAsync"/>.</summary>
    Task RunActivityAsync(string appId, ActivityRequest request, string replyTo, CancellationToken ct);

    /// <summary>Creates a child workflow instance on <paramref name="appId"/>.</summary>
    Task StartChildAsync(string appId, CreateWorkflowInstanceRequest start, CancellationToken ct);

    /// <summary>Adds an event to the inbox of an instance on <paramref name="appId"/>.</summary>
    Task DeliverAsync(string appId, string instanceId, HistoryEvent e, CancellationToken ct);
}
