using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;

namespace WorkflowSdk;

/// <summary>What <c>AddDaprWorkflow</c> configures: the registered workflows and activities.</summary>
public sealed class WorkflowRuntimeOptions
{
    internal Dictionary<string, Func<IServiceProvider, IWorkflow>> Workflows { get; } = new(StringComparer.OrdinalIgnoreCase);

    internal Dictionary<string, Func<IServiceProvider, IWorkflowActivity>> Activities { get; } = new(StringComparer.OrdinalIgnoreCase);

    internal GrpcChannelOptions? GrpcChannelOptions { get; private set; }

    /// <summary>Registers a workflow under its class name. A new instance (from DI) runs each turn.</summary>
    public void RegisterWorkflow<TWorkflow>() where TWorkflow : class, IWorkflow =>
        this.Workflows[typeof(TWorkflow).Name] = sp => ActivatorUtilities.CreateInstance<TWorkflow>(sp);

    /// <summary>Registers a workflow implemented by a function.</summary>
    public void RegisterWorkflow<TInput, TOutput>(string name, Func<WorkflowContext, TInput, Task<TOutput>> implementation)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(implementation);
        this.Workflows[name] = _ => new FunctionWorkflow<TInput, TOutput>(implementation);
    }

    /// <summary>Registers an activity under its class name. A new instance (from DI, in its own scope) serves each call.</summary>
    public void RegisterActivity<TActivity>() where TActivity : class, IWorkflowActivity =>
        this.Activities[typeof(TActivity).Name] = sp => ActivatorUtilities.CreateInstance<TActivity>(sp);

    /// <summary>Registers an activity implemented by a function.</summary>
    public void RegisterActivity<TInput, TOutput>(string name, Func<WorkflowActivityContext, TInput, Task<TOutput>> implementation)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(implementation);
        this.Activities[name] = _ => new FunctionActivity<TInput, TOutput>(implementation);
    }

    /// <summary>Options for the gRPC channel to the sidecar.</summary>
    public void UseGrpcChannelOptions(GrpcChannelOptions channelOptions) => this.GrpcChannelOptions = channelOptions;

    internal IWorkflow? CreateWorkflow(string name, IServiceProvider services) =>
        this.Workflows.TryGetValue(name, out var factory) ? factory(services) : null;

    internal IWorkflowActivity? CreateActivity(string name, IServiceProvider services) =>
        this.Activities.TryGetValue(name, out var factory) ? factory(services) : null;

    private sealed class FunctionWorkflow<TInput, TOutput>(Func<WorkflowContext, TInput, Task<TOutput>> run)
        : Workflow<TInput, TOutput>
    {
        public override Task<TOutput> RunAsync(WorkflowContext context, TInput input) => run(context, input);
    }

    private sealed class FunctionActivity<TInput, TOutput>(Func<WorkflowActivityContext, TInput, Task<TOutput>> run)
        : WorkflowActivity<TInput, TOutput>
    {
        public override Task<TOutput> RunAsync(WorkflowActivityContext context, TInput input) => run(context, input);
    }
}
