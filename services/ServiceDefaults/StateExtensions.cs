using System.Text.Json;
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
    /// <para><paramref name="known"/>: the value and ETag already read (e.g. by a bulk read), used for the first attempt
    /// instead of reading again; its ETag still guards the write.</para>
    public static async Task<T?> UpdateStateAsync<T>(this DaprClient dapr, string key, Func<T?, T?> update,
        CancellationToken cancellationToken = default, string storeName = Components.StateStore, (T? Value, string ETag)? known = null) where T : class
    {
        for (var attempt = 1; ; attempt++)
        {
            var (current, etag) = attempt == 1 && known is { } first
                ? first
                : await dapr.GetStateAndETagAsync<T>(storeName, key, cancellationToken: cancellationToken);
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

    /// <summary>
    /// Creates the record <paramref name="key"/> (unless it exists) and lists <paramref name="id"/> in each of
    /// <paramref name="indexKeys"/>, in two calls instead of four or more: one bulk read of the record and the index
    /// shards (with their ETags), then ONE transaction that writes the record first-write and each shard under the ETag
    /// just read. A shard changed meanwhile fails the whole transaction on stores that check ETags in transactions, and
    /// it is retried on fresh state. components-contrib v1.17.6 state/redis/redis.go applies a transaction's operations
    /// one by one (a failed ETag does not undo the others, and first-write is not enforced there): a racer's record may
    /// then be written while its shard fails, so <paramref name="create"/> must give the same record on every attempt
    /// (the retry finds it and goes on). A shard that does not exist yet has no ETag to carry the check, so the first
    /// entry of a shard takes the single-key path (first-write save, then the index). Returns the record and whether
    /// this call created it; <paramref name="ensureIndexed"/> says which indexes an existing record belongs in.
    /// </summary>
    public static async Task<(T Value, bool Created)> CreateIndexedAsync<T>(this DaprClient dapr, string key, string id,
        IReadOnlyList<string> indexKeys, Func<T> create, Func<T, IEnumerable<string>>? ensureIndexed = null,
        CancellationToken cancellationToken = default) where T : class
    {
        var json = dapr.JsonSerializerOptions;
        for (var attempt = 1; ; attempt++)
        {
            var shardKeys = indexKeys.Select(i => ShardKey(i, id)).ToList();
            var items = (await dapr.GetBulkStateAsync(Components.StateStore, [key, .. shardKeys], parallelism: 1, cancellationToken: cancellationToken))
                .ToDictionary(i => i.Key, i => (BulkStateItem?)i);
            if (items.GetValueOrDefault(key) is { } found && !string.IsNullOrEmpty(found.Value))
            {
                var existing = JsonSerializer.Deserialize<T>(found.Value, json)!;
                foreach (var indexKey in ensureIndexed?.Invoke(existing) ?? indexKeys)
                {
                    var shard = items.GetValueOrDefault(ShardKey(indexKey, id));
                    if (shard is null || !IdsOf(shard.Value.Value, json).Contains(id)) await dapr.AddToIndexAsync(indexKey, id, cancellationToken);
                }
                return (existing, false);
            }
            var value = create();
            var shards = shardKeys.Select(k => items.GetValueOrDefault(k)).ToList();
            if (shards.Any(s => s is null || string.IsNullOrEmpty(s.Value.ETag)))
            {
                var created = await dapr.TryCreateStateAsync(key, value, cancellationToken);
                foreach (var indexKey in indexKeys) await dapr.AddToIndexAsync(indexKey, id, cancellationToken);
                if (created) return (value, true);
                continue;
            }
            var firstWrite = new StateOptions { Concurrency = ConcurrencyMode.FirstWrite };
            List<StateTransactionRequest> operations =
            [
                new(key, JsonSerializer.SerializeToUtf8Bytes(value, json), StateOperationType.Upsert, options: firstWrite),
                .. shards.Select(s => s!.Value).Select(s => IdsOf(s.Value, json) is var ids
                    // Written even when it lists the id already: the shard's ETag is what makes the transaction one winner's.
                    ? new StateTransactionRequest(s.Key, JsonSerializer.SerializeToUtf8Bytes<List<string>>(ids.Contains(id) ? ids : [.. ids, id], json),
                        StateOperationType.Upsert, etag: s.ETag, options: firstWrite)
                    : null!),
            ];
            try
            {
                await dapr.ExecuteStateTransactionAsync(Components.StateStore, operations, cancellationToken: cancellationToken);
                return (value, true);
            }
            catch (DaprException) when (attempt < MaxAttempts)
            {
                // A shard (or the record) written by someone else since the read: read again.
                await Task.Delay(Random.Shared.Next(1, 5 + attempt), cancellationToken);
            }
        }
    }

    private static List<string> IdsOf(string json, JsonSerializerOptions options) =>
        string.IsNullOrEmpty(json) ? [] : JsonSerializer.Deserialize<List<string>>(json, options) ?? [];

    // An index is a list of ids (state stores cannot list keys), spread over shards: one list under one key would make
    // every concurrent writer conflict on it, and under load they would retry without end.
    public const int IndexShards = 16;

    /// <summary>Adds <paramref name="id"/> to the index <paramref name="indexKey"/>.</summary>
    public static Task AddToIndexAsync(this DaprClient dapr, string indexKey, string id, CancellationToken cancellationToken = default) =>
        dapr.UpdateStateAsync<List<string>>(ShardKey(indexKey, id), ids => ids?.Contains(id) == true ? null : [.. ids ?? [], id], cancellationToken);

    /// <summary>Removes <paramref name="id"/> from the index <paramref name="indexKey"/>; <paramref name="knownShard"/>: its
    /// shard as a bulk read returned it (<see cref="ShardKey"/>), to write without reading again.</summary>
    public static Task RemoveFromIndexAsync(this DaprClient dapr, string indexKey, string id, CancellationToken cancellationToken = default,
        BulkStateItem? knownShard = null) =>
        dapr.UpdateStateAsync<List<string>>(ShardKey(indexKey, id), ids => ids?.Contains(id) == true ? ids.Where(i => i != id).ToList() : null, cancellationToken,
            known: knownShard is { } shard ? (IdsOf(shard.Value, dapr.JsonSerializerOptions), shard.ETag ?? "") : null);

    /// <summary>A bulk-read item as a typed value and its ETag (an absent key: null and an empty ETag).</summary>
    public static (T? Value, string ETag) Typed<T>(this DaprClient dapr, BulkStateItem item) where T : class =>
        (string.IsNullOrEmpty(item.Value) ? null : JsonSerializer.Deserialize<T>(item.Value, dapr.JsonSerializerOptions), item.ETag ?? "");

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
    public static string ShardKey(string indexKey, string id)
    {
        var hash = 2166136261u; // FNV-1a
        foreach (var c in id) hash = (hash ^ c) * 16777619u;
        return IndexShardKey(indexKey, (int)(hash % IndexShards));
    }

    /// <summary>The state key of one shard of an index.</summary>
    public static string IndexShardKey(string indexKey, int shard) => $"{indexKey}-{shard}";
}
