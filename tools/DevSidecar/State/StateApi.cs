using DevSidecar.Resources;
using DevSidecar.Api;
using DevSidecar.Hosting;
using DevSidecar.Invocation;
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
/// default, <c>keyPrefix</c> metadata otherwise) and daprd's error codes.
/// </summary>
public sealed class StateApi(ComponentRegistry components, SidecarOptions options, StateOutbox outbox)
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
        return await store.GetAsync(StoreKey(store, key), cancellationToken);
    }

    /// <summary>daprd's SaveState: one item is contrib's Set, several run at once (contrib's default BulkSet) and
    /// their errors are joined; if all of them are ETag errors the whole is one (daprd pkg/components/state/bulk.go).</summary>
    public async Task SaveAsync(string storeName, IReadOnlyList<StateSave> items, CancellationToken cancellationToken)
    {
        var store = Store(storeName);
        var writes = items.Select(i => new StateWrite(StoreKey(store, i.Key), i.Value, i.ETag, i.Concurrency, i.Metadata)).ToList();
        if (await WriteAllAsync(store, writes, cancellationToken) is { } error)
            throw StoreError(error, "ERR_STATE_SAVE", $"failed saving state in state store {storeName}: {error.Message}");
    }

    public async Task DeleteAsync(string storeName, string key, string? etag, Concurrency concurrency, CancellationToken cancellationToken)
    {
        var store = Store(storeName);
        if (await WriteAllAsync(store, [new StateWrite(StoreKey(store, key), null, etag, concurrency, StateWrite.NoMetadata)], cancellationToken) is { } error)
            throw StoreError(error, "ERR_STATE_DELETE", $"failed deleting state with key {key}: {error.Message}");
    }

    public async Task DeleteBulkAsync(string storeName, IReadOnlyList<(string Key, string? ETag, Concurrency Concurrency)> items, CancellationToken cancellationToken)
    {
        var store = Store(storeName);
        var writes = items.Select(i => new StateWrite(StoreKey(store, i.Key), null, i.ETag, i.Concurrency, StateWrite.NoMetadata)).ToList();
        if (await WriteAllAsync(store, writes, cancellationToken) is { } error)
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
            await store.MultiAsync(writes, cancellationToken);
        }
        catch (StateStoreException e)
        {
            throw new DaprError(500, StatusCode.Internal, "ERR_STATE_TRANSACTION", $"error while executing state transaction: {e.Message}");
        }
    }

    private static async Task<StateStoreException?> WriteAllAsync(IStateStore store, IReadOnlyList<StateWrite> writes, CancellationToken cancellationToken)
    {
        if (writes.Count == 1)
        {
            try
            {
                await store.WriteAsync(writes[0], cancellationToken);
                return null;
            }
            catch (StateStoreException e)
            {
                return e;
            }
        }
        var results = await Task.WhenAll(writes.Select(async w =>
        {
            try
            {
                await store.WriteAsync(w, cancellationToken);
                return null;
            }
            catch (StateStoreException e)
            {
                return e;
            }
        }));
        var errors = results.OfType<StateStoreException>().ToList();
        if (errors.Count == 0) return null;
        var joined = string.Join("\n", errors.Select(e => e.Message));
        if (errors.All(e => e is ETagException))
            return new ETagException(errors.Any(e => e is ETagException { Kind: ETagErrorKind.Invalid }) ? ETagErrorKind.Invalid : ETagErrorKind.Mismatch, joined);
        return new StateStoreException(joined);
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
