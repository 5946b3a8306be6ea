using System.Buffers;
using Dapr.DurableTask.Protobuf;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;

namespace DevSidecar.Workflow;

/// <summary>
/// The server side of TaskHubSidecarService on the message types compiled into the official Dapr.Workflow package
/// (<c>Dapr.DurableTask.Protobuf</c>), which ships only the client. Each method descriptor is checked against the
/// package's own service descriptor, so a name or message type that drifts from the SDK fails at start-up, not on a call.
/// Grpc.AspNetCore binds each method to the override of the virtual method of the same name declared here, as it does
/// for generated bases; what is not overridden answers Unimplemented.
/// </summary>
[BindServiceMethod(typeof(TaskHubBinding), nameof(TaskHubBinding.BindService))]
public abstract class TaskHubServiceBase
{
    public virtual Task<Empty> Hello(Empty request, ServerCallContext context) => Unimplemented<Empty>();
    public virtual Task<CreateInstanceResponse> StartInstance(CreateInstanceRequest request, ServerCallContext context) => Unimplemented<CreateInstanceResponse>();
    public virtual Task<GetInstanceResponse> GetInstance(GetInstanceRequest request, ServerCallContext context) => Unimplemented<GetInstanceResponse>();
    public virtual Task<GetInstanceResponse> WaitForInstanceStart(GetInstanceRequest request, ServerCallContext context) => Unimplemented<GetInstanceResponse>();
    public virtual Task<GetInstanceResponse> WaitForInstanceCompletion(GetInstanceRequest request, ServerCallContext context) => Unimplemented<GetInstanceResponse>();
    public virtual Task<RaiseEventResponse> RaiseEvent(RaiseEventRequest request, ServerCallContext context) => Unimplemented<RaiseEventResponse>();
    public virtual Task<TerminateResponse> TerminateInstance(TerminateRequest request, ServerCallContext context) => Unimplemented<TerminateResponse>();
    public virtual Task<SuspendResponse> SuspendInstance(SuspendRequest request, ServerCallContext context) => Unimplemented<SuspendResponse>();
    public virtual Task<ResumeResponse> ResumeInstance(ResumeRequest request, ServerCallContext context) => Unimplemented<ResumeResponse>();
    public virtual Task<PurgeInstancesResponse> PurgeInstances(PurgeInstancesRequest request, ServerCallContext context) => Unimplemented<PurgeInstancesResponse>();
    public virtual Task GetWorkItems(GetWorkItemsRequest request, IServerStreamWriter<WorkItem> responseStream, ServerCallContext context) => Unimplemented<WorkItem>();
    public virtual Task<CompleteTaskResponse> CompleteActivityTask(ActivityResponse request, ServerCallContext context) => Unimplemented<CompleteTaskResponse>();
    public virtual Task<CompleteTaskResponse> CompleteOrchestratorTask(WorkflowResponse request, ServerCallContext context) => Unimplemented<CompleteTaskResponse>();
    public virtual Task<CompleteTaskResponse> CompleteWorkflowTask(WorkflowResponse request, ServerCallContext context) => Unimplemented<CompleteTaskResponse>();
    public virtual Task<RerunWorkflowFromEventResponse> RerunWorkflowFromEvent(RerunWorkflowFromEventRequest request, ServerCallContext context) => Unimplemented<RerunWorkflowFromEventResponse>();
    public virtual Task<ListInstanceIDsResponse> ListInstanceIDs(ListInstanceIDsRequest request, ServerCallContext context) => Unimplemented<ListInstanceIDsResponse>();
    public virtual Task<GetInstanceHistoryResponse> GetInstanceHistory(GetInstanceHistoryRequest request, ServerCallContext context) => Unimplemented<GetInstanceHistoryResponse>();

    private static Task<T> Unimplemented<T>([System.Runtime.CompilerServices.CallerMemberName] string name = "") =>
        throw new RpcException(new Status(StatusCode.Unimplemented, $"method {name} not implemented"));
}

public static class TaskHubBinding
{
    private static readonly Google.Protobuf.Reflection.ServiceDescriptor Service = TaskHubSidecarService.Descriptor;

    public static readonly Method<Empty, Empty> Hello = Unary(Empty.Parser, Empty.Parser);
    public static readonly Method<CreateInstanceRequest, CreateInstanceResponse> StartInstance = Unary(CreateInstanceRequest.Parser, CreateInstanceResponse.Parser);
    public static readonly Method<GetInstanceRequest, GetInstanceResponse> GetInstance = Unary(GetInstanceRequest.Parser, GetInstanceResponse.Parser);
    public static readonly Method<GetInstanceRequest, GetInstanceResponse> WaitForInstanceStart = Unary(GetInstanceRequest.Parser, GetInstanceResponse.Parser);
    public static readonly Method<GetInstanceRequest, GetInstanceResponse> WaitForInstanceCompletion = Unary(GetInstanceRequest.Parser, GetInstanceResponse.Parser);
    public static readonly Method<RaiseEventRequest, RaiseEventResponse> RaiseEvent = Unary(RaiseEventRequest.Parser, RaiseEventResponse.Parser);
    public static readonly Method<TerminateRequest, TerminateResponse> TerminateInstance = Unary(TerminateRequest.Parser, TerminateResponse.Parser);
    public static readonly Method<SuspendRequest, SuspendResponse> SuspendInstance = Unary(SuspendRequest.Parser, SuspendResponse.Parser);
    public static readonly Method<ResumeRequest, ResumeResponse> ResumeInstance = Unary(ResumeRequest.Parser, ResumeResponse.Parser);
    public static readonly Method<PurgeInstancesRequest, PurgeInstancesResponse> PurgeInstances = Unary(PurgeInstancesRequest.Parser, PurgeInstancesResponse.Parser);
    public static readonly Method<GetWorkItemsRequest, WorkItem> GetWorkItems = Streaming(GetWorkItemsRequest.Parser, WorkItem.Parser);
    public static readonly Method<ActivityResponse, CompleteTaskResponse> CompleteActivityTask = Unary(ActivityResponse.Parser, CompleteTaskResponse.Parser);
    public static readonly Method<WorkflowResponse, CompleteTaskResponse> CompleteOrchestratorTask = Unary(WorkflowResponse.Parser, CompleteTaskResponse.Parser);
    public static readonly Method<WorkflowResponse, CompleteTaskResponse> CompleteWorkflowTask = Unary(WorkflowResponse.Parser, CompleteTaskResponse.Parser);
    public static readonly Method<RerunWorkflowFromEventRequest, RerunWorkflowFromEventResponse> RerunWorkflowFromEvent = Unary(RerunWorkflowFromEventRequest.Parser, RerunWorkflowFromEventResponse.Parser);
    public static readonly Method<ListInstanceIDsRequest, ListInstanceIDsResponse> ListInstanceIDs = Unary(ListInstanceIDsRequest.Parser, ListInstanceIDsResponse.Parser);
    public static readonly Method<GetInstanceHistoryRequest, GetInstanceHistoryResponse> GetInstanceHistory = Unary(GetInstanceHistoryRequest.Parser, GetInstanceHistoryResponse.Parser);

    /// <summary>Called by Grpc.AspNetCore with a null instance: it only collects the methods, then binds handlers by name.</summary>
    public static void BindService(ServiceBinderBase binder, TaskHubServiceBase? service)
    {
        binder.AddMethod(Hello, (UnaryServerMethod<Empty, Empty>)null!);
        binder.AddMethod(StartInstance, (UnaryServerMethod<CreateInstanceRequest, CreateInstanceResponse>)null!);
        binder.AddMethod(GetInstance, (UnaryServerMethod<GetInstanceRequest, GetInstanceResponse>)null!);
        binder.AddMethod(WaitForInstanceStart, (UnaryServerMethod<GetInstanceRequest, GetInstanceResponse>)null!);
        binder.AddMethod(WaitForInstanceCompletion, (UnaryServerMethod<GetInstanceRequest, GetInstanceResponse>)null!);
        binder.AddMethod(RaiseEvent, (UnaryServerMethod<RaiseEventRequest, RaiseEventResponse>)null!);
        binder.AddMethod(TerminateInstance, (UnaryServerMethod<TerminateRequest, TerminateResponse>)null!);
        binder.AddMethod(SuspendInstance, (UnaryServerMethod<SuspendRequest, SuspendResponse>)null!);
        binder.AddMethod(ResumeInstance, (UnaryServerMethod<ResumeRequest, ResumeResponse>)null!);
        binder.AddMethod(PurgeInstances, (UnaryServerMethod<PurgeInstancesRequest, PurgeInstancesResponse>)null!);
        binder.AddMethod(GetWorkItems, (ServerStreamingServerMethod<GetWorkItemsRequest, WorkItem>)null!);
        binder.AddMethod(CompleteActivityTask, (UnaryServerMethod<ActivityResponse, CompleteTaskResponse>)null!);
        binder.AddMethod(CompleteOrchestratorTask, (UnaryServerMethod<WorkflowResponse, CompleteTaskResponse>)null!);
        binder.AddMethod(CompleteWorkflowTask, (UnaryServerMethod<WorkflowResponse, CompleteTaskResponse>)null!);
        binder.AddMethod(RerunWorkflowFromEvent, (UnaryServerMethod<RerunWorkflowFromEventRequest, RerunWorkflowFromEventResponse>)null!);
        binder.AddMethod(ListInstanceIDs, (UnaryServerMethod<ListInstanceIDsRequest, ListInstanceIDsResponse>)null!);
        binder.AddMethod(GetInstanceHistory, (UnaryServerMethod<GetInstanceHistoryRequest, GetInstanceHistoryResponse>)null!);
    }

    private static Method<TRequest, TResponse> Unary<TRequest, TResponse>(MessageParser<TRequest> request, MessageParser<TResponse> response,
        [System.Runtime.CompilerServices.CallerMemberName] string name = "")
        where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse> =>
        Create(MethodType.Unary, name, request, response);

    private static Method<TRequest, TResponse> Streaming<TRequest, TResponse>(MessageParser<TRequest> request, MessageParser<TResponse> response,
        [System.Runtime.CompilerServices.CallerMemberName] string name = "")
        where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse> =>
        Create(MethodType.ServerStreaming, name, request, response);

    private static Method<TRequest, TResponse> Create<TRequest, TResponse>(MethodType type, string name, MessageParser<TRequest> request, MessageParser<TResponse> response)
        where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse>
    {
        var method = Service.FindMethodByName(name)
                     ?? throw new InvalidOperationException($"Dapr.Workflow's TaskHubSidecarService has no method {name}");
        var streams = method.IsServerStreaming ? MethodType.ServerStreaming : MethodType.Unary;
        if (method.IsClientStreaming || streams != type
            || method.InputType.ClrType != typeof(TRequest) || method.OutputType.ClrType != typeof(TResponse))
            throw new InvalidOperationException($"TaskHubSidecarService.{name} is ({method.InputType.FullName}) -> {method.OutputType.FullName} in Dapr.Workflow, not as bound here");
        return new Method<TRequest, TResponse>(type, Service.FullName, name, Marshal(request), Marshal(response));
    }

    private static Marshaller<T> Marshal<T>(MessageParser<T> parser) where T : class, IMessage<T> =>
        Marshallers.Create<T>(
            (message, context) =>
            {
                context.SetPayloadLength(message.CalculateSize());
                message.WriteTo(context.GetBufferWriter());
                context.Complete();
            },
            context => parser.ParseFrom(context.PayloadAsReadOnlySequence()));
}
