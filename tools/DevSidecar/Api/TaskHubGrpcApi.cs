using Dapr.DurableTask.Protobuf;
using DevSidecar.Hosting;
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
    private WorkflowEngine Engine => runtime.Workflows;

    public override Task<Empty> Hello(Empty request, ServerCallContext context) => Task.FromResult(new Empty());

    /// <summary>Answers once the instance is scheduled, whether or not a worker is connected to run it.</summary>
    public override async Task<CreateInstanceResponse> StartInstance(CreateInstanceRequest request, ServerCallContext context)
    {
        var id = await Engine.StartAsync(request, parent: null, router: null, context.CancellationToken);
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

    public override async Task<TerminateResponse> TerminateInstance(TerminateRequest request, ServerCallContext context)
    {
        await Engine.TerminateAsync(request.InstanceId, request.Output, request.Recursive, context.CancellationToken);
        return new TerminateResponse();
    }

    public override async Task<SuspendResponse> SuspendInstance(SuspendRequest request, ServerCallContext context)
    {
        await Engine.SuspendAsync(request.InstanceId, request.Reason, context.CancellationToken);
        return new SuspendResponse();
    }

    public override async Task<ResumeResponse> ResumeInstance(ResumeRequest request, ServerCallContext context)
    {
        await Engine.ResumeAsync(request.InstanceId, request.Reason, context.CancellationToken);
        return new ResumeResponse();
    }

    public override async Task<PurgeInstancesResponse> PurgeInstances(PurgeInstancesRequest request, ServerCallContext context)
    {
        if (request.RequestCase != PurgeInstancesRequest.RequestOneofCase.InstanceId)
            throw new RpcException(new Status(StatusCode.Unimplemented, "purging by filter is not supported (nor by daprd)"));
        var deleted = Engine.Find(request.InstanceId) is null ? 0 : await Engine.PurgeAsync(request.InstanceId, request.Recursive, context.CancellationToken);
        return new PurgeInstancesResponse { DeletedInstanceCount = deleted, IsComplete = true };
    }

    public override Task GetWorkItems(GetWorkItemsRequest request, IServerStreamWriter<WorkItem> responseStream, ServerCallContext context) =>
        Engine.StreamWorkItemsAsync(responseStream, context.CancellationToken);

    public override async Task<CompleteTaskResponse> CompleteActivityTask(ActivityResponse request, ServerCallContext context)
    {
        await Engine.CompleteActivityAsync(request, context.CancellationToken);
        return new CompleteTaskResponse();
    }

    public override async Task<CompleteTaskResponse> CompleteOrchestratorTask(WorkflowResponse request, ServerCallContext context)
    {
        await Engine.CompleteWorkflowAsync(request, context.CancellationToken);
        return new CompleteTaskResponse();
    }

    public override Task<CompleteTaskResponse> CompleteWorkflowTask(WorkflowResponse request, ServerCallContext context) =>
        CompleteOrchestratorTask(request, context);

    public override Task<ListInstanceIDsResponse> ListInstanceIDs(ListInstanceIDsRequest request, ServerCallContext context)
    {
        var ids = Engine.InstanceIds();
        var start = 0;
        if (!string.IsNullOrEmpty(request.ContinuationToken) && !int.TryParse(request.ContinuationToken, out start))
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"invalid continuation token: {request.ContinuationToken}"));
        var size = request.PageSize == 0 ? ids.Count : (int)Math.Min(request.PageSize, int.MaxValue);
        var page = ids.Skip(start).Take(size).ToList();
        var response = new ListInstanceIDsResponse();
        response.InstanceIds.AddRange(page);
        if (start + page.Count < ids.Count) response.ContinuationToken = (start + page.Count).ToString(System.Globalization.CultureInfo.InvariantCulture);
        return Task.FromResult(response);
    }

    public override Task<GetInstanceHistoryResponse> GetInstanceHistory(GetInstanceHistoryRequest request, ServerCallContext context)
    {
        var response = new GetInstanceHistoryResponse();
        response.Events.AddRange(Engine.Get(request.InstanceId).History);
        return Task.FromResult(response);
    }
}
