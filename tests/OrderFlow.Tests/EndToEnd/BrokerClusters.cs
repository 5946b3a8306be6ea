using DevSidecar.Tests.Brokers;

namespace OrderFlow.Tests.EndToEnd;

/// <summary>The order flow on a real broker, started for the cluster, with the repository's folder for it.</summary>
public abstract class BrokerCluster(string broker) : OrderFlowCluster
{
    private BrokerComponents? _components;

    protected override async Task<string> BrokerComponentsAsync(string workDir)
    {
        _components = await BrokerComponents.StartAsync(broker, workDir);
        return _components.Folder;
    }

    protected override async ValueTask StopBrokerAsync()
    {
        if (_components is not null) await _components.DisposeAsync();
    }
}

public sealed class RedisChoreographyCluster() : BrokerCluster("redis") { public override string Style => "choreography"; }
public sealed class RedisOrchestrationCluster() : BrokerCluster("redis") { public override string Style => "orchestration"; }
public sealed class JetStreamChoreographyCluster() : BrokerCluster("jetstream") { public override string Style => "choreography"; }
public sealed class JetStreamOrchestrationCluster() : BrokerCluster("jetstream") { public override string Style => "orchestration"; }
public sealed class RabbitMqChoreographyCluster() : BrokerCluster("rabbitmq") { public override string Style => "choreography"; }
public sealed class RabbitMqOrchestrationCluster() : BrokerCluster("rabbitmq") { public override string Style => "orchestration"; }
