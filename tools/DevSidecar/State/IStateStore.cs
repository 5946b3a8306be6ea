using DevSidecar.Resources;

namespace DevSidecar.State;

public enum Concurrency { LastWrite, FirstWrite }

public sealed record StoredItem(byte[] Value, string ETag, DateTimeOffset? ExpiresAt);

/// <summary>One upsert (Value set) or delete (Value null) on a store key that already carries its prefix.</summary>
public sealed record StateWrite(string Key, byte[]? Value, string? ETag, Concurrency Concurrency, TimeSpan? Ttl)
{
    public bool IsDelete => Value is null;
}

/// <summary>A state component (state.*). ETag rules follow components-contrib: an empty ETag means no check,
/// a given one must match the current item (a missing item is a mismatch), first-write without an ETag fails if the key exists.</summary>
public interface IStateStore : IAsyncDisposable
{
    ComponentSpec Spec { get; }

    /// <summary>Capabilities as GET /v1.0/metadata lists them: ETAG, TRANSACTIONAL, TTL, …</summary>
    IReadOnlyList<string> Features { get; }

    Task<StoredItem?> GetAsync(string key, CancellationToken cancellationToken);

    /// <summary>Applies the writes; with <paramref name="atomic"/> all or none. Throws <see cref="ETagMismatchException"/>.</summary>
    Task ApplyAsync(IReadOnlyList<StateWrite> writes, bool atomic, CancellationToken cancellationToken);
}

public sealed class ETagMismatchException(string key) : Exception($"possible etag mismatch. error from state store: etag mismatch for key {key}");
