using DevSidecar.Hosting;
using DevSidecar.Tracing;
using DevSidecar.PubSub;
using DevSidecar.State;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Dapr.Client.Autogen.Grpc.v1;
using Empty = Google.Protobuf.WellKnownTypes.Empty;
using Proto = Dapr.Client.Autogen.Grpc.v1;

namespace DevSidecar.Api;

/// <summary>
/// The calls of <c>dapr.proto.runtime.v1.Dapr</c> that Dapr.Client makes for state, publish, metadata and shutdown,
/// on the message types of the official Dapr.Protos package. Every other method of the service answers
/// Unimplemented (grpc-dotnet does that for methods a bound service lacks).
/// Bound by hand because Dapr.Protos compiles the service client-only; grpc-dotnet finds each handler by the
/// method's name among this class's public virtual methods.
/// </summary>
[BindServiceMethod(typeof(DaprGrpcApi), nameof(BindService))]
public class DaprGrpcApi(SidecarRuntime runtime)
{
    private const string ServiceName = "dapr.proto.runtime.v1.Dapr";

    public static void BindService(ServiceBinderBase binder, DaprGrpcApi service)
    {
        binder.AddMethod(Unary<GetStateRequest, GetStateResponse>(nameof(GetState)), (UnaryServerMethod<GetStateRequest, GetStateResponse>)null!);
        binder.AddMethod(Unary<GetBulkStateRequest, GetBulkStateResponse>(nameof(GetBulkState)), (UnaryServerMethod<GetBulkStateRequest, GetBulkStateResponse>)null!);
        binder.AddMethod(Unary<SaveStateRequest, Empty>(nameof(SaveState)), (UnaryServerMethod<SaveStateRequest, Empty>)null!);
        binder.AddMethod(Unary<DeleteStateRequest, Empty>(nameof(DeleteState)), (UnaryServerMethod<DeleteStateRequest, Empty>)null!);
        binder.AddMethod(Unary<DeleteBulkStateRequest, Empty>(nameof(DeleteBulkState)), (UnaryServerMethod<DeleteBulkStateRequest, Empty>)null!);
        binder.AddMethod(Unary<ExecuteStateTransactionRequest, Empty>(nameof(ExecuteStateTransaction)), (UnaryServerMethod<ExecuteStateTransactionRequest, Empty>)null!);
        binder.AddMethod(Unary<PublishEventRequest, Empty>(nameof(PublishEvent)), (UnaryServerMethod<PublishEventRequest, Empty>)null!);
        binder.AddMethod(Unary<BulkPublishRequest, BulkPublishResponse>(nameof(BulkPublishEvent)), (UnaryServerMethod<BulkPublishRequest, BulkPublishResponse>)null!);
        binder.AddMethod(Unary<BulkPublishRequest, BulkPublishResponse>(nameof(BulkPublishEventAlpha1)), (UnaryServerMethod<BulkPublishRequest, BulkPublishResponse>)null!);
        binder.AddMethod(Unary<GetMetadataRequest, GetMetadataResponse>(nameof(GetMetadata)), (UnaryServerMethod<GetMetadataRequest, GetMetadataResponse>)null!);
        binder.AddMethod(Unary<SetMetadataRequest, Empty>(nameof(SetMetadata)), (UnaryServerMethod<SetMetadataRequest, Empty>)null!);
        binder.AddMethod(Unary<ShutdownRequest, Empty>(nameof(Shutdown)), (UnaryServerMethod<ShutdownRequest, Empty>)null!);
    }

    private static Method<TRequest, TResponse> Unary<TRequest, TResponse>(string name)
        where TRequest : class, IMessage<TRequest>, new() where TResponse : class, IMessage<TResponse>, new()
    {
        var requestParser = new MessageParser<TRequest>(() => new TRequest());
        var responseParser = new MessageParser<TResponse>(() => new TResponse());
        return new Method<TRequest, TResponse>(MethodType.Unary, ServiceName, name,
            Marshallers.Create<TRequest>(m => m.ToByteArray(), requestParser.ParseFrom),
            Marshallers.Create<TResponse>(m => m.ToByteArray(), responseParser.ParseFrom));
    }

    public virtual Task<GetStateResponse> GetState(GetStateRequest request, ServerCallContext context) => Run(async () =>
    {
        var item = await runtime.State.GetAsync(request.StoreName, request.Key, context.CancellationToken);
        var response = new GetStateResponse();
        if (item is not null)
        {
            response.Data = ByteString.CopyFrom(item.Value);
            response.Etag = item.ETag;
            if (item.ExpiresAt is { } expires) response.Metadata["ttlExpireTime"] = StateApi.ExpireTimeText(expires);
        }
        return response;
    });

    public virtual Task<GetBulkStateResponse> GetBulkState(GetBulkStateRequest request, ServerCallContext context) => Run(async () =>
    {
        runtime.State.Store(request.StoreName);
        var response = new GetBulkStateResponse();
        foreach (var key in request.Keys)
        {
            var result = new BulkStateItem { Key = key };
            try
            {
                if (await runtime.State.GetAsync(request.StoreName, key, context.CancellationToken) is { } item)
                {
                    result.Data = ByteString.CopyFrom(item.Value);
                    result.Etag = item.ETag;
                }
            }
            catch (DaprError e)
            {
                result.Error = e.Message;
            }
            response.Items.Add(result);
        }
        return response;
    });

    public virtual Task<Empty> SaveState(SaveStateRequest request, ServerCallContext context) => Run(async () =>
    {
        var saves = request.States.Select(s => new StateSave(s.Key, s.Value.ToByteArray(), s.Etag?.Value, ConcurrencyOf(s.Options), s.Metadata)).ToList();
        await runtime.State.SaveAsync(request.StoreName, saves, context.CancellationToken);
        return new Empty();
    });

    public virtual Task<Empty> DeleteState(DeleteStateRequest request, ServerCallContext context) => Run(async () =>
    {
        await runtime.State.DeleteAsync(request.StoreName, request.Key, request.Etag?.Value, ConcurrencyOf(request.Options), context.CancellationToken);
        return new Empty();
    });

    public virtual Task<Empty> DeleteBulkState(DeleteBulkStateRequest request, ServerCallContext context) => Run(async () =>
    {
        await runtime.State.DeleteBulkAsync(request.StoreName,
            request.States.Select(i => (i.Key, i.Etag?.Value, ConcurrencyOf(i.Options))).ToList(), context.CancellationToken);
        return new Empty();
    });

    public virtual Task<Empty> ExecuteStateTransaction(ExecuteStateTransactionRequest request, ServerCallContext context) => Run(async () =>
    {
        var operations = request.Operations.Select(o =>
        {
            var item = o.Request ?? throw DaprError.Malformed("a transaction operation has no request");
            var metadata = new Dictionary<string, string>(request.Metadata);
            foreach (var (k, v) in item.Metadata) metadata[k] = v;
            return o.OperationType switch
            {
                "upsert" => new StateOperation(item.Key, item.Value.ToByteArray(), item.Etag?.Value, ConcurrencyOf(item.Options), metadata),
                "delete" => new StateOperation(item.Key, null, item.Etag?.Value, ConcurrencyOf(item.Options), metadata),
                var other => throw new DaprError(400, StatusCode.Unimplemented, "ERR_NOT_SUPPORTED_STATE_OPERATION", $"operation type {other} not supported"),
            };
        }).ToList();
        await runtime.State.TransactAsync(request.StoreName, operations, ApiSpan.Propagated(context).TraceParent, ApiSpan.Propagated(context).TraceState, context.CancellationToken);
        return new Empty();
    });

    public virtual Task<Empty> PublishEvent(PublishEventRequest request, ServerCallContext context) => Run(async () =>
    {
        await runtime.Publish.PublishAsync(request.PubsubName, request.Topic, request.Data.ToByteArray(),
            string.IsNullOrEmpty(request.DataContentType) ? null : request.DataContentType, request.Metadata,
            ApiSpan.Propagated(context).TraceParent, ApiSpan.Propagated(context).TraceState, context.CancellationToken);
        return new Empty();
    });

    public virtual Task<BulkPublishResponse> BulkPublishEvent(BulkPublishRequest request, ServerCallContext context) => Run(async () =>
    {
        var entries = request.Entries.Select(e => new BulkEntry(e.EntryId, e.Event.ToByteArray(), e.ContentType, e.Metadata)).ToList();
        var failed = await runtime.Publish.BulkPublishAsync(request.PubsubName, request.Topic, entries, request.Metadata,
            ApiSpan.Propagated(context).TraceParent, ApiSpan.Propagated(context).TraceState, context.CancellationToken);
        var response = new BulkPublishResponse();
        response.FailedEntries.AddRange(failed.Select(f => new BulkPublishResponseFailedEntry { EntryId = f.EntryId, Error = f.Error }));
        return response;
    });

    public virtual Task<BulkPublishResponse> BulkPublishEventAlpha1(BulkPublishRequest request, ServerCallContext context) =>
        BulkPublishEvent(request, context);

    public virtual Task<GetMetadataResponse> GetMetadata(GetMetadataRequest request, ServerCallContext context)
    {
        var document = MetadataDocument.Build(runtime);
        var response = new GetMetadataResponse
        {
            Id = document.Id,
            RuntimeVersion = document.RuntimeVersion,
            AppConnectionProperties = new AppConnectionProperties
            {
                Port = document.AppConnectionProperties.Port ?? 0,
                Protocol = document.AppConnectionProperties.Protocol,
                ChannelAddress = document.AppConnectionProperties.ChannelAddress,
            },
            ActorRuntime = new ActorRuntime { RuntimeStatus = ActorRuntime.Types.ActorRuntimeStatus.Disabled },
        };
        response.ExtendedMetadata.Add(new Dictionary<string, string>(document.Extended));
        response.RegisteredComponents.AddRange(document.Components.Select(c =>
        {
            var component = new RegisteredComponents { Name = c.Name, Type = c.Type, Version = c.Version };
            component.Capabilities.AddRange(c.Capabilities ?? []);
            return component;
        }));
        response.Subscriptions.AddRange(document.Subscriptions.Select(s =>
        {
            var subscription = new PubsubSubscription
            {
                PubsubName = s.PubSubName,
                Topic = s.Topic,
                DeadLetterTopic = s.DeadLetterTopic,
                Rules = new PubsubSubscriptionRules(),
                Type = s.Type == "DECLARATIVE" ? PubsubSubscriptionType.Declarative : PubsubSubscriptionType.Programmatic,
            };
            subscription.Metadata.Add(new Dictionary<string, string>(s.Metadata ?? new Dictionary<string, string>()));
            subscription.Rules.Rules.AddRange(s.Rules.Select(r => new PubsubSubscriptionRule { Match = r.Match, Path = r.Path }));
            return subscription;
        }));
        return Task.FromResult(response);
    }

    public virtual Task<Empty> SetMetadata(SetMetadataRequest request, ServerCallContext context)
    {
        runtime.ExtendedMetadata[request.Key] = request.Value;
        return Task.FromResult(new Empty());
    }

    public virtual Task<Empty> Shutdown(ShutdownRequest request, ServerCallContext context)
    {
        var force = string.Equals(context.RequestHeaders.GetValue("dapr-force-shutdown"), "true", StringComparison.OrdinalIgnoreCase);
        // Answer first, then shut down.
        _ = Task.Run(async () =>
        {
            await Task.Yield();
            runtime.RequestShutdown(force);
        });
        return Task.FromResult(new Empty());
    }

    private static Concurrency ConcurrencyOf(StateOptions? options) => options?.Concurrency switch
    {
        Proto.StateOptions.Types.StateConcurrency.ConcurrencyFirstWrite => Concurrency.FirstWrite,
        Proto.StateOptions.Types.StateConcurrency.ConcurrencyLastWrite => Concurrency.LastWrite,
        _ => Concurrency.Unspecified,
    };

    private static async Task<T> Run<T>(Func<Task<T>> call)
    {
        try
        {
            return await call();
        }
        catch (DaprError e)
        {
            throw e.ToRpcException();
        }
    }
}

/// <summary>DAPR_API_TOKEN on gRPC: a missing or wrong dapr-api-token metadata entry is Unauthenticated.</summary>
public sealed class ApiTokenInterceptor(string token) : Interceptor
{
    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        Check(context);
        return continuation(request, context);
    }

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Check(context);
        return continuation(request, responseStream, context);
    }

    private void Check(ServerCallContext context)
    {
        if (token.Length > 0 && context.RequestHeaders.GetValue("dapr-api-token") != token)
            throw new RpcException(new Status(StatusCode.Unauthenticated, "authentication error: api token mismatch"));
    }
}
