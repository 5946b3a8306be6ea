using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

namespace DevSidecar.PubSub.JetStream;

/// <summary>
/// One topic consumed through a JetStream consumer filtered on the topic. With queueGroupName the consumer is the
/// durable one named after durableName (or the group) and the topic, shared by every instance, so they compete;
/// with only durableName it is durable too; with neither it is ephemeral, so each instance gets every message.
/// Runs in the background: connecting, finding the stream and creating the consumer are retried until they work.
/// </summary>
internal sealed class JetStreamSubscription : IAsyncDisposable
{
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(5);

    private readonly JetStreamPubSub _pubsub;
    private readonly JetStreamMetadata _metadata;
    private readonly string _topic;
    private readonly MessageHandler _handler;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<Task, byte> _inFlight = new();
    private readonly Task _loop;
    private readonly TaskCompletionSource _consuming = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public JetStreamSubscription(JetStreamPubSub pubsub, JetStreamMetadata metadata, string topic, MessageHandler handler, ILogger logger)
    {
        _pubsub = pubsub;
        _metadata = metadata;
        _topic = topic;
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
        var delay = TimeSpan.FromMilliseconds(500);
        while (!token.IsCancellationRequested)
        {
            try
            {
                var js = await _pubsub.ContextAsync(token);
                var stream = await _pubsub.Streams.StreamForAsync(js, _topic, token);
                var consumer = await js.CreateOrUpdateConsumerAsync(stream, ConsumerConfig(), token);
                _logger.LogInformation("{Component}: consuming topic {Topic} from stream {Stream} as consumer {Consumer}",
                    Component, _topic, stream, consumer.Info.Name);
                _consuming.TrySetResult();
                delay = TimeSpan.FromMilliseconds(500);
                await foreach (var msg in consumer.ConsumeAsync<byte[]>(opts: ConsumeOpts(), cancellationToken: token))
                {
                    if (_metadata.Parallel) Track(HandleAsync(msg));
                    else await HandleAsync(msg);
                }
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                _logger.LogWarning("{Component}: cannot consume topic {Topic} from NATS at {Url}: {Error}; retrying in {Delay} s",
                    Component, _topic, _metadata.NatsUrl, e.Message, delay.TotalSeconds);
                _pubsub.Streams.Forget(_topic);
                try { await Task.Delay(delay, token); } catch (OperationCanceledException) { break; }
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxRetryDelay.Ticks));
            }
        }
    }

    /// <summary>
    /// How many messages the client pulls ahead. Pulled messages wait in the client while their ackWait runs, so a
    /// large batch handled one at a time would be redelivered to another instance before its turn (contrib's push
    /// consumer is bounded by maxAckPending instead). Short pull expiry (and so heartbeats) notices a restarted
    /// server, which forgot the pending pull, within seconds rather than the default 30 s.
    /// </summary>
    private NatsJSConsumeOpts ConsumeOpts() => new() { MaxMsgs = _metadata.Parallel ? 100 : 10, Expires = TimeSpan.FromSeconds(5) };

    private ConsumerConfig ConsumerConfig()
    {
        var durable = _metadata.QueueGroupName is { } group ? _metadata.DurableName ?? group : _metadata.DurableName;
        var config = new ConsumerConfig
        {
            // One durable per topic: contrib uses durableName as is, which clashes when one stream carries several topics.
            DurableName = durable is null ? null : $"{durable}-{JetStreamStreams.StreamNameFor(_topic)}",
            FilterSubject = _topic,
            DeliverPolicy = _metadata.DeliverPolicy,
            AckPolicy = _metadata.AckPolicy,
            MemStorage = _metadata.MemoryStorage,
        };
        if (durable is null) config.InactiveThreshold = TimeSpan.FromMinutes(1);
        if (_metadata.StartSequence > 0) config.OptStartSeq = _metadata.StartSequence;
        if (_metadata.StartTime is { } startTime) config.OptStartTime = startTime;
        if (_metadata.AckWait is { } ackWait) config.AckWait = ackWait;
        if (_metadata.MaxDeliver != 0) config.MaxDeliver = _metadata.MaxDeliver;
        if (_metadata.BackOff.Count > 0) config.Backoff = [.. _metadata.BackOff];
        if (_metadata.MaxAckPending != 0) config.MaxAckPending = _metadata.MaxAckPending;
        if (_metadata.Replicas != 0) config.NumReplicas = _metadata.Replicas;
        return config;
    }

    private async Task HandleAsync(INatsJSMsg<byte[]> msg)
    {
        var message = new BrokerMessage(_topic, msg.Data ?? [], CloudEvents.ContentType,
            new Dictionary<string, string> { ["Topic"] = msg.Subject });
        var acks = _metadata.AckPolicy != ConsumerConfigAckPolicy.None;
        try
        {
            // Once taken, a message is handled to the end; disposal waits for it.
            await _handler(message, CancellationToken.None);
        }
        catch (Exception e)
        {
            _logger.LogError("{Component}: handling message {Sequence} on {Topic} failed: {Error}; NAK so the server redelivers it",
                Component, msg.Metadata?.Sequence.Stream, _topic, e.Message);
            if (acks) await Settle(() => msg.NakAsync(_metadata.AckWait is { } wait ? new AckOpts { NakDelay = wait } : null), "NAK");
            return;
        }
        if (acks) await Settle(() => msg.AckAsync(), "ACK");
    }

    private async Task Settle(Func<ValueTask> send, string what)
    {
        try
        {
            await send();
        }
        catch (Exception e)
        {
            // The server redelivers after ackWait anyway.
            _logger.LogWarning("{Component}: sending {What} on {Topic} failed: {Error}", Component, what, _topic, e.Message);
        }
    }

    private void Track(Task handling)
    {
        _inFlight[handling] = 0;
        handling.ContinueWith(t => _inFlight.TryRemove(t, out _), TaskScheduler.Default);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        await Task.WhenAll(_inFlight.Keys);
        _stop.Dispose();
    }
}
