namespace WorkflowSdk;

/// <summary>A workflow, as the runtime sees it: typed input and output behind object-typed calls.</summary>
public interface IWorkflow
{
    Type InputType { get; }
    Type OutputType { get; }
    Task<object?> RunAsync(WorkflowContext context, object? input);
}

/// <summary>
/// Base class for workflows. <see cref="RunAsync"/> must be deterministic: it is re-run from the start
/// on every turn, replaying recorded history. Do I/O in activities, use <see cref="WorkflowContext.CurrentUtcDateTime"/>
/// instead of the clock and <see cref="WorkflowContext.NewGuid"/> instead of <see cref="Guid.NewGuid"/>.
/// </summary>
public abstract class Workflow<TInput, TOutput> : IWorkflow
{
    Type IWorkflow.InputType => typeof(TInput);
    Type IWorkflow.OutputType => typeof(TOutput);

    async Task<object?> IWorkflow.RunAsync(WorkflowContext context, object? input) =>
        await this.RunAsync(context, input is null ? default! : (TInput)input);

    public abstract Task<TOutput> RunAsync(WorkflowContext context, TInput input);
}
