using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace DevSidecar.PubSub;

/// <summary>
/// The consume loop a broker subscription shares (JetStream, RabbitMQ): it runs the broker's consuming session in the
/// background, starts it over when it ends or fails (the broker says how soon), signals once the first consumer runs,
/// hands each taken message to the handler to the end and settles it (ack when the handler returns, nak when it
/// throws, nothing when the broker settles by itself), tracks the handlers in flight, and on disposal stops taking
/// messages and waits for them. A subclass keeps only what is its broker's: the session, the retry policy, its acks.
/// Redis Streams (<see cref="Redis.RedisStreamConsumer"/>) is consumed otherwise, as contrib's is: a reader feeds a
/// bounded queue drained by a fixed number of workers, a failed message is acknowledged too, and handlers still
/// running when the component goes are cancelled and leave their messages pending.
/// </summary>
/// <typeparam name="TDelivery">What the broker needs to settle one message (the message itself, a delivery tag).</typeparam>
internal abstract class BrokerSubscription<TDelivery> : IAsyncDisposable
{
    private readonly MessageHandler _handler;
    private readonly Settlement _settlement;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<Task, byte> _inFlight = new();
    private readonly TaskCompletionSource _consuming = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _loop = Task.CompletedTask;

    /// <summary>How the broker settles messages, and how the logs name that.</summary>
    /// <param name="Enabled">false: the broker settles by itself (no ack policy, auto-ack), nothing is sent.</param>
    /// <param name="Ack">The ack's name in logs.</param>
    /// <param name="Nak">The negative ack's name in logs.</param>
    /// <param name="OnFailure">What becomes of a message whose handler failed, for the log line.</param>
    /// <param name="Source">Where the messages come from, for the log lines ("sending ack on {Source} failed").</param>
    protected sealed record Settlement(bool Enabled, string Ack, string Nak, string OnFailure, string Source);

    protected BrokerSubscription(string component, string topic, MessageHandler handler, ILogger logger, Settlement settlement)
    {
        Component = component;
        Topic = topic;
        _handler = handler;
        Logger = logger;
        _settlement = settlement;
    }

    protected string Component { get; }
    protected string Topic { get; }
    protected ILogger Logger { get; }

    /// <summary>
    /// Starts consuming in the background and waits, as <see cref="SubscriptionStartup"/> says, for the first
    /// consumer to run; the subscription is returned either way.
    /// </summary>
    public async Task<IAsyncDisposable> StartAsync(CancellationToken cancellationToken)
    {
        _loop = Task.Run(RunAsync);
        await SubscriptionStartup.WaitAsync(_consuming.Task, Component, Topic, Logger, cancellationToken);
        return this;
    }

    /// <summary>
    /// One session: connect, set up, call <see cref="MarkConsuming"/> once messages flow and hand them to
    /// <see cref="DeliverAsync"/>; return when the session ends, throw when it fails. Cancelled on disposal.
    /// </summary>
    protected abstract Task ConsumeAsync(CancellationToken stop);

    /// <summary>A session failed (other than by disposal); called before the loop checks for disposal.</summary>
    protected abstract void OnConsumeFailed(Exception failure);

    /// <summary>How long to wait before the next session, once the last one ended (<paramref name="failed"/> or not);
    /// zero starts it at once. Not called when disposal ended it.</summary>
    protected abstract TimeSpan RetryDelay(bool failed);

    protected abstract ValueTask AckAsync(TDelivery delivery);

    protected abstract ValueTask NakAsync(TDelivery delivery);

    /// <summary>The message, for the log line of a failed handler ("handling {Message} failed").</summary>
    protected abstract string Describe(TDelivery delivery);

    /// <summary>Completes <see cref="StartAsync"/>'s wait: a publish from now on reaches this subscriber.</summary>
    protected void MarkConsuming() => _consuming.TrySetResult();

    /// <summary>Completes <see cref="StartAsync"/>'s wait although nothing consumes: the broker refused the
    /// subscription, and daprd goes on starting while it retries.</summary>
    protected void EndStartupWait() => _consuming.TrySetResult();

    private async Task RunAsync()
    {
        var stop = _stop.Token;
        while (!stop.IsCancellationRequested)
        {
            var failed = false;
            try
            {
                await ConsumeAsync(stop);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                OnConsumeFailed(e);
                failed = true;
            }
            if (stop.IsCancellationRequested) break;
            var delay = RetryDelay(failed);
            if (delay <= TimeSpan.Zero) continue;
            try { await Task.Delay(delay, stop); } catch (OperationCanceledException) { break; }
        }
    }

    /// <summary>
    /// Hands a taken message to the handler on the thread pool, tracked so that <see cref="DrainAsync"/> and disposal
    /// wait for it. <paramref name="parallel"/>: returns at once, so the broker can hand over the next message;
    /// otherwise the result completes once this one is handled and settled.
    /// </summary>
    protected Task DeliverAsync(TDelivery delivery, BrokerMessage message, bool parallel)
    {
        var handling = Task.Run(() => HandleAsync(delivery, message));
        _inFlight[handling] = 0;
        _ = handling.ContinueWith(t => _inFlight.TryRemove(t, out _), TaskScheduler.Default);
        return parallel ? Task.CompletedTask : handling;
    }

    private async Task HandleAsync(TDelivery delivery, BrokerMessage message)
    {
        try
        {
            // Once taken, a message is handled to the end; disposal waits for it.
            await _handler(message, CancellationToken.None);
        }
        catch (Exception e)
        {
            Logger.LogError("{Component}: handling {Message} failed: {Error}; {Outcome}", Component, Describe(delivery), e.Message, _settlement.OnFailure);
            await SettleAsync(delivery, handled: false);
            return;
        }
        await SettleAsync(delivery, handled: true);
    }

    private async Task SettleAsync(TDelivery delivery, bool handled)
    {
        if (!_settlement.Enabled) return;
        try
        {
            await (handled ? AckAsync(delivery) : NakAsync(delivery));
        }
        catch (Exception e)
        {
            // Nothing is lost: JetStream redelivers after ackWait anyway; for RabbitMQ the channel is gone, and the
            // broker requeues the unacked message for the next consumer.
            Logger.LogWarning("{Component}: sending {What} on {Source} failed: {Error}",
                Component, handled ? _settlement.Ack : _settlement.Nak, _settlement.Source, e.Message);
        }
    }

    /// <summary>Waits for the handlers in flight (so that their acks can still go out on the session's channel).</summary>
    protected Task DrainAsync() => Task.WhenAll(_inFlight.Keys);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        await DrainAsync();
        _stop.Dispose();
    }
}
