using DevSidecar.Resources;
using DevSidecar.Api;
using DevSidecar.Hosting;
using DevSidecar.Invocation;
using DevSidecar.Resiliency;
using Grpc.Core;

namespace DevSidecar.State;

/// <summary>A save as both APIs receive it, before key prefixing.</summary>
public sealed record StateSave(string Key, byte[] Value, string? ETag, Concurrency Concurrency, IReadOnlyDictionary<string, string> Metadata);

/// <summary>A transaction operation: Value null for delete. <paramref name="JsonValue"/>: the value came as JSON over HTTP
/// (daprd holds it decoded, which the outbox's event data shows), not as gRPC bytes.</summary>
public sealed record StateOperation(string Key, byte[]? Value, string? ETag, Concurrency Concurrency, IReadOnlyDictionary<string, string> Metadata,
    bool JsonValue = false);

/// <summary>
/// The state API behind both the HTTP and the gRPC front end: store lookup, key prefixing (<c>appId||key</c> by
/// default, <c>keyPrefix</c> metadata otherwise) and daprd's error codes. Every store call runs under the store's
/// component outbound policy, as daprd runs it (pkg/api/grpc/grpc.go, pkg/api/http/http.go: ComponentOutboundPolicy).
/// </summary>
public sealed class StateApi(ComponentRegistry components, SidecarOptions options, StateOutbox outbox, ResiliencyPolicies resiliency)
{
    private const string Separator = "||";

    public IStateStore Store(string name)
    {
        if (components.StateStores.Count == 0) throw DaprError.StateStoreNotConfigured();
        return components.StateStores.TryGetValue(name, out var store) ? store : throw DaprError.StateStoreNotFound(name);
    }

    public async Task<StoredItem?> GetAsync(string storeName, string key, CancellationToken cancellationToken)
    {
        var store = Store(storeName);
        var storeKey = StoreKey(store, key);
        try
        {
            return await Outbound(storeName).RunAsync(ct => store.GetAsync(storeKey, ct), cancellationToken);
        }
        catch (Exception e) when (AsStoreError(e) is { } error)
        {
            throw new DaprError(500, StatusCode.Internal, "ERR_STATE_GET", $"fail to get {key} from state store {storeName}: {error.Message}");
        }
    }

    /// <summary>A store's failure, or the policy's (a timeout, an open circuit breaker) as daprd reports it: its text.</summary>
    private static StateStoreException? AsStoreError(Exception e) => e switch
    {
        StateStoreException store => store,
        DeadlineExceededException or CircuitBreakerOpenException => new StateStoreException(e.Message),
        _ => null,
    };

    private PolicyDefinition Outbound(string storeName) => resiliency.ComponentOutbound(storeName, ComponentKind.Statestore);

    /// <summary>daprd's SaveState: one item is contrib's Set, several run at once (contrib's default BulkSet) and
    /// their errors are joined; if all of them are ETag errors the whole is one (daprd pkg/components/state/bulk.go).</summary>
    public async Task SaveAsync(string storeName, IReadOnlyList<StateSave> items, CancellationToken cancellationToken)
    {
        var store = Store(storeName);
        var writes = items.Select(i => new StateWrite(StoreKey(store, i.Key), i.Value, i.ETag, i.Concurrency, i.Metadata)).ToList();
        if (await WriteAllAsync(store, writes, Outbound(storeName), cancellationToken) is { } error)
            throw StoreError(error, "ERR_STATE_SAVE", $"failed saving state in state store {storeName}: {error.Message}");
    }

    /// <summary>daprd's DeleteState: contrib's Delete under the policy, retried on any error, an ETag error too.</summary>
    public async Task DeleteAsync(string storeName, string key, string? etag, Concurrency concurrency, CancellationToken cancellationToken)
    {
        var store = Store(storeName);
        var delete = new StateWrite(StoreKey(store, key), null, etag, concurrency, StateWrite.NoMetadata);
        try
        {
            await Outbound(storeName).RunAsync(async ct => { await store.WriteAsync(delete, ct); return true; }, cancellationToken);
        }
        catch (Exception e) when (AsStoreError(e) is { } error)
        {
            throw StoreError(error, "ERR_STATE_DELETE", $"failed deleting state with key {key}: {error.Message}");
        }
    }

    public async Task DeleteBulkAsync(string storeName, IReadOnlyList<(string Key, string? ETag, Concurrency Concurrency)> items, CancellationToken cancellationToken)
    {
        var store = Store(storeName);
        var writes = items.Select(i => new StateWrite(StoreKey(store, i.Key), null, i.ETag, i.Concurrency, StateWrite.NoMetadata)).ToList();
        if (await WriteAllAsync(store, writes, Outbound(storeName), cancellationToken) is { } error)
            throw StoreError(error, "ERR_STATE_DELETE_BULK", $"failed deleting state in state store {storeName}: {error.Message}");
    }

    /// <summary>daprd's ExecuteStateTransaction: contrib's Multi, any failure Internal / 500 (pkg/api/grpc/grpc.go,
    /// pkg/api/http/http.go). What a failed Multi left applied depends on the store.</summary>
    public async Task TransactAsync(string storeName, IReadOnlyList<StateOperation> operations, string? traceParent, string? traceState,
        CancellationToken cancellationToken)
    {
        var store = Store(storeName);
        if (!store.Features.Contains("TRANSACTIONAL"))
            throw new DaprError(500, StatusCode.Internal, "ERR_STATE_STORE_NOT_SUPPORTED", $"state store {storeName} doesn't support transactions");
        IReadOnlyList<StateWrite> writes = operations.Select(o => new StateWrite(StoreKey(store, o.Key), o.Value, o.ETag, o.Concurrency, o.Metadata)).ToList();
        if (StateOutbox.ConfigOf(store.Spec) is { } outboxConfig)
        {
            try
            {
                writes = await outbox.PublishInternalAsync(outboxConfig, writes.Zip(operations, (w, o) => (w, o.JsonValue)).ToList(),
                    traceParent ?? TraceContext.NewTraceParent(), traceState, cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException and not DaprError)
            {
                // daprd pkg/api/errors/pubsub.go PubSubOutbox; nothing is stored.
                throw new DaprError(500, StatusCode.Internal, "ERR_PUBLISH_OUTBOX", $"error while publishing outbox message: {e.Message}")
                    { Reason = "DAPR_PUBSUB_OUTBOX" };
            }
        }
        try
        {
            // Retried whole on any error (an ETag mismatch too): on state.redis that applies the operations that did
            // apply once more.
            await Outbound(storeName).RunAsync(async ct => { await store.MultiAsync(writes, ct); return true; }, cancellationToken);
        }
        catch (Exception e) when (AsStoreError(e) is { } error)
        {
            throw new DaprError(500, StatusCode.Internal, "ERR_STATE_TRANSACTION", $"error while executing state transaction: {error.Message}");
        }
    }

    /// <summary>
    /// daprd's PerformBulkStoreOperation (pkg/components/state/bulk.go) under the policy: one write alone, where an
    /// ETag error is final; several at once with their errors joined, where a retry repeats only the writes that failed
    /// otherwise than on their ETag, and failures that are all ETag errors are one final ETag error.
    /// </summary>
    private static async Task<StateStoreException?> WriteAllAsync(IStateStore store, IReadOnlyList<StateWrite> writes, PolicyDefinition policy,
        CancellationToken cancellationToken)
    {
        var remaining = writes;
        try
        {
            await policy.RunAsync(async ct =>
            {
                if (remaining.Count == 1)
                {
                    try
                    {
                        await store.WriteAsync(remaining[0], ct);
                        return true;
                    }
                    catch (ETagException e)
                    {
                        throw new PermanentFailureException(e);
                    }
                }
                var failures = (await Task.WhenAll(remaining.Select(async w =>
                {
                    try
                    {
                        await store.WriteAsync(w, ct);
                        return (Write: w, Error: (StateStoreException?)null);
                    }
                    catch (StateStoreException e)
                    {
                        return (Write: w, Error: e);
                    }
                }))).Where(f => f.Error is not null).ToList();
                if (failures.Count == 0) return true;
                var joined = string.Join("\n", failures.Select(f => f.Error!.Message));
                var retriable = failures.Where(f => f.Error is not ETagException).Select(f => f.Write).ToList();
                if (retriable.Count == 0)
                    throw new PermanentFailureException(new ETagException(
                        failures.Any(f => f.Error is ETagException { Kind: ETagErrorKind.Invalid }) ? ETagErrorKind.Invalid : ETagErrorKind.Mismatch, joined));
                remaining = retriable;
                throw new StateStoreException(joined);
            }, cancellationToken);
            return null;
        }
        catch (Exception e) when (AsStoreError(e) is { } error)
        {
            return error;
        }
    }

    /// <summary>daprd's mapping of a store error on a save or delete: an ETag mismatch is Aborted / 409, an invalid
    /// ETag InvalidArgument / 400, anything else Internal / 500 (getStateErrorCode, stateErrorResponse).</summary>
    private static DaprError StoreError(StateStoreException error, string errorCode, string message) => error switch
    {
        ETagException { Kind: ETagErrorKind.Mismatch } => new DaprError(409, StatusCode.Aborted, errorCode, message),
        ETagException { Kind: ETagErrorKind.Invalid } => new DaprError(400, StatusCode.InvalidArgument, errorCode, message),
        _ => new DaprError(500, StatusCode.Internal, errorCode, message),
    };

    /// <summary>The key as stored: <c>prefix||key</c>. A user key containing the separator is rejected, as daprd does.</summary>
    public string StoreKey(IStateStore store, string key)
    {
        if (string.IsNullOrEmpty(key)) throw DaprError.Malformed("\"key\" is a required field");
        if (key.Contains(Separator, StringComparison.Ordinal)) throw DaprError.IllegalKey(store.Spec.Name, key);
        var prefix = (store.Spec.Get("keyPrefix") ?? "appid").ToLowerInvariant() switch
        {
            "appid" => options.AppId,
            "name" => store.Spec.Name,
            "namespace" => $"{options.Namespace}.{options.AppId}",
            "none" => null,
            _ => store.Spec.Get("keyPrefix"),
        };
        return prefix is null ? key : prefix + Separator + key;
    }

    /// <summary>How daprd reports an item's expiry (metadata ttlExpireTime): RFC3339 UTC.</summary>
    public static string ExpireTimeText(DateTimeOffset expires) => expires.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'");
}
