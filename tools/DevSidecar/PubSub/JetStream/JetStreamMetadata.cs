using DevSidecar.Resources;

namespace DevSidecar.PubSub.JetStream;

/// <summary>How contrib hands messages to the handler (its <c>concurrency</c> / <c>concurrencyMode</c> metadata).</summary>
public enum JetStreamConcurrency
{
    /// <summary>One message at a time; acked or NAKed when the handler returns.</summary>
    Single,

    /// <summary>A goroutine per message; nats.go's auto-ack acks it on receipt (see <see cref="JetStreamSubscription"/>).</summary>
    Parallel,

    /// <summary>Any other <c>concurrency</c> value: contrib passes nats.go no handler, and subscribing fails.</summary>
    None,
}

/// <summary>
/// pubsub.jetstream's metadata with contrib's keys, defaults and checks (components-contrib v1.17.6
/// pubsub/jetstream/metadata.go): deliverPolicy is matched case-sensitively and an unknown one stops start-up, an
/// unknown ackPolicy means explicit, startSequence / startTime do not imply a deliver policy (nats-server refuses
/// the mix), and <c>concurrencyMode</c> overrides <c>concurrency</c>.
/// </summary>
public sealed record JetStreamMetadata
{
    public required string NatsUrl { get; init; }
    public string ConnectionName { get; init; } = "dapr.io - pubsub.jetstream";
    public string? Token { get; init; }
    public string? StreamName { get; init; }
    public string? DurableName { get; init; }
    public string? QueueGroupName { get; init; }
    public ulong StartSequence { get; init; }
    public DateTimeOffset? StartTime { get; init; }
    public bool FlowControl { get; init; }
    public TimeSpan? AckWait { get; init; }
    public long MaxDeliver { get; init; }
    public IReadOnlyList<TimeSpan> BackOff { get; init; } = [];
    public long MaxAckPending { get; init; }
    public int Replicas { get; init; }
    public bool MemoryStorage { get; init; }
    public ulong RateLimit { get; init; }
    public TimeSpan? Heartbeat { get; init; }
    /// <summary>As nats.go writes it: all, last, new, by_start_sequence, by_start_time.</summary>
    public string DeliverPolicy { get; init; } = "all";
    /// <summary>As nats.go writes it: explicit, all, none.</summary>
    public string AckPolicy { get; init; } = "explicit";
    /// <summary>The JetStream API's subject prefix: <c>$JS.API.</c>, <c>$JS.{domain}.API.</c> or apiPrefix.</summary>
    public string ApiPrefix { get; init; } = "$JS.API.";
    public JetStreamConcurrency Concurrency { get; init; } = JetStreamConcurrency.Single;

    public bool Acks => AckPolicy != "none";

    /// <summary>contrib's keys: metadata.go's fields, concurrencyMode (pubsub/concurrency.go) and the backOff* retry
    /// settings Init decodes (dapr/kit retry.DecodeConfigWithPrefix).</summary>
    public static readonly IReadOnlyList<string> Keys =
    [
        "natsURL", "jwt", "seedKey", "token", "tls_client_cert", "tls_client_key", "name", "streamName", "durableName",
        "queueGroupName", "startSequence", "startTime", "flowControl", "ackWait", "maxDeliver", "backOff", "maxAckPending",
        "replicas", "memoryStorage", "rateLimit", "heartbeat", "deliverPolicy", "ackPolicy", "domain", "apiPrefix",
        "concurrency", "concurrencyMode", "backOffPolicy", "backOffDuration", "backOffInitialInterval",
        "backOffRandomizationFactor", "backOffMultiplier", "backOffMaxInterval", "backOffMaxElapsedTime", "backOffMaxRetries",
    ];

    public static JetStreamMetadata Parse(ComponentSpec spec)
    {
        var m = new BrokerMetadata(spec);
        Exception Fail(string problem) => new ResourceLoadException(spec.File, $"component '{spec.Name}' ({spec.Type}): {problem}");

        var natsUrl = m.String("natsURL") ?? throw Fail("missing nats URL");
        // Credentials other than a token: contrib supports them; the dev sidecar refuses rather than connecting without.
        foreach (var key in new[] { "jwt", "seedKey", "tls_client_cert", "tls_client_key" })
        {
            if (m.String(key) is not null) throw m.Invalid(key, "is not supported by the dev sidecar (token only)");
        }

        var deliverPolicy = m.String("deliverPolicy") switch
        {
            null or "all" => "all",
            "last" => "last",
            "new" => "new",
            "sequence" => "by_start_sequence",
            "time" => "by_start_time",
            var other => throw Fail($"deliver policy {other} is not one of: all, last, new, sequence, time"),
        };
        var ackPolicy = m.String("ackPolicy") switch
        {
            "all" => "all",
            "none" => "none",
            _ => "explicit",
        };
        var concurrency = m.String("concurrency") switch
        {
            null or "single" => JetStreamConcurrency.Single,
            "parallel" => JetStreamConcurrency.Parallel,
            _ => JetStreamConcurrency.None,
        };
        concurrency = m.String("concurrencyMode") switch
        {
            null => concurrency,
            "single" => JetStreamConcurrency.Single,
            "parallel" => JetStreamConcurrency.Parallel,
            var other => throw Fail($"invalid concurrencyMode {other}"),
        };
        var domain = m.String("domain");
        var apiPrefix = m.String("apiPrefix");

        return new JetStreamMetadata
        {
            NatsUrl = natsUrl,
            ConnectionName = m.String("name") ?? "dapr.io - pubsub.jetstream",
            Token = m.String("token"),
            StreamName = m.String("streamName"),
            DurableName = m.String("durableName"),
            QueueGroupName = m.String("queueGroupName"),
            StartSequence = (ulong)Math.Max(0, m.Long("startSequence", 0)),
            // contrib: any startTime, 0 included, is sent as opt_start_time.
            StartTime = m.String("startTime") is null ? null : DateTimeOffset.FromUnixTimeSeconds(m.Long("startTime", 0)),
            FlowControl = m.Bool("flowControl", false),
            AckWait = m.Duration("ackWait", TimeSpan.FromSeconds(1)),
            MaxDeliver = m.Long("maxDeliver", 0),
            BackOff = m.Durations("backOff"),
            MaxAckPending = m.Long("maxAckPending", 0),
            Replicas = (int)m.Long("replicas", 0),
            MemoryStorage = m.Bool("memoryStorage", false),
            RateLimit = (ulong)Math.Max(0, m.Long("rateLimit", 0)),
            Heartbeat = m.Duration("heartbeat", TimeSpan.FromSeconds(1)),
            DeliverPolicy = deliverPolicy,
            AckPolicy = ackPolicy,
            // nats.go: Domain gives $JS.{domain}.API., APIPrefix replaces it (a dot is appended when missing).
            ApiPrefix = apiPrefix is not null ? (apiPrefix.EndsWith('.') ? apiPrefix : apiPrefix + ".")
                : domain is not null ? $"$JS.{domain}.API." : "$JS.API.",
            Concurrency = concurrency,
        };
    }
}
