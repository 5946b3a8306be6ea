using System.Text.Json;
using DevSidecar.Resources;
using Microsoft.Extensions.Logging;
using NATS.Client.Core;

namespace DevSidecar.PubSub.JetStream;

/// <summary>
/// pubsub.jetstream as components-contrib v1.17.6 pubsub/jetstream/jetstream.go does it with nats.go v1.39.1:
/// publish to subject = topic with the CloudEvent id as Nats-Msg-Id (the stream de-duplicates) and wait for the
/// stream's ack; subscribe through a push consumer (see <see cref="JetStreamSubscription"/>). Streams are never
/// created: a topic no stream stores cannot be published to ("nats: no response from stream") nor subscribed to
/// ("nats: no stream matches subject"). The connection reconnects as nats.go's does by default: every 2 s, 60 times,
/// then it is closed for good. Init connects, without retrying: NATS unreachable at start-up stops the sidecar, as
/// it stops daprd (contrib's Init: nats.Connect).
/// </summary>
public sealed class JetStreamPubSub : IPubSub, IConnectingComponent
{
    /// <summary>nats.go retries a publish that found no stream listening twice, 250 ms apart (DefaultPubRetryAttempts / Wait).</summary>
    private const int PublishRetries = 2;
    private static readonly TimeSpan PublishRetryWait = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan PublishWait = TimeSpan.FromSeconds(5);

    private readonly ILogger _logger;
    private readonly SemaphoreSlim _connectLock = new(1, 1);
    private (NatsConnection Connection, JetStreamApi Api)? _connected;

    public JetStreamPubSub(ComponentSpec spec, ILogger logger)
    {
        Spec = spec;
        Metadata = JetStreamMetadata.Parse(spec);
        _logger = logger;
    }

    public ComponentSpec Spec { get; }
    public IReadOnlyList<string> Features => [];
    internal JetStreamMetadata Metadata { get; }

    public string Server => "NATS";
    public string Address => Metadata.NatsUrl;
    public string StartCommand => $"nats-server -js -p {(Uri.TryCreate(Metadata.NatsUrl, UriKind.Absolute, out var url) && url.Port > 0 ? url.Port : 4222)}";

    public Task InitAsync(CancellationToken cancellationToken) => ConnectAsync(cancellationToken);

    public async Task PublishAsync(BrokerMessage message, CancellationToken cancellationToken)
    {
        var (connection, _) = await ConnectAsync(cancellationToken);
        var id = CloudEventId(message.Data);
        if (id is null) _logger.LogWarning("{Component}: empty message ID, Jetstream deduplication will not be possible", Spec.Name);
        var headers = id is null ? null : new NatsHeaders { ["Nats-Msg-Id"] = id };
        var data = message.Data.ToArray();
        for (var attempt = 0; ; attempt++)
        {
            NatsMsg<byte[]> reply;
            try
            {
                reply = await connection.RequestAsync<byte[], byte[]>(message.Topic, data, headers,
                    replyOpts: new NatsSubOpts { Timeout = PublishWait, ThrowIfNoResponders = true }, cancellationToken: cancellationToken);
            }
            catch (NatsNoRespondersException)
            {
                // No stream stores the subject (or it is not up yet).
                if (attempt < PublishRetries)
                {
                    await Task.Delay(PublishRetryWait, cancellationToken);
                    continue;
                }
                throw new JetStreamException("no response from stream");
            }
            catch (NatsNoReplyException)
            {
                throw new JetStreamException("timeout");
            }
            CheckPubAck(reply.Data);
            return;
        }
    }

    /// <summary>The stream's answer: an error, or an ack naming the stream (a duplicate is acked too, and is no error).</summary>
    private static void CheckPubAck(byte[]? data)
    {
        try
        {
            using var ack = JsonDocument.Parse(data ?? []);
            if (ack.RootElement.TryGetProperty("error", out var error))
                throw new JetStreamException(error.TryGetProperty("description", out var d) ? d.GetString() ?? "" : error.ToString());
            if (!ack.RootElement.TryGetProperty("stream", out var stream) || stream.GetString() is not { Length: > 0 })
                throw new JetStreamException("invalid jetstream publish response");
        }
        catch (JsonException)
        {
            throw new JetStreamException("invalid jetstream publish response");
        }
    }

    public Task<IAsyncDisposable> SubscribeAsync(string topic, string consumerGroup, IReadOnlyDictionary<string, string> metadata,
        MessageHandler handler, CancellationToken cancellationToken) =>
        new JetStreamSubscription(this, topic, handler, _logger).StartAsync(cancellationToken);

    /// <summary>The connection and its JetStream API; the first call (the component's init) connects, and throws nats.go's error if it cannot.</summary>
    internal async Task<(NatsConnection Connection, JetStreamApi Api)> ConnectAsync(CancellationToken cancellationToken)
    {
        if (_connected is { } ready) return ready;
        await _connectLock.WaitAsync(cancellationToken);
        try
        {
            if (_connected is { } raced) return raced;
            var connection = new NatsConnection(new NatsOpts
            {
                Url = Metadata.NatsUrl,
                Name = Metadata.ConnectionName,
                AuthOpts = Metadata.Token is { } token ? NatsAuthOpts.Default with { Token = token } : NatsAuthOpts.Default,
                // nats.go's defaults, which contrib keeps: reconnect every 2 s (+ up to 100 ms), give up after 60 tries.
                MaxReconnectRetry = 60,
                ReconnectWaitMin = TimeSpan.FromSeconds(2),
                ReconnectWaitMax = TimeSpan.FromSeconds(2),
                ReconnectJitter = TimeSpan.FromMilliseconds(100),
            });
            try
            {
                await connection.ConnectAsync();
            }
            catch (Exception e)
            {
                await connection.DisposeAsync();
                // nats.go says ErrNoServers when no server of the URL accepted the connection; NATS.Client.Core's
                // "can not connect uris" is that case (it does not say why).
                throw new InvalidOperationException(e is NatsException && e.Message.StartsWith("can not connect uris", StringComparison.Ordinal)
                    ? "nats: no servers available for connection"
                    : e.GetBaseException().Message, e);
            }
            _logger.LogInformation("{Component}: connected to NATS at {Url}", Spec.Name, Metadata.NatsUrl);
            var connected = (connection, new JetStreamApi(connection, Metadata.ApiPrefix));
            _connected = connected;
            return connected;
        }
        finally
        {
            _connectLock.Release();
        }
    }

    /// <summary>contrib reads the id of a JSON CloudEvent; anything else is published without Nats-Msg-Id.</summary>
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
        if (_connected is { } connected) await connected.Connection.DisposeAsync();
        _connectLock.Dispose();
    }
}
