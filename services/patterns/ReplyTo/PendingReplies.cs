using System.Collections.Concurrent;

namespace OrderFlow.Patterns.ReplyTo;

/// <summary>
/// The requests this instance is waiting on, keyed by correlation id — the essay's "context". It lives in memory, so a
/// reply that reaches another instance, or this one after a restart, finds no one here.
/// </summary>
public sealed class PendingReplies
{
    private readonly ConcurrentDictionary<string, TaskCompletionSource<PriceQuoted>> _waiting = new(StringComparer.Ordinal);

    /// <summary>Replies that arrived with no requester waiting here: under in-memory handling, these are lost.</summary>
    public ConcurrentQueue<string> Unmatched { get; } = new();

    public Task<PriceQuoted> Register(string correlationId) =>
        _waiting.GetOrAdd(correlationId, _ => new TaskCompletionSource<PriceQuoted>(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

    /// <summary>How many requesters on this instance are waiting.</summary>
    public int Waiting => _waiting.Count;

    public void Forget(string correlationId) => _waiting.TryRemove(correlationId, out _);

    /// <summary>Hands the reply to the requester waiting here; false if there is none.</summary>
    public bool TryComplete(PriceQuoted reply) => _waiting.TryRemove(reply.CorrelationId, out var waiter) && waiter.TrySetResult(reply);
}
