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
