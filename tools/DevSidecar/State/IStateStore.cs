using System.Globalization;
using DevSidecar.Resources;

namespace DevSidecar.State;

/// <summary>The request's concurrency option as daprd passes it on: unset, "first-write" or "last-write". The stores
/// tell unset from last-write (contrib's state.redis ignores the ETag under an explicit last-write).</summary>
public enum Concurrency { Unspecified, FirstWrite, LastWrite }

public sealed record StoredItem(byte[] Value, string ETag, DateTimeOffset? ExpiresAt);

/// <summary>One upsert (Value set) or delete (Value null) on a store key that already carries its prefix, with the
/// request's metadata (ttlInSeconds, contentType, …), which each store reads as its contrib component does.</summary>
public sealed record StateWrite(string Key, byte[]? Value, string? ETag, Concurrency Concurrency, IReadOnlyDictionary<string, string> Metadata)
{
    public static readonly IReadOnlyDictionary<string, string> NoMetadata = new Dictionary<string, string>();

    public bool IsDelete => Value is null;

    /// <summary>contrib's HasETag: an empty ETag counts as none.</summary>
    public bool HasETag => !string.IsNullOrEmpty(ETag);

    /// <summary>ttlInSeconds, null when absent or empty; a non-integer fails as Go's strconv does.</summary>
    public long? TtlSeconds => Metadata.TryGetValue("ttlInSeconds", out var raw) && raw.Length > 0
        ? long.TryParse(raw, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var seconds)
            ? seconds
            : throw new StateStoreException($"strconv.ParseInt: parsing \"{raw}\": invalid syntax")
        : null;
}

/// <summary>
/// A state component (state.*) with the two write paths contrib's stores have: a single Set/Delete, and Multi (a
/// transaction). How ETags, first-write and atomicity behave, and the error each failure is, is per store, as in
/// components-contrib v1.17.6; daprd turns the errors into API codes (<see cref="StateApi"/>).
/// </summary>
public interface IStateStore : IAsyncDisposable
{
    ComponentSpec Spec { get; }

    /// <summary>Capabilities as GET /v1.0/metadata lists them: ETAG, TRANSACTIONAL, TTL, …</summary>
    IReadOnlyList<string> Features { get; }

    Task<StoredItem?> GetAsync(string key, CancellationToken cancellationToken);

    /// <summary>contrib's Set (or Delete for a delete). Throws <see cref="StateStoreException"/>.</summary>
    Task WriteAsync(StateWrite write, CancellationToken cancellationToken);

    /// <summary>contrib's Multi. Throws <see cref="StateStoreException"/>; what was applied then is the store's business.</summary>
    Task MultiAsync(IReadOnlyList<StateWrite> writes, CancellationToken cancellationToken);
}

/// <summary>A component error: daprd answers it as Internal / 500 with the message inside its own.</summary>
public class StateStoreException(string message) : Exception(message);

public enum ETagErrorKind { Mismatch, Invalid }

/// <summary>contrib's state.ETagError: daprd answers a single save or delete with Aborted / 409 (mismatch) or
/// InvalidArgument / 400 (invalid). The text is contrib's: "possible etag mismatch. error from state store[: cause]".</summary>
public sealed class ETagException(ETagErrorKind kind, string? cause = null)
    : StateStoreException((kind == ETagErrorKind.Mismatch ? "possible etag mismatch. error from state store" : "invalid etag value")
        + (cause is null ? "" : ": " + cause))
{
    public ETagErrorKind Kind { get; } = kind;
}
