using Microsoft.DurableTask.Protobuf;
using Microsoft.Extensions.Logging;
using WorkflowSdk.Internal;

namespace WorkflowSdk;

/// <summary>
/// The replay executor: runs one orchestrator turn. Pure: no I/O, no clock, no threads. The workflow code
/// re-runs from the start against <see cref="OrchestratorRequest.PastEvents"/> (replaying, so it issues no
/// duplicate actions) and then <see cref="OrchestratorRequest.NewEvents"/>; the response holds the new actions.
/// </summary>
public static class OrchestrationExecutor
{
    /// <param name="request">The work item from the sidecar.</param>
    /// <param name="resolve">Creates the workflow registered under a name, or null when there is none.</param>
    /// <param name="loggerFactory">For <see cref="WorkflowContext.CreateReplaySafeLogger(string)"/>.</param>
    public static OrchestratorResponse Execute(
        OrchestratorRequest request,
        Func<string, IWorkflow?> resolve,
        ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(resolve);
        var context = new ReplayWorkflowContext(request.InstanceId, resolve, loggerFactory);
        return context.Run(request);
    }
}
