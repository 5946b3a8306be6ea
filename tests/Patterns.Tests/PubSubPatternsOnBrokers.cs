using Patterns.Tests.Harness;

namespace Patterns.Tests;

/// <summary>
/// The patterns that ride on pub/sub — queue groups, reply-to, RPC + event — on each real broker folder, with the
/// same assertions as on the in-memory default. Each test gets a fresh broker: durable queues would otherwise carry
/// one test's events into the next.
/// </summary>
public abstract class PubSubPatternsOnBrokers(string broker)
{
    [BrokerFact]
    public Task Each_event_is_handled_by_exactly_one_of_two_instances() => OnBrokerAsync(QueueGroupTests.EachEventIsHandledByOneInstanceAsync);

    [BrokerFact]
    public Task Concurrent_requests_each_get_their_own_reply() => OnBrokerAsync(ReplyToTests.RepliesMatchTheirRequestsAsync);

    [BrokerFact]
    public Task Results_arrive_as_events_any_instance_may_consume() => OnBrokerAsync(RpcEventTests.ResultsArriveAsEventsAsync);

    private async Task OnBrokerAsync(Func<Cluster, Task> scenario)
    {
        using var workDir = new TempFolder($"patterns-{broker}-");
        await using var components = await BrokerComponents.StartAsync(broker, workDir.Path);
        await using var cluster = new Cluster(components.Folder);
        await scenario(cluster);
    }
}

[RequiresBroker("redis-server")]
public sealed class RedisPubSubPatternsTests() : PubSubPatternsOnBrokers("redis");

[RequiresBroker("nats-server")]
public sealed class JetStreamPubSubPatternsTests() : PubSubPatternsOnBrokers("jetstream");

[RequiresBroker("rabbitmq-server")]
public sealed class RabbitMqPubSubPatternsTests() : PubSubPatternsOnBrokers("rabbitmq");
