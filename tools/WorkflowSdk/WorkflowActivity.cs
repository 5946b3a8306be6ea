namespace WorkflowSdk;

/// <summary>An activity, as the runtime sees it.</summary>
public interface IWorkflowActivity
{
    Type InputType { get; }
    Type OutputType { get; }
    Task<object?> RunAsync(WorkflowActivityContext context, object? input);
}

/// <summary>Base class for activities. Activities are created from DI (constructor injection) for each call.</summary>
public abstract class WorkflowActivity<TInput, TOutput> : IWorkflowActivity
{
    Type IWorkflowActivity.InputType => typeof(TInput);
    Type IWorkflowActivity.OutputType => typeof(TOutput);

    async Task<object?> IWorkflowActivity.RunAsync(WorkflowActivityContext context, object? input) =>
        await this.RunAsync(context, input is null ? default! : (TInput)input);

    public abstract Task<TOutput> RunAsync(WorkflowActivityContext context, TInput input);
}

/// <summary>The name of a task (activity).</summary>
public readonly record struct TaskIdentifier(string Name)
{
    public override string ToString() => this.Name;
}

/// <summary>What an activity knows about the call it is serving.</summary>
public abstract class WorkflowActivityContext
{
    /// <summary>The activity's registered name.</summary>
    public abstract TaskIdentifier Identifier { get; }

    /// <summary>The calling workflow's instance id.</summary>
    public abstract string InstanceId { get; }

    /// <summary>The task id (the scheduling action's id) within the calling workflow.</summary>
    public virtual int TaskId => 0;

    /// <summary>Cancelled when the worker shuts down.</summary>
    public virtual CancellationToken CancellationToken => CancellationToken.None;
}

internal sealed class DefaultWorkflowActivityContext(string name, string instanceId, int taskId, CancellationToken cancellationToken)
    : WorkflowActivityContext
{
    public override TaskIdentifier Identifier { get; } = new(name);
    public override string InstanceId { get; } = instanceId;
    public override int TaskId { get; } = taskId;
    public override CancellationToken CancellationToken { get; } = cancellationToken;
}
