using Microsoft.DurableTask.Protobuf;

namespace WorkflowSdk;

/// <summary>Why a task (activity or child workflow) or a workflow failed.</summary>
public sealed record WorkflowTaskFailureDetails(string ErrorType, string ErrorMessage, string? StackTrace = null)
{
    /// <summary>True when the failure was caused by an exception of type <typeparamref name="T"/> (or a subclass), judged by type name.</summary>
    public bool IsCausedBy<T>() where T : Exception
    {
        if (string.Equals(this.ErrorType, typeof(T).FullName, StringComparison.Ordinal))
        {
            return true;
        }

        Type? failureType = AppDomain.CurrentDomain.GetAssemblies()
            .Select(a => a.GetType(this.ErrorType, throwOnError: false))
            .FirstOrDefault(x => x is not null);
        return failureType is not null && typeof(T).IsAssignableFrom(failureType);
    }

    public override string ToString() => $"{this.ErrorType}: {this.ErrorMessage}";

    internal static WorkflowTaskFailureDetails FromProto(TaskFailureDetails? details) =>
        details is null
            ? new WorkflowTaskFailureDetails("(unknown)", "(no failure details)")
            : new WorkflowTaskFailureDetails(details.ErrorType, details.ErrorMessage, details.StackTrace);

    internal static TaskFailureDetails ToProto(Exception e) => new()
    {
        ErrorType = e.GetType().FullName ?? e.GetType().Name,
        ErrorMessage = e.Message,
        StackTrace = e.StackTrace ?? string.Empty,
        InnerFailure = e.InnerException is { } inner ? ToProto(inner) : null,
    };
}

/// <summary>Thrown in a workflow when an activity or child workflow it awaited failed.</summary>
public sealed class WorkflowTaskFailedException : Exception
{
    public WorkflowTaskFailedException(string message, WorkflowTaskFailureDetails failureDetails)
        : base(message)
    {
        this.FailureDetails = failureDetails;
    }

    public WorkflowTaskFailureDetails FailureDetails { get; }
}
