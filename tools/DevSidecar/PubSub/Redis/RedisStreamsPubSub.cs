using System.Text.Json;
using DevSidecar.Hosting;
using DevSidecar.Resources.Redis;
using DevSidecar.Resources;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace DevSidecar.PubSub.Redis;

/// <summary>
/// pubsub.redis (Redis Streams), as components-contrib does it: a topic is a stream; publish is XADD of a "data"
/// field (the exact bytes) and a "metadata" field (JSON); each consumer group is an XGROUP created at "0", so a new
/// group reads the stream's history. See <see cref="RedisStreamConsumer"/> for delivery and redelivery.
/// </summary>
public sealed class RedisStreamsPubSub : IPubSub, IConnectingComponent
{
    private readonly RedisConnector _connector;
    private readonly RedisStreamsSettings _settings;
    private readonly ILogger _logger;
    private readonly Task<ConnectionMultiplexer> _connection;
    private readonly Lock _lock = new();
    private readonly List<RedisStreamConsumer> _consumers = [];

    public RedisStreamsPubSub(ComponentSpec spec, ILogger logger)
    {
        Spec = spec;
        _logger = logger;
        _connector = new RedisConnector(spec, logger);
        _settings = RedisStreamsSettings.From(spec);
        _connection = _connector.ConnectAsync("publish and acknowledge", reportUnreachable: false);
    }

    public ComponentSpec Spec { get; }
    public IReadOnlyList<string> Features => [];

    public string Server => "Redis";
    public string Address => _connector.Host;
    public string StartCommand => _connector.StartCommand;

    public Task InitAsync(CancellationToken cancellationToken) => _connector.PingAsync(_connection, "redis streams", cancellationToken);

    public async Task PublishAsync(BrokerMessage message, CancellationToken cancellationToken)
    {
        var fields = new List<NameValueEntry> { new("data", message.Data) };
        if (message.Metadata.Count > 0) fields.Add(new("metadata", JsonSerializer.Serialize(message.Metadata, SidecarJson.Default.IReadOnlyDictionaryStringString)));
        try
        {
            var db = (await _connection).GetDatabase(_connector.Database);
            await db.StreamAddAsync(message.Topic, [.. fields], maxLength: _settings.MaxLenApprox, useApproximateMaxLength: true)
                .WaitAsync(cancellationToken);
        }
        catch (Exception e) when (RedisConnector.IsConnectionProblem(e))
        {
            throw _connector.Unreachable(e);
        }
    }

    public async Task<IAsyncDisposable> SubscribeAsync(string topic, string consumerGroup, IReadOnlyDictionary<string, string> metadata,
        MessageHandler handler, CancellationToken cancellationToken)
    {
        var consumer = await RedisStreamConsumer.StartAsync(Spec, _connector, await _connection, _settings, topic, consumerGroup, handler, _logger);
        lock (_lock) _consumers.Add(consumer);
        return consumer;
    }

    /// <summary>Components are disposed after the graceful-shutdown wait: handlers still running are cancelled, and
    /// their messages stay pending in the group, to be reclaimed by the next consumer (at-least-once).</summary>
    public async ValueTask DisposeAsync()
    {
        RedisStreamConsumer[] consumers;
        lock (_lock) consumers = [.. _consumers];
        foreach (var consumer in consumers) consumer.Abort();
        await Task.WhenAll(consumers.Select(c => c.DisposeAsync().AsTask()));
        (await _connection).Dispose();
    }
}
