using System.Collections.Concurrent;
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
internal sealed class RabbitMQSubscription : IAsyncDisposable
{
    private readonly RabbitMQPubSub _pubsub;
    private readonly RabbitMQConnection _connection;
    private readonly RabbitMQMetadata _metadata;
    private readonly string _topic;
    private readonly string _queue;
    private readonly IReadOnlyList<string> _routingKeys;
    private readonly MessageHandler _handler;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<Task, byte> _inFlight = new();
    private readonly Task _loop;
    private readonly TaskCompletionSource _consuming = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public RabbitMQSubscription(RabbitMQPubSub pubsub, RabbitMQConnection connection, RabbitMQMetadata metadata, string topic, string queue,
        IReadOnlyList<string> routingKeys, MessageHandler handler, ILogger logger)
    {
        _pubsub = pubsub;
        _connection = connection;
        _metadata = metadata;
        _topic = topic;
        _queue = queue;
        _routingKeys = routingKeys;
        _handler = handler;
        _logger = logger;
        _loop = Task.Run(RunAsync);
    }

    /// <summary>Completes once the first consumer runs (so a publish from now on reaches this subscriber).</summary>
    public Task Consuming => _consuming.Task;

    private string Component => _pubsub.Spec.Name;

    private async Task RunAsync()
    {
        var token = _stop.Token;
        while (!token.IsCancellationRequested)
        {
            try
            {
                await ConsumeUntilClosedAsync(token);
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                _logger.LogWarning("{Component}: cannot consume queue {Queue} (topic {Topic}) from RabbitMQ at {Endpoint}: {Error}",
                    Component, _queue, _topic, _connection.Endpoint, e.Message);
            }
            if (token.IsCancellationRequested) break;
            _logger.LogInformation("{Component}: subscriber for {Queue} reconnecting in {Wait} s", Component, _queue, _metadata.ReconnectWait.TotalSeconds);
            try { await Task.Delay(_metadata.ReconnectWait, token); } catch (OperationCanceledException) { break; }
        }
    }

    private async Task ConsumeUntilClosedAsync(CancellationToken token)
    {
        var connection = await _connection.OpenAsync(token);
        await using var channel = await connection.CreateChannelAsync(cancellationToken: token);
        var closed = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        channel.ChannelShutdownAsync += (_, reason) =>
        {
            closed.TrySetResult($"{reason.ReplyCode} {reason.ReplyText}");
            return Task.CompletedTask;
        };

        await DeclareTopologyAsync(channel, token);
        if (_metadata.PrefetchCount > 0) await channel.BasicQosAsync(0, _metadata.PrefetchCount, global: false, token);
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += (_, delivery) => OnReceivedAsync(channel, delivery);
        var consumerTag = await channel.BasicConsumeAsync(_queue, _metadata.AutoAck, consumer, token);
        _logger.LogInformation("{Component}: consuming queue {Queue} bound to exchange {Topic}", Component, _queue, _topic);
        _consuming.TrySetResult();

        var stopped = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using (token.Register(() => stopped.TrySetResult()))
        {
            if (await Task.WhenAny(closed.Task, stopped.Task) == closed.Task)
            {
                _logger.LogWarning("{Component}: the channel of queue {Queue} closed: {Reason}", Component, _queue, await closed.Task);
                return;
            }
        }

        // Stopping: take no new messages, let the handlers in flight settle their messages, then close.
        try { await channel.BasicCancelAsync(consumerTag, cancellationToken: CancellationToken.None); } catch { /* the channel may be gone */ }
        await Task.WhenAll(_inFlight.Keys);
        try { await channel.CloseAsync(CancellationToken.None); } catch { /* the broker may be gone */ }
    }

    private async Task DeclareTopologyAsync(IChannel channel, CancellationToken token)
    {
        await _pubsub.DeclareExchangeAsync(channel, _topic, _metadata.ExchangeKind, token);
        var arguments = new Dictionary<string, object?>();
        if (_metadata.EnableDeadLetter)
        {
            // contrib's names and settings: a fanout dlx-<queue> exchange and a durable, lazy dlq-<queue> queue.
            var exchange = $"dlx-{_queue}";
            var queue = $"dlq-{_queue}";
            await _pubsub.DeclareExchangeAsync(channel, exchange, "fanout", token);
            var deadLetterArguments = LengthLimits(new Dictionary<string, object?> { ["x-queue-mode"] = "lazy" });
            await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: _metadata.DeletedWhenUnused, deadLetterArguments, cancellationToken: token);
            await channel.QueueBindAsync(queue, exchange, "", cancellationToken: token);
            arguments["x-dead-letter-exchange"] = exchange;
        }
        await channel.QueueDeclareAsync(_queue, _metadata.Durable, exclusive: false, autoDelete: _metadata.DeletedWhenUnused, LengthLimits(arguments), cancellationToken: token);
        foreach (var routingKey in _routingKeys) await channel.QueueBindAsync(_queue, _topic, routingKey, cancellationToken: token);
    }

    private Dictionary<string, object?> LengthLimits(Dictionary<string, object?> arguments)
    {
        if (_metadata.MaxLen > 0) arguments["x-max-length"] = _metadata.MaxLen;
        if (_metadata.MaxLenBytes > 0) arguments["x-max-length-bytes"] = _metadata.MaxLenBytes;
        return arguments;
    }

    private Task OnReceivedAsync(IChannel channel, BasicDeliverEventArgs delivery)
    {
        // The body buffer belongs to the client only until this callback returns.
        var message = new BrokerMessage(_topic, delivery.Body.ToArray(), CloudEvents.ContentType, new Dictionary<string, string>());
        var handling = HandleAsync(channel, delivery.DeliveryTag, message);
        _inFlight[handling] = 0;
        _ = handling.ContinueWith(t => _inFlight.TryRemove(t, out _), TaskScheduler.Default);
        // single: the client dispatches the next delivery once this one is handled; parallel: at once.
        return _metadata.Parallel ? Task.CompletedTask : handling;
    }

    private async Task HandleAsync(IChannel channel, ulong deliveryTag, BrokerMessage message)
    {
        await Task.Yield();
        try
        {
            // Once taken, a message is handled to the end; disposal waits for it.
            await _handler(message, CancellationToken.None);
        }
        catch (Exception e)
        {
            _logger.LogError("{Component}: handling a message from queue {Queue} failed: {Error}; {Outcome}",
                Component, _queue, e.Message, _metadata.AutoAck ? "it was auto-acked" : _metadata.RequeueInFailure ? "requeued" : "nacked without requeue (dropped or dead-lettered)");
            if (!_metadata.AutoAck) await Settle(() => channel.BasicNackAsync(deliveryTag, multiple: false, requeue: _metadata.RequeueInFailure), "nack");
            return;
        }
        if (!_metadata.AutoAck) await Settle(() => channel.BasicAckAsync(deliveryTag, multiple: false), "ack");
    }

    private async Task Settle(Func<ValueTask> send, string what)
    {
        try
        {
            await send();
        }
        catch (Exception e)
        {
            // The channel is gone; the broker requeues the unacked message for the next consumer.
            _logger.LogWarning("{Component}: sending {What} on queue {Queue} failed: {Error}", Component, what, _queue, e.Message);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        await Task.WhenAll(_inFlight.Keys);
        _stop.Dispose();
    }
}
