using Microsoft.Extensions.Logging;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace DevSidecar.PubSub.RabbitMQ;

/// <summary>
/// One topic consumed from its queue on a channel of its own. The loop declares the topology (exchange, dead-letter
/// exchange and queue, queue, bindings), consumes until the channel closes, then starts over after reconnectWait.
/// Disposal cancels the consumer, waits for the handlers in flight (so their acks go out) and closes the channel;
/// the broker requeues whatever was prefetched but not acked.
/// </summary>
internal sealed class RabbitMQSubscription(RabbitMQPubSub pubsub, RabbitMQConnection connection, RabbitMQMetadata metadata, string topic, string queue,
    IReadOnlyList<string> routingKeys, MessageHandler handler, ILogger logger)
    : BrokerSubscription<(IChannel Channel, ulong Tag)>(pubsub.Spec.Name, topic, handler, logger, new(
        Enabled: !metadata.AutoAck, Ack: "ack", Nak: "nack", Source: $"queue {queue}",
        OnFailure: metadata.AutoAck ? "it was auto-acked" : metadata.RequeueInFailure ? "requeued" : "nacked without requeue (dropped or dead-lettered)"))
{
    protected override async Task ConsumeAsync(CancellationToken stop)
    {
        var open = await connection.OpenAsync(stop);
        await using var channel = await open.CreateChannelAsync(cancellationToken: stop);
        var closed = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        channel.ChannelShutdownAsync += (_, reason) =>
        {
            closed.TrySetResult($"{reason.ReplyCode} {reason.ReplyText}");
            return Task.CompletedTask;
        };

        await DeclareTopologyAsync(channel, stop);
        if (metadata.PrefetchCount > 0) await channel.BasicQosAsync(0, metadata.PrefetchCount, global: false, stop);
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += (_, delivery) => OnReceivedAsync(channel, delivery);
        var consumerTag = await channel.BasicConsumeAsync(queue, metadata.AutoAck, consumer, stop);
        Logger.LogInformation("{Component}: consuming queue {Queue} bound to exchange {Topic}", Component, queue, Topic);
        MarkConsuming();

        var stopped = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using (stop.Register(() => stopped.TrySetResult()))
        {
            if (await Task.WhenAny(closed.Task, stopped.Task) == closed.Task)
            {
                Logger.LogWarning("{Component}: the channel of queue {Queue} closed: {Reason}", Component, queue, await closed.Task);
                return;
            }
        }

        // Stopping: take no new messages, let the handlers in flight settle their messages, then close.
        try { await channel.BasicCancelAsync(consumerTag, cancellationToken: CancellationToken.None); } catch { /* the channel may be gone */ }
        await DrainAsync();
        try { await channel.CloseAsync(CancellationToken.None); } catch { /* the broker may be gone */ }
    }

    protected override void OnConsumeFailed(Exception failure) =>
        Logger.LogWarning("{Component}: cannot consume queue {Queue} (topic {Topic}) from RabbitMQ at {Endpoint}: {Error}",
            Component, queue, Topic, connection.Endpoint, failure.Message);

    /// <summary>Whether the channel closed or could not be opened, the subscriber reconnects after reconnectWait, as contrib's.</summary>
    protected override TimeSpan RetryDelay(bool failed)
    {
        Logger.LogInformation("{Component}: subscriber for {Queue} reconnecting in {Wait} s", Component, queue, metadata.ReconnectWait.TotalSeconds);
        return metadata.ReconnectWait;
    }

    private async Task DeclareTopologyAsync(IChannel channel, CancellationToken token)
    {
        await pubsub.DeclareExchangeAsync(channel, Topic, metadata.ExchangeKind, token);
        var arguments = new Dictionary<string, object?>();
        if (metadata.EnableDeadLetter)
        {
            // contrib's names and settings: a fanout dlx-<queue> exchange and a durable, lazy dlq-<queue> queue.
            var exchange = $"dlx-{queue}";
            var deadLetterQueue = $"dlq-{queue}";
            await pubsub.DeclareExchangeAsync(channel, exchange, "fanout", token);
            var deadLetterArguments = LengthLimits(new Dictionary<string, object?> { ["x-queue-mode"] = "lazy" });
            await channel.QueueDeclareAsync(deadLetterQueue, durable: true, exclusive: false, autoDelete: metadata.DeletedWhenUnused, deadLetterArguments, cancellationToken: token);
            await channel.QueueBindAsync(deadLetterQueue, exchange, "", cancellationToken: token);
            arguments["x-dead-letter-exchange"] = exchange;
        }
        await channel.QueueDeclareAsync(queue, metadata.Durable, exclusive: false, autoDelete: metadata.DeletedWhenUnused, LengthLimits(arguments), cancellationToken: token);
        foreach (var routingKey in routingKeys) await channel.QueueBindAsync(queue, Topic, routingKey, cancellationToken: token);
    }

    private Dictionary<string, object?> LengthLimits(Dictionary<string, object?> arguments)
    {
        if (metadata.MaxLen > 0) arguments["x-max-length"] = metadata.MaxLen;
        if (metadata.MaxLenBytes > 0) arguments["x-max-length-bytes"] = metadata.MaxLenBytes;
        return arguments;
    }

    private Task OnReceivedAsync(IChannel channel, BasicDeliverEventArgs delivery)
    {
        // The body buffer belongs to the client only until this callback returns.
        var message = new BrokerMessage(Topic, delivery.Body.ToArray(), CloudEvents.ContentType, new Dictionary<string, string>());
        // single: the client dispatches the next delivery once this one is handled; parallel: at once.
        return DeliverAsync((channel, delivery.DeliveryTag), message, metadata.Parallel);
    }

    protected override ValueTask AckAsync((IChannel Channel, ulong Tag) delivery) =>
        delivery.Channel.BasicAckAsync(delivery.Tag, multiple: false);

    protected override ValueTask NakAsync((IChannel Channel, ulong Tag) delivery) =>
        delivery.Channel.BasicNackAsync(delivery.Tag, multiple: false, requeue: metadata.RequeueInFailure);

    protected override string Describe((IChannel Channel, ulong Tag) delivery) => $"a message from queue {queue}";
}
