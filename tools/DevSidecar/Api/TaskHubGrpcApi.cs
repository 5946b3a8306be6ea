using DevSidecar.Hosting;
using DevSidecar.Workflow;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.DurableTask.Protobuf;

namespace DevSidecar.Api;

/// <summary>
/// TaskHubSidecarService, the workflow protocol that Dapr's workflow SDKs speak on the sidecar's gRPC port.
/// Calls not overridden here (entities, rewind, queries) answer Unimplemented.
/// </summary>
public sealed class TaskHubGrpcApi(SidecarRuntime runtime) : TaskHubSidecarService.TaskHubSidecarServiceBase
{
    private WorkflowEngine Engine => runtime.Workflows;

    public override Task<Empty> Hello(Empty request, ServerCallContext context) => Task.FromResult(new Empty());

    public override async Task<CreateInstanceResponse> StartInstance(CreateInstanceRequest request, ServerCallContext context)
    {
        if (WorkflowIds.Problem(request.InstanceId) is { } problem) throw new RpcException(new Status(StatusCode.InvalidArgument, problem));
        var startAt = request.ScheduledStartTimestamp?.ToDateTime();
        var id = await Engine.StartAsync(request.Name, request.InstanceId, request.Input, startAt, context.CancellationToken);
        // As daprd: without a scheduled start, answer once the instance has left PENDING.
        if (startAt is null)
            await Engine.WaitAsync(id, i => i.Status != OrchestrationStatus.Pending, context.CancellationToken);
        return new CreateInstanceResponse { InstanceId = id };
    }

    public override Task<GetInstanceResponse> GetInstance(GetInstanceRequest request, ServerCallContext context) =>
        Task.FromResult(Engine.Find(request.InstanceId) is { } instance
            ? new GetInstanceResponse { Exists = true, OrchestrationState = instance.ToState(request.GetInputsAndOutputs) }
            : new GetInstanceResponse { Exists = false });

    public override async Task<GetInstanceResponse> WaitForInstanceStart(GetInstanceRequest request, ServerCallContext context)
    {
        var instance = await Engine.WaitAsync(request.InstanceId, i => i.Status != OrchestrationStatus.Pending, context.CancellationToken);
        return new GetInstanceResponse { Exists = true, OrchestrationState = instance.ToState(request.GetInputsAndOutputs) };
    }

    public override async Task<GetInstanceResponse> WaitForInstanceCompletion(GetInstanceRequest request, ServerCallContext context)
    {
        var instance = await Engine.WaitAsync(request.InstanceId, i => i.IsTerminal, context.CancellationToken);
        return new GetInstanceResponse { Exists = true, OrchestrationState = instance.ToState(request.GetInputsAndOutputs) };
    }

    public override async Task<RaiseEventResponse> RaiseEvent(RaiseEventRequest request, ServerCallContext context)
    {
        await Engine.RaiseEventAsync(request.InstanceId, request.Name, request.Input, context.CancellationToken);
        return new RaiseEventResponse();
    }

    public override async Task<TerminateResponse> TerminateInstance(TerminateRequest request, ServerCallContext context)
    {
        await Engine.TerminateAsync(request.InstanceId, request.Output, context.CancellationToken);
        return new TerminateResponse();
    }

    public override async Task<SuspendResponse> SuspendInstance(SuspendRequest request, ServerCallContext context)
    {
        await Engine.SuspendAsync(request.InstanceId, context.CancellationToken);
        return new SuspendResponse();
    }

    public override async Task<ResumeResponse> ResumeInstance(ResumeRequest request, ServerCallContext context)
    {
        await Engine.ResumeAsync(request.InstanceId, context.CancellationToken);
        return new ResumeResponse();
    }

    public override async Task<PurgeInstancesResponse> PurgeInstances(PurgeInstancesRequest request, ServerCallContext context)
    {
        if (request.RequestCase != PurgeInstancesRequest.RequestOneofCase.InstanceId)
            throw new RpcException(new Status(StatusCode.Unimplemented, "purging by filter is not supported (nor by daprd)"));
        var deleted = Engine.Find(request.InstanceId) is null ? 0 : await Engine.PurgeAsync(request.InstanceId, context.CancellationToken);
        return new PurgeInstancesResponse { DeletedInstanceCount = deleted };
    }

    public override Task GetWorkItems(GetWorkItemsRequest request, IServerStreamWriter<WorkItem> responseStream, ServerCallContext context) =>
        Engine.StreamWorkItemsAsync(responseStream, context.CancellationToken);

    public override async Task<CompleteTaskResponse> CompleteActivityTask(ActivityResponse request, ServerCallContext context)
    {
        await Engine.CompleteActivityAsync(request, context.CancellationToken);
        return new CompleteTaskResponse();
    }

    public override async Task<CompleteTaskResponse> CompleteOrchestratorTask(OrchestratorResponse request, ServerCallContext context)
    {
        await Engine.CompleteOrchestratorAsync(request, context.CancellationToken);
        return new CompleteTaskResponse();
    }
}

/// <summary>daprd's instance id rules: at most 64 characters, letters, digits, '-' and '_'.</summary>
public static class WorkflowIds
{
    public static string? Problem(string? instanceId)
    {
        if (string.IsNullOrEmpty(instanceId)) return null;
        if (instanceId.Length > 64) return $"workflow instance ID exceeds the max length of 64 characters: {instanceId}";
        return instanceId.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_')
            ? null
            : $"workflow instance ID '{instanceId}' is invalid: only alphanumeric and underscore characters are allowed";
    }
}
