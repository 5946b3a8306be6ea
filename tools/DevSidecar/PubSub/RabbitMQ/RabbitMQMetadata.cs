using DevSidecar.Resources;

namespace DevSidecar.PubSub.RabbitMQ;

/// <summary>pubsub.rabbitmq's metadata, with contrib's keys and defaults (pubsub/rabbitmq/metadata.go).</summary>
public sealed record RabbitMQMetadata
{
    public required Uri ConnectionUri { get; init; }
    public string? ClientName { get; init; }
    public bool Durable { get; init; } = true;
    public bool DeletedWhenUnused { get; init; } = true;
    public bool AutoAck { get; init; }
    public bool RequeueInFailure { get; init; }
    public ushort PrefetchCount { get; init; }
    /// <summary>0 = the broker's default (transient), 1 = transient, 2 = persistent.</summary>
    public byte DeliveryMode { get; init; }
    public string ExchangeKind { get; init; } = "fanout";
    public bool EnableDeadLetter { get; init; }
    public long MaxLen { get; init; }
    public long MaxLenBytes { get; init; }
    public TimeSpan ReconnectWait { get; init; } = TimeSpan.FromSeconds(3);
    public bool PublisherConfirm { get; init; }
    public bool Parallel { get; init; } = true;
    public TimeSpan? DefaultTtl { get; init; }
    public TimeSpan HeartBeat { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>contrib's keys: metadata.go's fields and constants, concurrencyMode (pubsub/concurrency.go), the TLS keys
    /// (pubsub/tls.go).</summary>
    public static readonly IReadOnlyList<string> Keys =
    [
        "connectionString", "host", "protocol", "hostname", "username", "password", "durable", "enableDeadLetter",
        "deletedWhenUnused", "autoAck", "requeueInFailure", "deliveryMode", "prefetchCount", "reconnectWaitSeconds", "maxLen",
        "maxLenBytes", "exchangeKind", "clientName", "heartBeat", "publisherConfirm", "saslExternal", "concurrency",
        "concurrencyMode", "ttlInSeconds", "publishMessagePropertiesToMetadata", "caCert", "clientCert", "clientKey",
    ];

    public static RabbitMQMetadata Parse(ComponentSpec spec)
    {
        var m = new BrokerMetadata(spec);
        var deliveryMode = m.Long("deliveryMode", 0);
        if (deliveryMode is < 0 or > 2) throw m.Invalid("deliveryMode", "must be 0, 1 (transient) or 2 (persistent)");
        var prefetch = m.Long("prefetchCount", 0);
        if (prefetch is < 0 or > ushort.MaxValue) throw m.Invalid("prefetchCount", $"must be between 0 and {ushort.MaxValue}");

        return new RabbitMQMetadata
        {
            ConnectionUri = ConnectionUriOf(m),
            ClientName = m.String("clientName"),
            Durable = m.Bool("durable", true), // contrib's createMetadata default (its metadata.yaml says "false")
            DeletedWhenUnused = m.Bool("deletedWhenUnused", true),
            AutoAck = m.Bool("autoAck", false),
            RequeueInFailure = m.Bool("requeueInFailure", false),
            PrefetchCount = (ushort)prefetch,
            DeliveryMode = (byte)deliveryMode,
            ExchangeKind = m.Choice("exchangeKind", "fanout", new Dictionary<string, string>
            {
                ["fanout"] = "fanout", ["topic"] = "topic", ["direct"] = "direct", ["headers"] = "headers",
            }),
            EnableDeadLetter = m.Bool("enableDeadLetter", false),
            MaxLen = m.Long("maxLen", 0),
            MaxLenBytes = m.Long("maxLenBytes", 0),
            ReconnectWait = m.Duration("reconnectWaitSeconds", TimeSpan.FromSeconds(1)) ?? TimeSpan.FromSeconds(3),
            PublisherConfirm = m.Bool("publisherConfirm", false),
            // contrib's pubsub.Concurrency reads concurrencyMode; its "concurrency" field is overwritten by that (default parallel).
            Parallel = m.Choice("concurrencyMode", true, new Dictionary<string, bool> { ["single"] = false, ["parallel"] = true }),
            DefaultTtl = m.Duration("ttlInSeconds", TimeSpan.FromSeconds(1)),
            HeartBeat = m.Duration("heartBeat", TimeSpan.FromSeconds(1)) ?? TimeSpan.FromSeconds(10),
        };
    }

    /// <summary>connectionString (or its legacy name host) wins; otherwise the URI is built from hostname (contrib's
    /// default localhost; a port goes with it, "host:5673", contrib has no port key) and credentials.</summary>
    private static Uri ConnectionUriOf(BrokerMetadata m)
    {
        var text = m.String("connectionString") ?? m.String("host");
        if (text is null)
        {
            var hostname = m.String("hostname") ?? "localhost";
            var protocol = m.String("protocol") ?? "amqp";
            var credentials = m.String("username") is { } user
                ? Uri.EscapeDataString(user) + (m.String("password") is { } password ? $":{Uri.EscapeDataString(password)}" : "") + "@"
                : "";
            text = $"{protocol}://{credentials}{hostname}";
        }
        return Uri.TryCreate(text, UriKind.Absolute, out var uri) && uri.Scheme is "amqp" or "amqps"
            ? uri
            : throw m.Invalid("connectionString", $"'{text}' is not an amqp:// or amqps:// URI");
    }
}
