using System.Collections.Concurrent;
using System.Threading.Channels;
using DevSidecar.Resources;
using Microsoft.Extensions.Logging;

namespace DevSidecar.PubSub;

/// <summary>
/// pubsub.in-memory. Unlike daprd, whose in-memory bus lives inside one sidecar, this bus is shared by every
/// sidecar of one dev-sidecar process that loads a component of the same name, so apps started together by
/// <c>run -f</c> can talk over it. Like daprd's it is at-most-once: nothing is persisted, a message published
/// while no one subscribes is gone, and a failed handler is not redelivered by the broker.
/// Each subscriber instance handles its messages one at a time, as daprd's does.
/// </summary>
public sealed class InMemoryPubSub(ComponentSpec spec, InMemoryBus bus, ILogger logger) : IPubSub
{
    public ComponentSpec Spec => spec;
    public IReadOnlyList<string> Features => [];

    public Task PublishAsync(BrokerMessage message, CancellationToken cancellationToken)
    {
        bus.Publish(message);
        return Task.CompletedTask;
    }

    public Task<IAsyncDisposable> SubscribeAsync(string topic, string consumerGroup, IReadOnlyDictionary<string, string> metadata,
        MessageHandler handler, CancellationToken cancellationToken)
    {
        var group = bus.Join(topic, consumerGroup);
        var consumer = new Consumer(group, handler, logger, spec.Name);
        return Task.FromResult<IAsyncDisposable>(consumer);
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private sealed class Consumer : IAsyncDisposable
    {
        private readonly InMemoryBus.Group _group;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _loop;

        public Consumer(InMemoryBus.Group group, MessageHandler handler, ILogger logger, string component)
        {
            _group = group;
            _loop = Task.Run(async () =>
            {
                var reader = group.Queue.Reader;
                try
                {
                    while (await reader.WaitToReadAsync(_stop.Token))
                    {
                        if (_stop.IsCancellationRequested || !reader.TryRead(out var message)) continue;
                        try
                        {
                            // Once taken, a message is handled to the end; shutdown waits for it.
                            await handler(message, CancellationToken.None);
                        }
                        catch (Exception e)
                        {
                            logger.LogError("{Component}: handling a message on topic {Topic} failed; in-memory pub/sub does not redeliver: {Error}",
                                component, message.Topic, e.Message);
                        }
                    }
                }
                catch (OperationCanceledException) when (_stop.IsCancellationRequested) { }
            });
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _loop;
            _group.Leave();
        }
    }
}

/// <summary>The process-wide bus behind one pubsub.in-memory component name: topic → consumer group → queue.</summary>
public sealed class InMemoryBus
{
    private static readonly ConcurrentDictionary<string, InMemoryBus> Buses = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Dictionary<string, Group>> _topics = new(StringComparer.Ordinal);

    public static InMemoryBus Named(string componentName) => Buses.GetOrAdd(componentName, _ => new InMemoryBus());

    public void Publish(BrokerMessage message)
    {
        Group[] groups;
        lock (_lock)
        {
            groups = _topics.TryGetValue(message.Topic, out var byName) ? [.. byName.Values] : [];
        }
        foreach (var group in groups) group.Queue.Writer.TryWrite(message);
    }

    public Group Join(string topic, string consumerGroup)
    {
        lock (_lock)
        {
            if (!_topics.TryGetValue(topic, out var groups)) _topics[topic] = groups = new(StringComparer.Ordinal);
            if (!groups.TryGetValue(consumerGroup, out var group)) groups[consumerGroup] = group = new Group(this, topic, consumerGroup);
            group.Members++;
            return group;
        }
    }

    public sealed class Group(InMemoryBus bus, string topic, string name)
    {
        public Channel<BrokerMessage> Queue { get; } = Channel.CreateUnbounded<BrokerMessage>();
        internal int Members;

        /// <summary>When the last member leaves, its undelivered messages go with it (at-most-once).</summary>
        public void Leave()
        {
            lock (bus._lock)
            {
                if (--Members > 0) return;
                var groups = bus._topics[topic];
                groups.Remove(name);
                if (groups.Count == 0) bus._topics.Remove(topic);
            }
        }
    }
}
