using DevSidecar.Resources;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;

namespace DevSidecar.PubSub.RabbitMQ;

/// <summary>
/// pubsub.rabbitmq, after contrib's pubsub/rabbitmq: one exchange per topic (exchangeKind, fanout by default), one
/// queue "{consumerID}-{topic}" per consumer group bound to it (instances of an app compete on it, other app ids get
/// their own queue), basic.ack after the handler returns and basic.nack(requeue: requeueInFailure) when it throws.
/// Init connects once, without retrying (contrib's Init: reconnect(0), a single dial): a broker that is down at
/// start-up stops the sidecar, as it stops daprd. A broker that goes away later is retried every reconnectWaitSeconds.
/// </summary>
public sealed class RabbitMQPubSub : IPubSub, IConnectingComponent
{
    private const int PublishAttempts = 3;

    private readonly RabbitMQMetadata _metadata;
    private readonly ILogger _logger;
    private readonly RabbitMQConnection _connection;
    private readonly SemaphoreSlim _publishLock = new(1, 1);
    private IChannel? _publishChannel;

    public RabbitMQPubSub(ComponentSpec spec, ILogger logger)
    {
        Spec = spec;
        _metadata = RabbitMQMetadata.Parse(spec);
        _logger = logger;
        _connection = new RabbitMQConnection(_metadata, spec.Name, logger);
    }

    public ComponentSpec Spec { get; }
    public IReadOnlyList<string> Features => [];

    public string Server => "RabbitMQ";
    public string Address => _connection.Endpoint;
    public string StartCommand => _connection.Port == 5672 ? "rabbitmq-server" : $"RABBITMQ_NODE_PORT={_connection.Port} rabbitmq-server";

    public async Task InitAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _connection.OpenAsync(cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // amqp091-go's Dial error, which contrib passes on as it is.
            throw new InvalidOperationException(ComponentInitException.DialError(_connection.Endpoint, e), e);
        }
    }

    public async Task PublishAsync(BrokerMessage message, CancellationToken cancellationToken)
    {
        await _publishLock.WaitAsync(cancellationToken);
        try
        {
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    await PublishOnceAsync(message, cancellationToken);
                    return;
                }
                catch (Exception e) when (attempt < PublishAttempts && e is not OperationCanceledException)
                {
                    _logger.LogWarning("{Component}: publishing to {Topic} failed ({Error}); reconnecting in {Wait} s (attempt {Attempt}/{Attempts})",
                        Spec.Name, message.Topic, e.Message, _metadata.ReconnectWait.TotalSeconds, attempt, PublishAttempts);
                    await DropPublishChannel();
                    await Task.Delay(_metadata.ReconnectWait, cancellationToken);
                }
            }
        }
        finally
        {
            _publishLock.Release();
        }
    }

    private async Task PublishOnceAsync(BrokerMessage message, CancellationToken cancellationToken)
    {
        if (_publishChannel is not { IsOpen: true })
        {
            var connection = await _connection.OpenAsync(cancellationToken);
            _publishChannel = await connection.CreateChannelAsync(
                new CreateChannelOptions(publisherConfirmationsEnabled: _metadata.PublisherConfirm, publisherConfirmationTrackingEnabled: _metadata.PublisherConfirm),
                cancellationToken);
        }
        // Declared on every publish: an auto-deleted exchange disappears with its last queue (contrib caches it instead).
        await DeclareExchangeAsync(_publishChannel, message.Topic, _metadata.ExchangeKind, cancellationToken);
        var properties = new BasicProperties { ContentType = "text/plain" }; // as contrib: the body is the CloudEvent
        if (_metadata.DeliveryMode != 0) properties.DeliveryMode = (DeliveryModes)_metadata.DeliveryMode;
        if (Ttl(message) is { } ttl) properties.Expiration = ((long)ttl.TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var routingKey = message.Metadata.TryGetValue("routingKey", out var key) ? key : "";
        // With publisherConfirm the call returns once the broker confirmed, and throws if it refused.
        await _publishChannel.BasicPublishAsync(message.Topic, routingKey, mandatory: false, properties, message.Data, cancellationToken);
    }

    private TimeSpan? Ttl(BrokerMessage message) =>
        message.Metadata.TryGetValue("ttlInSeconds", out var text) && long.TryParse(text, out var seconds) && seconds > 0
            ? TimeSpan.FromSeconds(seconds)
            : _metadata.DefaultTtl;

    private async Task DropPublishChannel()
    {
        var channel = _publishChannel;
        _publishChannel = null;
        if (channel is null) return;
        try { await channel.DisposeAsync(); } catch { /* already closed */ }
    }

    public Task<IAsyncDisposable> SubscribeAsync(string topic, string consumerGroup, IReadOnlyDictionary<string, string> metadata,
        MessageHandler handler, CancellationToken cancellationToken)
    {
        var queue = metadata.TryGetValue("queueName", out var name) && name.Length > 0 ? name : $"{consumerGroup}-{topic}";
        var routingKeys = metadata.TryGetValue("routingKey", out var keys) ? keys.Split(',') : [""];
        // Consuming runs in the background and reconnects; see SubscriptionStartup for how long start-up waits for it.
        return new RabbitMQSubscription(this, _connection, _metadata, topic, queue, routingKeys, handler, _logger).StartAsync(cancellationToken);
    }

    internal Task DeclareExchangeAsync(IChannel channel, string name, string kind, CancellationToken cancellationToken) =>
        channel.ExchangeDeclareAsync(name, kind, durable: _metadata.Durable, autoDelete: _metadata.DeletedWhenUnused, cancellationToken: cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await DropPublishChannel();
        await _connection.DisposeAsync();
        _publishLock.Dispose();
    }
}
