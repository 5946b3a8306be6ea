using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using NATS.Client.Core;

namespace DevSidecar.PubSub.JetStream;

/// <summary>
/// One topic, subscribed as contrib's Subscribe does it (components-contrib v1.17.6 pubsub/jetstream/jetstream.go,
/// nats.go v1.39.1 js.go / jsm.go):
/// <list type="number">
/// <item>the stream is streamName, or the one stream whose subjects match the topic (none: "nats: no stream matches subject");</item>
/// <item>AddConsumer: a push consumer with a new inbox as deliver subject, durable = durableName, deliver group =
///   queueGroupName, filter = the topic, and the metadata's settings. A durable that exists is taken as it is when
///   the settings nats.go compares agree (so a second sidecar of the app id joins the first one's consumer and inbox),
///   and refused otherwise ("consumer name already in use");</item>
/// <item>bind: the consumer must filter on this topic (a second topic of one app on a shared stream finds the first
///   topic's consumer: "nats: subject does not match consumer"), and its deliver group must be queueGroupName; then
///   a subscription to the consumer's deliver subject in that queue group, so sidecars of one app id compete.</item>
/// </list>
/// A message is ACKed when the handler returns and NAKed (with ackWait as delay when set) when it throws; with
/// concurrency parallel nats.go's auto-ack acks it as soon as it is handed over, so a failure is not redelivered.
/// A refused subscription is logged and retried in the background with growing delays, as daprd does
/// (pkg/runtime/processor/subscriber/subscriber.go); the app keeps running without the topic's events.
/// </summary>
internal sealed class JetStreamSubscription(JetStreamPubSub pubsub, string topic, MessageHandler handler, ILogger logger)
    : BrokerSubscription<JetStreamSubscription.Delivery>(pubsub.Spec.Name, topic, handler, logger,
        new(Enabled: pubsub.Metadata.Acks, Ack: "ACK", Nak: "NAK", OnFailure: "NAK so the server redelivers it", Source: topic))
{
    /// <summary>daprd retries a refused subscription with backoff.NewExponentialBackOff: 500 ms, ×1.5, at most 60 s.</summary>
    private static readonly TimeSpan FirstRetryDelay = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(60);

    /// <summary>nats.go's pending limit of a subscription (DefaultSubPendingMsgsLimit); beyond it messages are dropped.</summary>
    private const int PendingLimit = 512 * 1024;

    private readonly JetStreamMetadata _metadata = pubsub.Metadata;
    private TimeSpan _retryDelay = FirstRetryDelay;
    private bool _refused;

    /// <summary>One delivered message: where to send its ack, and whether one went (nats.go sends at most one).</summary>
    internal sealed class Delivery(string replyTo, string description)
    {
        private int _settled;
        public string ReplyTo { get; } = replyTo;
        public string Description { get; } = description;
        public bool TrySettle() => Interlocked.Exchange(ref _settled, 1) == 0;
    }

    protected override async Task ConsumeAsync(CancellationToken stop)
    {
        var (connection, api) = await pubsub.ConnectAsync(stop);
        var stream = _metadata.StreamName ?? await api.StreamNameBySubjectAsync(Topic, stop);
        var consumer = await api.AddConsumerAsync(stream, NewConsumerConfig(), stop);
        // nats.Bind(stream, name): the subscription looks the consumer up again and checks it.
        var bound = await api.ConsumerInfoAsync(stream, consumer.Name, stop) ?? throw new JetStreamException("consumer not found");
        var deliverSubject = JetStreamApi.DeliverSubjectToBind(bound, Topic, _metadata.QueueGroupName);
        if (_metadata.Concurrency == JetStreamConcurrency.None) throw new InvalidOperationException("nats: invalid subscription");

        await using var subscription = await connection.SubscribeCoreAsync<byte[]>(deliverSubject, _metadata.QueueGroupName,
            opts: new NatsSubOpts { ChannelOpts = new NatsSubChannelOpts { Capacity = PendingLimit, FullMode = BoundedChannelFullMode.DropNewest } },
            cancellationToken: stop);
        if (_refused) Logger.LogInformation("Successfully started subscription after retry for pubsub {Component}, topic {Topic}", Component, Topic);
        Logger.LogInformation("{Component}: consuming topic {Topic} from stream {Stream} as consumer {Consumer}{Group}",
            Component, Topic, stream, consumer.Name, _metadata.QueueGroupName is { } g ? $" in deliver group {g}" : "");
        MarkConsuming();
        _refused = false;
        _retryDelay = FirstRetryDelay;

        await foreach (var msg in subscription.Msgs.ReadAllAsync(stop))
        {
            if (!IsJetStreamMessage(msg)) continue;
            var delivery = new Delivery(msg.ReplyTo!, $"JetStream message {msg.Subject}/{StreamSequence(msg.ReplyTo!)}");
            var message = new BrokerMessage(Topic, msg.Data ?? [], CloudEvents.ContentType, new Dictionary<string, string> { ["Topic"] = msg.Subject });
            if (_metadata.Concurrency == JetStreamConcurrency.Parallel)
            {
                // contrib's parallel handler returns at once, and nats.go's auto-ack (contrib does not ask for manual
                // acks) then acks the message: the handler's own ack or NAK finds it already acknowledged.
                if (_metadata.Acks) await SendAsync(delivery, "+ACK"u8.ToArray());
                await DeliverAsync(delivery, message, parallel: true);
            }
            else
            {
                await DeliverAsync(delivery, message, parallel: false);
            }
        }
    }

    /// <summary>
    /// Status messages (flow control requests are answered, idle heartbeats ignored) are nats.go's business; any other
    /// message without a JetStream ack subject is logged and skipped, as contrib does when Metadata() fails.
    /// </summary>
    private bool IsJetStreamMessage(NatsMsg<byte[]> msg)
    {
        if (msg.ReplyTo is { } reply && reply.StartsWith("$JS.ACK.", StringComparison.Ordinal)) return true;
        if (msg.Headers is { Code: 100 })
        {
            if (msg.ReplyTo is { Length: > 0 } flowControl) _ = pubsub.ConnectAsync(CancellationToken.None).ContinueWith(
                t => t.Result.Connection.PublishAsync(flowControl).AsTask(), TaskContinuationOptions.OnlyOnRanToCompletion);
            return false;
        }
        Logger.LogError("{Component}: nats: not a jetstream message (subject {Subject})", Component, msg.Subject);
        return false;
    }

    /// <summary>The stream sequence from the ack subject: $JS.ACK.{stream}.{consumer}.{delivered}.{sseq}… or, with domain and account, two tokens later.</summary>
    private static string StreamSequence(string replyTo)
    {
        var tokens = replyTo.Split('.');
        return tokens.Length switch { 9 => tokens[5], >= 11 => tokens[7], _ => "?" };
    }

    protected override void OnConsumeFailed(Exception failure)
    {
        // NATS was reachable at start-up (the component's init connected); the connection is nats.go's, reconnecting.
        if (!_refused)
        {
            // daprd's words: the runtime's, around contrib's error.
            Logger.LogError("Failed to start subscription for pubsub {Component}, topic {Topic}: failed to subscribe to topic {Topic}: {Error}",
                Component, Topic, Topic, failure.Message);
        }
        else
        {
            Logger.LogError("Retry failed for subscription pubsub {Component}, topic {Topic}: failed to subscribe to topic {Topic}: {Error}. Will retry.",
                Component, Topic, Topic, failure.Message);
        }
        _refused = true;
        // daprd goes on starting when Subscribe fails; so does the sidecar, rather than waiting for a retry to work.
        EndStartupWait();
    }

    protected override TimeSpan RetryDelay(bool failed)
    {
        if (!failed) return TimeSpan.Zero;
        var delay = _retryDelay;
        _retryDelay = TimeSpan.FromTicks(Math.Min((long)(delay.Ticks * 1.5), MaxRetryDelay.Ticks));
        return delay;
    }

    /// <summary>contrib's consumer configuration: only what the metadata sets, plus a fresh inbox as deliver subject.</summary>
    private ConsumerConfig NewConsumerConfig() => new()
    {
        Durable = _metadata.DurableName,
        DeliverPolicy = _metadata.DeliverPolicy,
        OptStartSeq = _metadata.StartSequence,
        OptStartTime = _metadata.StartTime,
        AckPolicy = _metadata.AckPolicy,
        AckWait = _metadata.AckWait is { } wait ? ConsumerConfig.Nanos(wait) : 0,
        MaxDeliver = _metadata.MaxDeliver,
        BackOff = _metadata.BackOff.Count > 0 ? [.. _metadata.BackOff.Select(ConsumerConfig.Nanos)] : null,
        FilterSubject = Topic,
        RateLimit = _metadata.RateLimit,
        MaxAckPending = _metadata.MaxAckPending,
        FlowControl = _metadata.FlowControl,
        Heartbeat = _metadata.Heartbeat is { } heartbeat ? ConsumerConfig.Nanos(heartbeat) : 0,
        DeliverSubject = NewInbox(),
        DeliverGroup = _metadata.QueueGroupName,
        Replicas = _metadata.Replicas,
        MemoryStorage = _metadata.MemoryStorage,
    };

    /// <summary>nats.NewInbox(): "_INBOX." and a random 22-character NUID.</summary>
    private static string NewInbox()
    {
        const string digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        var nuid = new StringBuilder("_INBOX.", 29);
        for (var i = 0; i < 22; i++) nuid.Append(digits[Random.Shared.Next(digits.Length)]);
        return nuid.ToString();
    }

    protected override ValueTask AckAsync(Delivery delivery) => SendAsync(delivery, "+ACK"u8.ToArray());

    /// <summary>contrib: NakWithDelay(ackWait) when ackWait is set, a plain NAK otherwise.</summary>
    protected override ValueTask NakAsync(Delivery delivery) => SendAsync(delivery, _metadata.AckWait is { } wait
        ? Encoding.ASCII.GetBytes($"-NAK {{\"delay\": {ConsumerConfig.Nanos(wait)}}}")
        : "-NAK"u8.ToArray());

    private async ValueTask SendAsync(Delivery delivery, byte[] ack)
    {
        if (!delivery.TrySettle()) throw new JetStreamException("message was already acknowledged");
        var (connection, _) = await pubsub.ConnectAsync(CancellationToken.None);
        await connection.PublishAsync(delivery.ReplyTo, ack);
    }

    protected override string Describe(Delivery delivery) => delivery.Description;
}
