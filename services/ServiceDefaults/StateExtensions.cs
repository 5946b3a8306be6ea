using Dapr;
using Dapr.Client;
using OrderFlow.Contracts;

namespace OrderFlow.ServiceDefaults;

public static class StateExtensions
{
    private const int MaxAttempts = 100;

    /// <summary>
    /// Read-modify-write of one key under optimistic concurrency: the write carries the ETag that was read
    /// (first-write when the key is new), and a conflict is retried on fresh state rather than lost.
    /// <paramref name="update"/> returns null to leave the key as it is; it may run more than once.
    /// </summary>
    public static async Task<T?> UpdateStateAsync<T>(this DaprClient dapr, string key, Func<T?, T?> update,
        CancellationToken cancellationToken = default, string storeName = Components.StateStore) where T : class
    {
        for (var attempt = 1; ; attempt++)
        {
            var (current, etag) = await dapr.GetStateAndETagAsync<T>(storeName, key, cancellationToken: cancellationToken);
            var next = update(current);
            if (next is null) return current;
            var saved = string.IsNullOrEmpty(etag)
                ? await dapr.TryCreateStateAsync(key, next, cancellationToken, storeName)
                : await dapr.TrySaveStateAsync(storeName, key, next, etag, cancellationToken: cancellationToken);
            if (saved) return next;
            if (attempt == MaxAttempts) throw new InvalidOperationException($"gave up updating '{key}' after {MaxAttempts} conflicting writes");
            await Task.Delay(Random.Shared.Next(1, 5 + attempt), cancellationToken);
        }
    }

    /// <summary>
    /// Writes a key that was absent (first-write); false when another writer created it first. daprd answers that
    /// conflict as Aborted on most stores, which <c>TrySaveStateAsync</c> turns into false, but components-contrib
    /// v1.17.6 state/redis/redis.go fails a first write on an existing key with a plain error, which daprd
    /// (pkg/api/grpc/grpc.go, v1.17.9) answers as Internal and the client throws: so a failed write is told from a lost
    /// race by reading the key again. (A write whose answer was lost in transit also reads as a lost race.)
    /// </summary>
    public static async Task<bool> TryCreateStateAsync<T>(this DaprClient dapr, string key, T value, CancellationToken cancellationToken = default,
        string storeName = Components.StateStore)
    {
        try
        {
            return await dapr.TrySaveStateAsync(storeName, key, value, "",
                new StateOptions { Concurrency = ConcurrencyMode.FirstWrite }, cancellationToken: cancellationToken);
        }
        catch (DaprException)
        {
            var (_, etag) = await dapr.GetStateAndETagAsync<T>(storeName, key, cancellationToken: cancellationToken);
            if (string.IsNullOrEmpty(etag)) throw;
            return false;
        }
    }

    // An index is a list of ids (state stores cannot list keys), spread over shards: one list under one key would make
    // every concurrent writer conflict on it, and under load they would retry without end.
    public const int IndexShards = 16;

    /// <summary>Adds <paramref name="id"/> to the index <paramref name="indexKey"/>.</summary>
    public static Task AddToIndexAsync(this DaprClient dapr, string indexKey, string id, CancellationToken cancellationToken = default) =>
        dapr.UpdateStateAsync<List<string>>(ShardKey(indexKey, id), ids => ids?.Contains(id) == true ? null : [.. ids ?? [], id], cancellationToken);

    /// <summary>Removes <paramref name="id"/> from the index <paramref name="indexKey"/>.</summary>
    public static Task RemoveFromIndexAsync(this DaprClient dapr, string indexKey, string id, CancellationToken cancellationToken = default) =>
        dapr.UpdateStateAsync<List<string>>(ShardKey(indexKey, id), ids => ids?.Contains(id) == true ? ids.Where(i => i != id).ToList() : null, cancellationToken);

    /// <summary>Every item an index lists, read in one bulk call; ids whose item is gone are skipped.</summary>
    public static async Task<IReadOnlyList<T>> ReadIndexedAsync<T>(this DaprClient dapr, string indexKey, Func<string, string> keyOf,
        CancellationToken cancellationToken = default) where T : class
    {
        var ids = await dapr.ReadIndexAsync(indexKey, cancellationToken);
        if (ids.Count == 0) return [];
        var items = await dapr.GetBulkStateAsync<T>(Components.StateStore, ids.Select(keyOf).ToList(), parallelism: 8, cancellationToken: cancellationToken);
        return items.Select(i => i.Value).Where(v => v is not null).ToList();
    }

    public static async Task<IReadOnlyList<string>> ReadIndexAsync(this DaprClient dapr, string indexKey, CancellationToken cancellationToken = default)
    {
        var shards = await Task.WhenAll(Enumerable.Range(0, IndexShards).Select(shard =>
            dapr.GetStateAsync<List<string>?>(Components.StateStore, IndexShardKey(indexKey, shard), cancellationToken: cancellationToken)));
        return shards.Where(ids => ids is not null).SelectMany(ids => ids!).ToList();
    }

    /// <summary>The shard of an id: a hash that every process computes alike (string.GetHashCode differs per process).</summary>
    private static string ShardKey(string indexKey, string id)
    {
        var hash = 2166136261u; // FNV-1a
        foreach (var c in id) hash = (hash ^ c) * 16777619u;
        return IndexShardKey(indexKey, (int)(hash % IndexShards));
    }

    /// <summary>The state key of one shard of an index.</summary>
    public static string IndexShardKey(string indexKey, int shard) => $"{indexKey}-{shard}";
}
