using System.Collections.Concurrent;
using DevSidecar.Resources;

namespace DevSidecar.State;

/// <summary>
/// state.in-memory. Shared by every sidecar of one dev-sidecar process that loads a store of the same name
/// (daprd's lives inside one sidecar); keys are prefixed by app id, so apps still see only their own state.
/// </summary>
public sealed class InMemoryStateStore(ComponentSpec spec, InMemoryStateStore.Data data) : IStateStore
{
    private static readonly ConcurrentDictionary<string, Data> Stores = new(StringComparer.Ordinal);

    public static InMemoryStateStore Create(ComponentSpec spec, string scope) => new(spec, Stores.GetOrAdd($"{scope}/{spec.Name}", _ => new Data()));

    public ComponentSpec Spec => spec;
    public IReadOnlyList<string> Features => ["ETAG", "TRANSACTIONAL", "TTL", "DELETE_WITH_PREFIX", "ACTOR"];

    public Task<StoredItem?> GetAsync(string key, CancellationToken cancellationToken)
    {
        lock (data.Lock)
        {
            return Task.FromResult(data.Live(key, DateTimeOffset.UtcNow));
        }
    }

    public Task ApplyAsync(IReadOnlyList<StateWrite> writes, bool atomic, CancellationToken cancellationToken)
    {
        lock (data.Lock)
        {
            var now = DateTimeOffset.UtcNow;
            if (atomic)
            {
                foreach (var write in writes) Check(write, now);
                foreach (var write in writes) Apply(write, now);
            }
            else
            {
                foreach (var write in writes)
                {
                    Check(write, now);
                    Apply(write, now);
                }
            }
        }
        return Task.CompletedTask;
    }

    private void Check(StateWrite write, DateTimeOffset now)
    {
        var current = data.Live(write.Key, now);
        var mismatch = write.ETag is { Length: > 0 } etag
            ? current is null || current.ETag != etag
            : write.Concurrency == Concurrency.FirstWrite && current is not null && !write.IsDelete;
        if (mismatch) throw new ETagMismatchException(write.Key);
    }

    private void Apply(StateWrite write, DateTimeOffset now)
    {
        if (write.IsDelete)
            data.Items.Remove(write.Key);
        else
            data.Items[write.Key] = new StoredItem(write.Value!, Guid.NewGuid().ToString(), write.Ttl is { } ttl ? now + ttl : null);
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    public sealed class Data
    {
        public readonly Lock Lock = new();
        public readonly Dictionary<string, StoredItem> Items = new(StringComparer.Ordinal);

        public StoredItem? Live(string key, DateTimeOffset now)
        {
            if (!Items.TryGetValue(key, out var item)) return null;
            if (item.ExpiresAt is { } expires && expires <= now)
            {
                Items.Remove(key);
                return null;
            }
            return item;
        }
    }
}
