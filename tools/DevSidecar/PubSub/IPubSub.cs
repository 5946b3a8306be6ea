using DevSidecar.Resources;

namespace DevSidecar.PubSub;

/// <summary>A message as a broker carries it: the exact bytes, and metadata that reaches the subscriber as headers.</summary>
public sealed record BrokerMessage(string Topic, ReadOnlyMemory<byte> Data, string ContentType, IReadOnlyDictionary<string, string> Metadata);

/// <summary>Handles one message; returning acknowledges it, throwing asks the broker to redeliver (if it can).</summary>
public delegate Task MessageHandler(BrokerMessage message, CancellationToken cancellationToken);

/// <summary>A pub/sub component (pubsub.*). Implementations follow the matching components-contrib broker.</summary>
public interface IPubSub : IAsyncDisposable
{
    ComponentSpec Spec { get; }

    /// <summary>Features as GET /v1.0/metadata lists them (e.g. SUBSCRIBE_WILDCARDS, MESSAGE_TTL).</summary>
    IReadOnlyList<string> Features { get; }

    Task PublishAsync(BrokerMessage message, CancellationToken cancellationToken);

    /// <summary>
    /// Starts consuming <paramref name="topic"/> as a member of <paramref name="consumerGroup"/>: members of one
    /// group compete, different groups each get every message. Disposing the result stops taking new messages
    /// and waits for the handler calls in flight.
    /// </summary>
    Task<IAsyncDisposable> SubscribeAsync(string topic, string consumerGroup, IReadOnlyDictionary<string, string> metadata,
        MessageHandler handler, CancellationToken cancellationToken);
}
