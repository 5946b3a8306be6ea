using Dapr.Client;
using DevSidecar.Hosting;
using DevSidecar.Tests.Conformance.Harness;

namespace DevSidecar.Tests.Brokers;

/// <summary>Class fixture: one sidecar (no app) whose store <c>statestore</c> is of the kind a subclass gives.</summary>
public abstract class StateStoreRun : IAsyncLifetime
{
    private Cluster? _cluster;

    public Sidecar Sidecar { get; private set; } = null!;
    public HttpClient Http { get; private set; } = null!;
    public DaprClient Dapr { get; private set; } = null!;

    /// <summary>The component YAML of <c>statestore</c>; starts whatever the store needs first.</summary>
    protected abstract Task<string> StartStoreAsync();

    /// <summary>Set when the store's broker is not installed: its tests are skipped, so nothing is started.</summary>
    protected virtual string? SkipReason => null;

    public async Task InitializeAsync()
    {
        if (SkipReason is not null) return;
        _cluster = Harness.ClusterWith(await StartStoreAsync());
        Sidecar = await _cluster.StartSidecarAsync(Harness.NewAppId("state"), appPort: null);
        Http = SidecarClients.Http(Sidecar);
        Dapr = SidecarClients.Dapr(Sidecar);
    }

    public virtual async Task DisposeAsync()
    {
        Dapr?.Dispose();
        Http?.Dispose();
        if (_cluster is not null) await _cluster.DisposeAsync();
    }
}

public sealed class InMemoryStoreRun : StateStoreRun
{
    protected override Task<string> StartStoreAsync() => Task.FromResult(ComponentYaml.Of("statestore", "state.in-memory"));
}

public sealed class RedisStoreRun : StateStoreRun
{
    private readonly RedisServerProcess _redis = new();

    protected override string? SkipReason => BrokerBinary.SkipReason("redis-server");

    public string RedisHostPort => _redis.HostPort;

    protected override async Task<string> StartStoreAsync()
    {
        await _redis.StartAsync();
        return ComponentYaml.Of("statestore", "state.redis", ("redisHost", _redis.HostPort));
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await _redis.DisposeAsync();
    }
}

public sealed class SqliteStoreRun : StateStoreRun
{
    private readonly TempFolder _folder = new("devsidecar-sqlite-");

    protected override Task<string> StartStoreAsync() =>
        Task.FromResult(ComponentYaml.Of("statestore", "state.sqlite", ("connectionString", _folder.Combine("state.db"))));

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        _folder.Dispose();
    }
}
