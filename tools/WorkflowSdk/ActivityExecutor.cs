using Microsoft.DurableTask.Protobuf;
using WorkflowSdk.Internal;

namespace WorkflowSdk;

/// <summary>Runs one activity call (an <see cref="ActivityRequest"/>) and builds the <see cref="ActivityResponse"/>.</summary>
public static class ActivityExecutor
{
    /// <param name="request">The work item from the sidecar.</param>
    /// <param name="resolve">Creates the activity registered under a name, or null when there is none.</param>
    /// <param name="cancellationToken">Passed to the activity through its context.</param>
    public static async Task<ActivityResponse> ExecuteAsync(
        ActivityRequest request,
        Func<string, IWorkflowActivity?> resolve,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(resolve);
        string instanceId = request.OrchestrationInstance?.InstanceId ?? string.Empty;
        var response = new ActivityResponse { InstanceId = instanceId, TaskId = request.TaskId };
        try
        {
            IWorkflowActivity? activity = resolve(request.Name);
            if (activity is null)
            {
                response.FailureDetails = new TaskFailureDetails
                {
                    ErrorType = "ActivityNotRegisteredException",
                    ErrorMessage = $"No activity named '{request.Name}' is registered with this worker.",
                    IsNonRetriable = true,
                };
                return response;
            }

            object? input = WorkflowJson.Deserialize(request.Input, activity.InputType);
            var context = new DefaultWorkflowActivityContext(request.Name, instanceId, request.TaskId, cancellationToken);
            object? result = await activity.RunAsync(context, input);
            response.Result = WorkflowJson.Serialize(result);
        }
        catch (Exception ex)
        {
            response.FailureDetails = WorkflowTaskFailureDetails.ToProto(ex);
        }

        return response;
    }
}
