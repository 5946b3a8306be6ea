using Dapr.Client;
using DevSidecar.Hosting;
using DevSidecar.Tests.Conformance.Harness;

namespace DevSidecar.Tests.Brokers;

/// <summary>Class fixture: one sidecar (no app) whose store <c>statestore</c> is of the kind a subclass gives.</summary>
public abstract class StateStoreRun : IAsyncLifetime
{
    private BrokerRun? _run;

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
        _run = BrokerRun.With(await StartStoreAsync());
        Sidecar = await _run.StartSidecarAsync(Harness.NewAppId("state"), appPort: null);
        Http = Harness.NewHttp(Sidecar);
        Dapr = Harness.NewDaprClient(Sidecar);
    }

    public virtual async Task DisposeAsync()
    {
        Dapr?.Dispose();
        Http?.Dispose();
        if (_run is not null) await _run.DisposeAsync();
    }

    public static string StoreYaml(string type, params (string Key, string Value)[] metadata) => $"""
        apiVersion: dapr.io/v1alpha1
        kind: Component
        metadata:
          name: statestore
        spec:
          type: {type}
          version: v1
          metadata:
        {string.Concat(metadata.Select(m => $"    - name: {m.Key}\n      value: \"{m.Value}\"\n"))}
        """;
}

public sealed class InMemoryStoreRun : StateStoreRun
{
    protected override Task<string> StartStoreAsync() => Task.FromResult(StoreYaml("state.in-memory"));
}

public sealed class RedisStoreRun : StateStoreRun
{
    private RedisServerProcess? _redis;

    protected override string? SkipReason => BrokerBinary.SkipReason("redis-server");

    protected override async Task<string> StartStoreAsync()
    {
        _redis = await RedisServerProcess.StartAsync();
        return StoreYaml("state.redis", ("redisHost", _redis.HostPort));
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        if (_redis is not null) await _redis.DisposeAsync();
    }
}

public sealed class SqliteStoreRun : StateStoreRun
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "devsidecar-sqlite", Guid.NewGuid().ToString("N"));

    protected override Task<string> StartStoreAsync() =>
        Task.FromResult(StoreYaml("state.sqlite", ("connectionString", Path.Combine(_folder, "state.db"))));

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        try { Directory.Delete(_folder, recursive: true); } catch { /* best effort */ }
    }
}
