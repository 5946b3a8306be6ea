using Microsoft.Extensions.Logging;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

namespace DevSidecar.PubSub.JetStream;

/// <summary>
/// One topic consumed through a JetStream consumer filtered on the topic. With queueGroupName the consumer is the
/// durable one named after durableName (or the group) and the topic, shared by every instance, so they compete;
/// with only durableName it is durable too; with neither it is ephemeral, so each instance gets every message.
/// Runs in the background (see <see cref="BrokerSubscription{TDelivery}"/>): connecting, finding the stream and
/// creating the consumer are retried until they work. A handled message is ACKed, a failed one NAKed.
/// </summary>
internal sealed class JetStreamSubscription(JetStreamPubSub pubsub, JetStreamMetadata metadata, string topic, MessageHandler handler, ILogger logger)
    : BrokerSubscription<INatsJSMsg<byte[]>>(pubsub.Spec.Name, topic, handler, logger,
        new(Enabled: metadata.AckPolicy != ConsumerConfigAckPolicy.None, Ack: "ACK", Nak: "NAK", OnFailure: "NAK so the server redelivers it", Source: topic))
{
    private static readonly TimeSpan FirstRetryDelay = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(5);

    private TimeSpan _retryDelay = FirstRetryDelay;

    protected override async Task ConsumeAsync(CancellationToken stop)
    {
        var js = await pubsub.ContextAsync(stop);
        var stream = await pubsub.Streams.StreamForAsync(js, Topic, stop);
        var consumer = await js.CreateOrUpdateConsumerAsync(stream, ConsumerConfig(), stop);
        Logger.LogInformation("{Component}: consuming topic {Topic} from stream {Stream} as consumer {Consumer}",
            Component, Topic, stream, consumer.Info.Name);
        MarkConsuming();
        _retryDelay = FirstRetryDelay;
        await foreach (var msg in consumer.ConsumeAsync<byte[]>(opts: ConsumeOpts(), cancellationToken: stop))
        {
            var message = new BrokerMessage(Topic, msg.Data ?? [], CloudEvents.ContentType,
                new Dictionary<string, string> { ["Topic"] = msg.Subject });
            await DeliverAsync(msg, message, metadata.Parallel);
        }
    }

    protected override void OnConsumeFailed(Exception failure)
    {
        Logger.LogWarning("{Component}: cannot consume topic {Topic} from NATS at {Url}: {Error}; retrying in {Delay} s",
            Component, Topic, metadata.NatsUrl, failure.Message, _retryDelay.TotalSeconds);
        pubsub.Streams.Forget(Topic);
    }

    /// <summary>A consumer that ended is created again at once; one that failed after a back-off that doubles up to 5 s.</summary>
    protected override TimeSpan RetryDelay(bool failed)
    {
        if (!failed) return TimeSpan.Zero;
        var delay = _retryDelay;
        _retryDelay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxRetryDelay.Ticks));
        return delay;
    }

    /// <summary>
    /// How many messages the client pulls ahead. Pulled messages wait in the client while their ackWait runs, so a
    /// large batch handled one at a time would be redelivered to another instance before its turn (contrib's push
    /// consumer is bounded by maxAckPending instead). Short pull expiry (and so heartbeats) notices a restarted
    /// server, which forgot the pending pull, within seconds rather than the default 30 s.
    /// </summary>
    private NatsJSConsumeOpts ConsumeOpts() => new() { MaxMsgs = metadata.Parallel ? 100 : 10, Expires = TimeSpan.FromSeconds(5) };

    private ConsumerConfig ConsumerConfig()
    {
        var durable = metadata.QueueGroupName is { } group ? metadata.DurableName ?? group : metadata.DurableName;
        var config = new ConsumerConfig
        {
            // One durable per topic: contrib uses durableName as is, which clashes when one stream carries several topics.
            DurableName = durable is null ? null : $"{durable}-{JetStreamStreams.StreamNameFor(Topic)}",
            FilterSubject = Topic,
            DeliverPolicy = metadata.DeliverPolicy,
            AckPolicy = metadata.AckPolicy,
            MemStorage = metadata.MemoryStorage,
        };
        if (durable is null) config.InactiveThreshold = TimeSpan.FromMinutes(1);
        if (metadata.StartSequence > 0) config.OptStartSeq = metadata.StartSequence;
        if (metadata.StartTime is { } startTime) config.OptStartTime = startTime;
        if (metadata.AckWait is { } ackWait) config.AckWait = ackWait;
        if (metadata.MaxDeliver != 0) config.MaxDeliver = metadata.MaxDeliver;
        if (metadata.BackOff.Count > 0) config.Backoff = [.. metadata.BackOff];
        if (metadata.MaxAckPending != 0) config.MaxAckPending = metadata.MaxAckPending;
        if (metadata.Replicas != 0) config.NumReplicas = metadata.Replicas;
        return config;
    }

    protected override ValueTask AckAsync(INatsJSMsg<byte[]> msg) => msg.AckAsync();

    protected override ValueTask NakAsync(INatsJSMsg<byte[]> msg) => msg.NakAsync(metadata.AckWait is { } wait ? new AckOpts { NakDelay = wait } : null);

    protected override string Describe(INatsJSMsg<byte[]> msg) => $"message {msg.Metadata?.Sequence.Stream} on {Topic}";
}
