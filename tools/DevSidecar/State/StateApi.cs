using DevSidecar.Resources;
using DevSidecar.Api;
using DevSidecar.Hosting;
using Grpc.Core;

namespace DevSidecar.State;

/// <summary>A save as both APIs receive it, before key prefixing.</summary>
public sealed record StateSave(string Key, byte[] Value, string? ETag, Concurrency Concurrency, IReadOnlyDictionary<string, string> Metadata);

/// <summary>A transaction operation: Value null for delete.</summary>
public sealed record StateOperation(string Key, byte[]? Value, string? ETag, Concurrency Concurrency, IReadOnlyDictionary<string, string> Metadata);

/// <summary>
/// The state API behind both the HTTP and the gRPC front end: store lookup, key prefixing (<c>appId||key</c> by
/// default, <c>keyPrefix</c> metadata otherwise) and daprd's error codes.
/// </summary>
public sealed class StateApi(ComponentRegistry components, SidecarOptions options)
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

    public async Task SaveAsync(string storeName, IReadOnlyList<StateSave> items, CancellationToken cancellationToken)
    {
        var store = Store(storeName);
        var writes = items.Select(i => new StateWrite(StoreKey(store, i.Key), i.Value, i.ETag, i.Concurrency, Ttl(i.Metadata))).ToList();
        try
        {
            await store.ApplyAsync(writes, atomic: false, cancellationToken);
        }
        catch (ETagMismatchException e)
        {
            throw new DaprError(409, StatusCode.Aborted, "ERR_STATE_SAVE", $"failed saving state in state store {storeName}: {e.Message}");
        }
    }

    public async Task DeleteAsync(string storeName, string key, string? etag, Concurrency concurrency, CancellationToken cancellationToken)
    {
        var store = Store(storeName);
        try
        {
            await store.ApplyAsync([new StateWrite(StoreKey(store, key), null, etag, concurrency, null)], atomic: false, cancellationToken);
        }
        catch (ETagMismatchException e)
        {
            throw new DaprError(409, StatusCode.Aborted, "ERR_STATE_DELETE", $"failed deleting state with key {key}: {e.Message}");
        }
    }

    public async Task TransactAsync(string storeName, IReadOnlyList<StateOperation> operations, CancellationToken cancellationToken)
    {
        var store = Store(storeName);
        if (!store.Features.Contains("TRANSACTIONAL"))
            throw new DaprError(500, StatusCode.Internal, "ERR_STATE_STORE_NOT_SUPPORTED", $"state store {storeName} doesn't support transactions");
        var writes = operations.Select(o => new StateWrite(StoreKey(store, o.Key), o.Value, o.ETag, o.Concurrency, Ttl(o.Metadata))).ToList();
        try
        {
            await store.ApplyAsync(writes, atomic: true, cancellationToken);
        }
        catch (ETagMismatchException e)
        {
            // Unlike a single save, any transaction failure is a 500 / Internal.
            throw new DaprError(500, StatusCode.Internal, "ERR_STATE_TRANSACTION", $"error while executing state transaction: {e.Message}");
        }
    }

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

    private static TimeSpan? Ttl(IReadOnlyDictionary<string, string> metadata)
    {
        if (!metadata.TryGetValue("ttlInSeconds", out var raw)) return null;
        if (!long.TryParse(raw, out var seconds)) throw DaprError.Malformed($"ttlInSeconds '{raw}' is not an integer");
        return seconds < 0 ? null : TimeSpan.FromSeconds(seconds);
    }
}
