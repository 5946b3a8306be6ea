using DevSidecar.Resources;

namespace DevSidecar.State;

/// <summary>
/// state.in-memory as components-contrib v1.17.6 state/in-memory/in_memory.go has it: one per sidecar (each daprd
/// holds its own), nothing survives a restart. A given ETag must match the item (a missing item is a mismatch, also
/// under last-write); first-write without an ETag fails when the item exists, for a delete too. Multi checks every
/// operation, then applies them all: all-or-nothing. ttlInSeconds &lt;= 0 means no expiry.
/// </summary>
public sealed class InMemoryStateStore(ComponentSpec spec) : IStateStore
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, StoredItem> _items = new(StringComparer.Ordinal);

    public ComponentSpec Spec => spec;
    public IReadOnlyList<string> Features => ["ETAG", "TRANSACTIONAL", "TTL", "DELETE_WITH_PREFIX", "ACTOR"];

    public Task<StoredItem?> GetAsync(string key, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return Task.FromResult(Live(key, DateTimeOffset.UtcNow));
        }
    }

    public Task WriteAsync(StateWrite write, CancellationToken cancellationToken) => MultiAsync([write], cancellationToken);

    public Task MultiAsync(IReadOnlyList<StateWrite> writes, CancellationToken cancellationToken)
    {
        var ttls = writes.Select(w => w.IsDelete ? null : w.TtlSeconds).ToList(); // a bad TTL fails before anything
        lock (_lock)
        {
            var now = DateTimeOffset.UtcNow;
            foreach (var write in writes) Check(write, now);
            for (var i = 0; i < writes.Count; i++)
            {
                var write = writes[i];
                if (write.IsDelete) _items.Remove(write.Key);
                else _items[write.Key] = new StoredItem(write.Value!, Guid.NewGuid().ToString(), ttls[i] is > 0 and var ttl ? now.AddSeconds(ttl) : null);
            }
        }
        return Task.CompletedTask;
    }

    private void Check(StateWrite write, DateTimeOffset now)
    {
        var current = Live(write.Key, now);
        if (write.Concurrency == Concurrency.FirstWrite && !write.HasETag)
        {
            if (current is not null) throw new ETagException(ETagErrorKind.Mismatch, "item already exists and no etag was passed");
        }
        else if (write.HasETag)
        {
            if (current is null) throw new ETagException(ETagErrorKind.Mismatch, $"state not exist or expired for key={write.Key}");
            if (current.ETag != write.ETag)
                throw new ETagException(ETagErrorKind.Mismatch, $"state etag not match for key={write.Key}: current={current.ETag}, expect={write.ETag}");
        }
    }

    private StoredItem? Live(string key, DateTimeOffset now)
    {
        if (!_items.TryGetValue(key, out var item)) return null;
        if (item.ExpiresAt is { } expires && expires <= now)
        {
            _items.Remove(key);
            return null;
        }
        return item;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
