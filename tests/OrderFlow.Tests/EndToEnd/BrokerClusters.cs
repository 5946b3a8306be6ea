using DevSidecar.Tests.Brokers;

namespace OrderFlow.Tests.EndToEnd;

/// <summary>
/// The order flow on a real broker: the cluster starts the broker on a free port and loads a copy of the repository's
/// component folder for it (components/redis, …) pointed at that port, so the files users run are the files tested.
/// </summary>
public abstract class RedisCluster : OrderFlowCluster
{
    private RedisServerProcess? _redis;

    protected override async Task<string> BrokerComponentsAsync(string workDir)
    {
        _redis = await RedisServerProcess.StartAsync();
        return CopyComponents("redis", workDir, new Dictionary<string, string> { ["localhost:6379"] = _redis.HostPort });
    }

    protected override async ValueTask StopBrokerAsync()
    {
        if (_redis is not null) await _redis.DisposeAsync();
    }
}

public sealed class RedisChoreographyCluster : RedisCluster
{
    public override string Style => "choreography";
}

public sealed class RedisOrchestrationCluster : RedisCluster
{
    public override string Style => "orchestration";
}

/// <summary>A broker fixture of the sidecar's broker tests (nats-server, rabbitmq-server), with the state store in a SQLite file.</summary>
public abstract class ServerBrokerCluster<TServer>(string folder, Func<TServer, string> address, string defaultAddress) : OrderFlowCluster
    where TServer : BrokerServer, new()
{
    private readonly TServer _server = new();

    protected override async Task<string> BrokerComponentsAsync(string workDir)
    {
        await _server.StartAsync();
        return CopyComponents(folder, workDir, new Dictionary<string, string>
        {
            [defaultAddress] = address(_server),
            ["./.dapr/state.db"] = Path.Combine(workDir, "state.db"),
        });
    }

    protected override async ValueTask StopBrokerAsync() => await _server.DisposeAsync();
}

public sealed class JetStreamChoreographyCluster() : ServerBrokerCluster<NatsServerProcess>("jetstream", s => s.Url, "nats://localhost:4222")
{
    public override string Style => "choreography";
}

public sealed class JetStreamOrchestrationCluster() : ServerBrokerCluster<NatsServerProcess>("jetstream", s => s.Url, "nats://localhost:4222")
{
    public override string Style => "orchestration";
}

public sealed class RabbitMqChoreographyCluster() : ServerBrokerCluster<RabbitMqServerProcess>("rabbitmq", s => s.ConnectionString, "amqp://localhost:5672")
{
    public override string Style => "choreography";
}

public sealed class RabbitMqOrchestrationCluster() : ServerBrokerCluster<RabbitMqServerProcess>("rabbitmq", s => s.ConnectionString, "amqp://localhost:5672")
{
    public override string Style => "orchestration";
}
