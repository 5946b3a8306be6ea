using Dapr.DurableTask.Protobuf;
using DevSidecar.Hosting;
using DevSidecar.Tracing;
using DevSidecar.Workflow;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;

namespace DevSidecar.Api;

/// <summary>
/// TaskHubSidecarService, the workflow protocol that Dapr's workflow SDKs speak on the sidecar's gRPC port, bound to
/// the message types of the official Dapr.Workflow package (<see cref="TaskHubServiceBase"/>).
/// </summary>
public sealed class TaskHubGrpcApi(SidecarRuntime runtime) : TaskHubServiceBase
{
    private WorkflowEngine Engine => runtime.Workflows.Available;

    public override Task<Empty> Hello(Empty request, ServerCallContext context) => Task.FromResult(new Empty());

    /// <summary>
    /// As durabletask-go's executor under daprd 1.17: the instance is created once a worker is connected, and the
    /// answer comes when its first turn is saved, unless it is scheduled to start later.
    /// </summary>
    public override async Task<CreateInstanceResponse> StartInstance(CreateInstanceRequest request, ServerCallContext context)
    {
        await Engine.WaitForWorkerAsync(context.CancellationToken);
        string id;
        try
        {
            id = await Engine.StartAsync(request, parent: null, router: null, context.CancellationToken, ApiSpan.Of(context.GetHttpContext())?.Span);
        }
        catch (RpcException e)
        {
            throw new RpcException(new Status(e.StatusCode, $"failed to create orchestration instance: {e.Status.Detail}"));
        }
        if (request.ScheduledStartTimestamp is null)
            await Engine.WaitAsync(id, i => i.Status != OrchestrationStatus.Pending, context.CancellationToken);
        return new CreateInstanceResponse { InstanceId = id };
    }

    public override Task<GetInstanceResponse> GetInstance(GetInstanceRequest request, ServerCallContext context) =>
        Task.FromResult(Engine.Find(request.InstanceId) is { } instance
            ? new GetInstanceResponse { Exists = true, WorkflowState = instance.ToState(request.GetInputsAndOutputs) }
            : new GetInstanceResponse { Exists = false });

    public override async Task<GetInstanceResponse> WaitForInstanceStart(GetInstanceRequest request, ServerCallContext context)
    {
        var instance = await Engine.WaitAsync(request.InstanceId, i => i.Status != OrchestrationStatus.Pending, context.CancellationToken);
        return new GetInstanceResponse { Exists = true, WorkflowState = instance.ToState(request.GetInputsAndOutputs) };
    }

    public override async Task<GetInstanceResponse> WaitForInstanceCompletion(GetInstanceRequest request, ServerCallContext context)
    {
        var instance = await Engine.WaitAsync(request.InstanceId, i => i.IsTerminal, context.CancellationToken);
        return new GetInstanceResponse { Exists = true, WorkflowState = instance.ToState(request.GetInputsAndOutputs) };
    }

    public override async Task<RaiseEventResponse> RaiseEvent(RaiseEventRequest request, ServerCallContext context)
    {
        await Engine.RaiseEventAsync(request.InstanceId, request.Name, request.Input, context.CancellationToken);
        return new RaiseEventResponse();
    }

    // Terminate, suspend and resume answer once the turn that handles their event has been saved (executor.go).

    public override async Task<TerminateResponse> TerminateInstance(TerminateRequest request, ServerCallContext context)
    {
        await Engine.TerminateAsync(request.InstanceId, request.Output, request.Recursive, context.CancellationToken);
        await Engine.WaitAsync(request.InstanceId, i => i.IsTerminal, context.CancellationToken);
        return new TerminateResponse();
    }

    public override async Task<SuspendResponse> SuspendInstance(SuspendRequest request, ServerCallContext context)
    {
        await Engine.SuspendAsync(request.InstanceId, request.Reason, context.CancellationToken);
        await Engine.WaitAsync(request.InstanceId, i => i.IsSuspended || i.IsTerminal, context.CancellationToken);
        return new SuspendResponse();
    }

    public override async Task<ResumeResponse> ResumeInstance(ResumeRequest request, ServerCallContext context)
    {
        await Engine.ResumeAsync(request.InstanceId, request.Reason, context.CancellationToken);
        await Engine.WaitAsync(request.InstanceId, i => i.Status == OrchestrationStatus.Running || i.IsTerminal, context.CancellationToken);
        return new ResumeResponse();
    }

    public override async Task<PurgeInstancesResponse> PurgeInstances(PurgeInstancesRequest request, ServerCallContext context)
    {
        if (request.RequestCase != PurgeInstancesRequest.RequestOneofCase.InstanceId)
            throw new RpcException(new Status(StatusCode.Unknown, "multi-instance purge is not unimplemented")); // sic, executor.go
        var deleted = await Engine.PurgeAsync(request.InstanceId, request.Recursive, context.CancellationToken);
        return new PurgeInstancesResponse { DeletedInstanceCount = deleted };
    }

    public override Task GetWorkItems(GetWorkItemsRequest request, IServerStreamWriter<WorkItem> responseStream, ServerCallContext context) =>
        Engine.StreamWorkItemsAsync(responseStream, context.CancellationToken);

    public override async Task<CompleteTaskResponse> CompleteActivityTask(ActivityResponse request, ServerCallContext context)
    {
        await Engine.CompleteActivityAsync(request);
        return new CompleteTaskResponse();
    }

    public override async Task<CompleteTaskResponse> CompleteOrchestratorTask(WorkflowResponse request, ServerCallContext context)
    {
        await Engine.CompleteWorkflowAsync(request);
        return new CompleteTaskResponse();
    }

    /// <summary>
    /// daprd 1.17 has no CompleteWorkflowTask (durabletask-go 0.11.5); the call reaches its service-invocation proxy,
    /// which refuses it for want of an app id.
    /// </summary>
    public override Task<CompleteTaskResponse> CompleteWorkflowTask(WorkflowResponse request, ServerCallContext context) =>
        throw new RpcException(new Status(StatusCode.Unknown, "failed to proxy request: required metadata dapr-callee-app-id or dapr-app-id not found"));

    public override async Task<RerunWorkflowFromEventResponse> RerunWorkflowFromEvent(RerunWorkflowFromEventRequest request, ServerCallContext context)
    {
        var id = await Engine.RerunFromEventAsync(request, context.CancellationToken);
        await Engine.WaitAsync(id, i => i.Status != OrchestrationStatus.Pending, context.CancellationToken);
        return new RerunWorkflowFromEventResponse { NewInstanceID = id };
    }

    /// <summary>Pages as daprd's in-memory store does: the token is the index of the next id, given only when more follow.</summary>
    public override async Task<ListInstanceIDsResponse> ListInstanceIDs(ListInstanceIDsRequest request, ServerCallContext context)
    {
        var ids = await Engine.InstanceIdsAsync(context.CancellationToken);
        var start = 0;
        if (!string.IsNullOrEmpty(request.ContinuationToken) && !int.TryParse(request.ContinuationToken, out start))
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"invalid continuation token: {request.ContinuationToken}"));
        var size = request.PageSize == 0 ? ids.Count : (int)Math.Min(request.PageSize, int.MaxValue);
        var page = ids.Skip(start).Take(size).ToList();
        var response = new ListInstanceIDsResponse();
        response.InstanceIds.AddRange(page);
        if (start + page.Count < ids.Count) response.ContinuationToken = (start + page.Count).ToString(System.Globalization.CultureInfo.InvariantCulture);
        return response;
    }

    public override Task<GetInstanceHistoryResponse> GetInstanceHistory(GetInstanceHistoryRequest request, ServerCallContext context)
    {
        var instance = Engine.Find(request.InstanceId)
                       ?? throw new RpcException(new Status(StatusCode.NotFound, $"workflow instance '{request.InstanceId}' not found"));
        var response = new GetInstanceHistoryResponse();
        response.Events.AddRange(instance.History);
        return Task.FromResult(response);
    }
}
