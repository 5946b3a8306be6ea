using System.Text.Json;
using DevSidecar.Resources;
using Microsoft.Extensions.Logging;
using NATS.Client.Core;
using NATS.Client.JetStream;

namespace DevSidecar.PubSub.JetStream;

/// <summary>
/// pubsub.jetstream, after contrib's pubsub/jetstream: publish to subject = topic with the CloudEvent id as
/// Nats-Msg-Id (the stream de-duplicates), consume through a consumer filtered on the topic, ack after the handler
/// returns, NAK (delayed by ackWait when set) when it throws, so the server redelivers up to maxDeliver.
/// consumerID is ignored, as in contrib: instances compete only when queueGroupName is set.
/// Dev-sidecar differences: a missing stream is created (daprd requires it to exist), see <see cref="JetStreamStreams"/>;
/// the consumer is a pull consumer rather than contrib's push consumer with a deliver group (same competing/fan-out
/// behaviour); and a broker that is down at start-up or goes away is retried instead of failing the sidecar.
/// </summary>
public sealed class JetStreamPubSub : IPubSub
{
    private readonly JetStreamMetadata _metadata;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _connectLock = new(1, 1);
    private NatsConnection? _connection;
    private NatsJSContext? _js;

    public JetStreamPubSub(ComponentSpec spec, ILogger logger)
    {
        Spec = spec;
        _metadata = JetStreamMetadata.Parse(spec);
        _logger = logger;
        Streams = new JetStreamStreams(_metadata, spec.Name, logger);
    }

    public ComponentSpec Spec { get; }
    public IReadOnlyList<string> Features => [];
    internal JetStreamStreams Streams { get; }

    public async Task PublishAsync(BrokerMessage message, CancellationToken cancellationToken)
    {
        var js = await ContextAsync(cancellationToken);
        await Streams.StreamForAsync(js, message.Topic, cancellationToken);
        var id = CloudEventId(message.Data);
        if (id is null) _logger.LogWarning("{Component}: the message on {Topic} has no CloudEvent id; JetStream cannot de-duplicate it", Spec.Name, message.Topic);
        var ack = await js.PublishAsync(message.Topic, message.Data.ToArray(), opts: new NatsJSPubOpts { MsgId = id }, cancellationToken: cancellationToken);
        // A duplicate (same id within the stream's window) is stored once; like contrib, that is not an error.
        if (ack.Error is { } error) throw new NatsJSException($"JetStream refused the message on '{message.Topic}': {error.Code} {error.Description}");
    }

    public Task<IAsyncDisposable> SubscribeAsync(string topic, string consumerGroup, IReadOnlyDictionary<string, string> metadata,
        MessageHandler handler, CancellationToken cancellationToken)
    {
        // Consuming runs in the background and retries; see SubscriptionStartup for how long start-up waits for it.
        return new JetStreamSubscription(this, _metadata, topic, handler, _logger).StartAsync(cancellationToken);
    }

    /// <summary>The JetStream context; the first call connects. Once connected, the client reconnects by itself.</summary>
    internal async Task<NatsJSContext> ContextAsync(CancellationToken cancellationToken)
    {
        if (_js is { } ready) return ready;
        await _connectLock.WaitAsync(cancellationToken);
        try
        {
            if (_js is { } raced) return raced;
            var connection = new NatsConnection(new NatsOpts
            {
                Url = _metadata.NatsUrl,
                Name = _metadata.ConnectionName,
                AuthOpts = _metadata.Token is { } token ? NatsAuthOpts.Default with { Token = token } : NatsAuthOpts.Default,
            });
            try
            {
                await connection.ConnectAsync();
            }
            catch
            {
                await connection.DisposeAsync();
                throw;
            }
            _logger.LogInformation("{Component}: connected to NATS at {Url}", Spec.Name, _metadata.NatsUrl);
            _connection = connection;
            return _js = new NatsJSContext(connection);
        }
        finally
        {
            _connectLock.Release();
        }
    }

    private static string? CloudEventId(ReadOnlyMemory<byte> data)
    {
        try
        {
            using var doc = JsonDocument.Parse(data);
            return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.String
                ? id.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_connection is not null) await _connection.DisposeAsync();
        _connectLock.Dispose();
    }
}
