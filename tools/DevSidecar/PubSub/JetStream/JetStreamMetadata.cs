using DevSidecar.Resources;
using NATS.Client.JetStream.Models;

namespace DevSidecar.PubSub.JetStream;

/// <summary>pubsub.jetstream's metadata, with contrib's keys and defaults (pubsub/jetstream/metadata.go).</summary>
public sealed record JetStreamMetadata
{
    public required string NatsUrl { get; init; }
    public string ConnectionName { get; init; } = "dapr.io - pubsub.jetstream";
    public string? Token { get; init; }
    public string? StreamName { get; init; }
    public string? DurableName { get; init; }
    public string? QueueGroupName { get; init; }
    public ConsumerConfigDeliverPolicy DeliverPolicy { get; init; } = ConsumerConfigDeliverPolicy.All;
    public ulong StartSequence { get; init; }
    public DateTimeOffset? StartTime { get; init; }
    public ConsumerConfigAckPolicy AckPolicy { get; init; } = ConsumerConfigAckPolicy.Explicit;
    public TimeSpan? AckWait { get; init; }
    public long MaxDeliver { get; init; }
    public IReadOnlyList<TimeSpan> BackOff { get; init; } = [];
    public long MaxAckPending { get; init; }
    public int Replicas { get; init; }
    public bool MemoryStorage { get; init; }
    public bool Parallel { get; init; }

    public static JetStreamMetadata Parse(ComponentSpec spec)
    {
        var m = new BrokerMetadata(spec);
        var startSequence = m.Long("startSequence", 0);
        var startTime = m.Long("startTime", 0);
        // contrib: an explicit deliverPolicy wins; otherwise a start sequence or time implies by-sequence / by-time.
        var deliverPolicy = m.Choice("deliverPolicy",
            startSequence > 0 ? ConsumerConfigDeliverPolicy.ByStartSequence
            : startTime > 0 ? ConsumerConfigDeliverPolicy.ByStartTime
            : ConsumerConfigDeliverPolicy.All,
            new Dictionary<string, ConsumerConfigDeliverPolicy>
            {
                ["all"] = ConsumerConfigDeliverPolicy.All,
                ["last"] = ConsumerConfigDeliverPolicy.Last,
                ["new"] = ConsumerConfigDeliverPolicy.New,
                ["sequence"] = ConsumerConfigDeliverPolicy.ByStartSequence,
                ["time"] = ConsumerConfigDeliverPolicy.ByStartTime,
            });
        if (deliverPolicy == ConsumerConfigDeliverPolicy.ByStartSequence && startSequence <= 0)
            throw m.Invalid("startSequence", "must be set when deliverPolicy is 'sequence'");
        if (deliverPolicy == ConsumerConfigDeliverPolicy.ByStartTime && startTime <= 0)
            throw m.Invalid("startTime", "must be set (Unix seconds) when deliverPolicy is 'time'");

        return new JetStreamMetadata
        {
            NatsUrl = m.Required("natsURL"),
            ConnectionName = m.String("name") ?? "dapr.io - pubsub.jetstream",
            Token = m.String("token"),
            StreamName = m.String("streamName"),
            DurableName = m.String("durableName"),
            QueueGroupName = m.String("queueGroupName"),
            DeliverPolicy = deliverPolicy,
            StartSequence = (ulong)Math.Max(0, startSequence),
            StartTime = startTime > 0 ? DateTimeOffset.FromUnixTimeSeconds(startTime) : null,
            AckPolicy = m.Choice("ackPolicy", ConsumerConfigAckPolicy.Explicit, new Dictionary<string, ConsumerConfigAckPolicy>
            {
                ["explicit"] = ConsumerConfigAckPolicy.Explicit,
                ["all"] = ConsumerConfigAckPolicy.All,
                ["none"] = ConsumerConfigAckPolicy.None,
            }),
            AckWait = m.Duration("ackWait", TimeSpan.FromSeconds(1)),
            MaxDeliver = m.Long("maxDeliver", 0),
            BackOff = m.Durations("backOff"),
            MaxAckPending = m.Long("maxAckPending", 0),
            Replicas = (int)m.Long("replicas", 0),
            MemoryStorage = m.Bool("memoryStorage", false),
            Parallel = m.Choice("concurrency", false, new Dictionary<string, bool> { ["single"] = false, ["parallel"] = true }),
        };
    }
}
