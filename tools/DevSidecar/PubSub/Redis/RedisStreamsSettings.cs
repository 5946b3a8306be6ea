using DevSidecar.Resources;

namespace DevSidecar.PubSub.Redis;

/// <summary>pubsub.redis metadata (contrib pubsub/redis/metadata.yaml) that shapes consuming and publishing.</summary>
public sealed record RedisStreamsSettings(
    TimeSpan ProcessingTimeout,
    TimeSpan RedeliverInterval,
    int QueueDepth,
    int Concurrency,
    long? MaxLenApprox)
{
    /// <summary>pubsub.redis's own keys besides <see cref="Resources.Redis.RedisConnector.Keys"/> (settings.go, mdonly pubsub).</summary>
    public static readonly IReadOnlyList<string> Keys =
        ["consumerID", "redeliverInterval", "processingTimeout", "queueDepth", "concurrency", "maxLenApprox", "streamTTL"];

    public static RedisStreamsSettings From(ComponentSpec spec)
    {
        var settings = new RedisStreamsSettings(
            ProcessingTimeout: spec.GetDuration("processingTimeout", TimeSpan.FromSeconds(15)),
            RedeliverInterval: spec.GetDuration("redeliverInterval", TimeSpan.FromSeconds(60)),
            QueueDepth: spec.GetInt("queueDepth", 100),
            Concurrency: spec.GetInt("concurrency", 10),
            MaxLenApprox: spec.GetLong("maxLenApprox"));
        if (settings.QueueDepth < 1) throw ComponentSpecValues.Invalid(spec, "queueDepth", "must be at least 1");
        if (settings.Concurrency < 1) throw ComponentSpecValues.Invalid(spec, "concurrency", "must be at least 1");
        return settings;
    }
}
