using DevSidecar.Hosting;
using DevSidecar.PubSub;
using DevSidecar.State;
using Microsoft.Extensions.Logging;

namespace DevSidecar.Resources;

/// <summary>The components one sidecar loaded, by name, and the factories for the types the dev sidecar knows.</summary>
public sealed class ComponentRegistry : IAsyncDisposable
{
    /// <summary>A component type: how to make one, and the metadata keys it understands (<see cref="MetadataKeys"/>).</summary>
    private sealed record ComponentType(Func<ComponentSpec, SidecarOptions, ILogger, object> Create, IReadOnlyList<string> Keys);

    private static readonly Dictionary<string, ComponentType> Types = new(StringComparer.Ordinal)
    {
        ["pubsub.in-memory"] = new((spec, options, logger) => new InMemoryPubSub(spec, InMemoryBus.Named($"{options.InMemoryScope}/{spec.Name}"), logger), []),
        ["state.in-memory"] = new((spec, _, _) => new InMemoryStateStore(spec), []), // per sidecar, as in daprd
        ["pubsub.redis"] = new((spec, _, logger) => new DevSidecar.PubSub.Redis.RedisStreamsPubSub(spec, logger),
            [.. Redis.RedisConnector.Keys, .. DevSidecar.PubSub.Redis.RedisStreamsSettings.Keys]),
        ["state.redis"] = new((spec, _, logger) => new DevSidecar.State.Redis.RedisStateStore(spec, logger),
            [.. Redis.RedisConnector.Keys, .. DevSidecar.State.Redis.RedisStateStore.Keys]),
        ["state.sqlite"] = new((spec, options, logger) => new DevSidecar.State.Sqlite.SqliteStateStore(spec, options.WorkingDirectory, logger),
            DevSidecar.State.Sqlite.SqliteStateStore.Keys),
        ["pubsub.jetstream"] = new((spec, _, logger) => new DevSidecar.PubSub.JetStream.JetStreamPubSub(spec, logger),
            DevSidecar.PubSub.JetStream.JetStreamMetadata.Keys),
        ["pubsub.rabbitmq"] = new((spec, _, logger) => new DevSidecar.PubSub.RabbitMQ.RabbitMQPubSub(spec, logger),
            DevSidecar.PubSub.RabbitMQ.RabbitMQMetadata.Keys),
    };

    private static readonly Dictionary<string, IReadOnlySet<string>> KeysByType =
        Types.ToDictionary(t => t.Key, t => MetadataKeys.Of(t.Key, t.Value.Keys), StringComparer.Ordinal);

    public static ISet<string> KnownTypes { get; } = Types.Keys.ToHashSet(StringComparer.Ordinal);

    /// <summary>The metadata keys a component type understands: contrib's and those daprd reads itself.</summary>
    public static IReadOnlySet<string> KeysOf(string type) => KeysByType[type];

    public IReadOnlyList<ComponentSpec> Specs { get; }
    public IReadOnlyDictionary<string, IPubSub> PubSubs { get; }
    public IReadOnlyDictionary<string, IStateStore> StateStores { get; }

    private ComponentRegistry(IReadOnlyList<ComponentSpec> specs, IReadOnlyDictionary<string, IPubSub> pubsubs, IReadOnlyDictionary<string, IStateStore> stores)
    {
        Specs = specs;
        PubSubs = pubsubs;
        StateStores = stores;
    }

    /// <summary>
    /// Creates and inits the components one at a time in load order, as daprd's processor does (dapr v1.17.9
    /// pkg/runtime/processor/components.go): each init has the component's initTimeout; the first failure stops
    /// start-up (<see cref="ComponentInitException"/>, the components made so far closed), unless the component says
    /// ignoreErrors, which logs the error and leaves it out. A metadata value that does not parse throws
    /// <see cref="ResourceLoadException"/> naming the key.
    /// </summary>
    public static async Task<ComponentRegistry> InitAsync(IReadOnlyList<ComponentSpec> specs, SidecarOptions options, ILoggerFactory loggerFactory,
        CancellationToken cancellationToken)
    {
        var logger = loggerFactory.CreateLogger($"DevSidecar.{options.AppId}");
        var loaded = new List<ComponentSpec>();
        var pubsubs = new Dictionary<string, IPubSub>(StringComparer.Ordinal);
        var stores = new Dictionary<string, IStateStore>(StringComparer.Ordinal);
        var registry = new ComponentRegistry(loaded, pubsubs, stores);
        try
        {
            foreach (var loadedSpec in specs)
            {
                var spec = loadedSpec with { KnownKeys = KeysOf(loadedSpec.Type) };
                foreach (var warning in MetadataKeys.Warnings(spec, spec.KnownKeys!)) logger.LogWarning("{Warning}", warning);
                var component = Types[spec.Type].Create(spec, options, loggerFactory.CreateLogger($"DevSidecar.Component.{spec.Name}"));
                if (component is IConnectingComponent connecting && await InitOrFailAsync(spec, connecting, cancellationToken) is { } failure)
                {
                    await ((IAsyncDisposable)component).DisposeAsync();
                    if (!spec.IgnoreErrors) throw failure;
                    logger.LogError("Ignoring error processing component: {Error}", failure.DaprdError);
                    continue;
                }
                loaded.Add(spec);
                switch (component)
                {
                    case IPubSub pubsub: pubsubs[spec.Name] = pubsub; break;
                    case IStateStore store: stores[spec.Name] = store; break;
                }
            }
            return registry;
        }
        catch
        {
            await registry.DisposeAsync();
            throw;
        }
    }

    private static async Task<ComponentInitException?> InitOrFailAsync(ComponentSpec spec, IConnectingComponent component, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(spec.InitTimeout);
        try
        {
            await component.InitAsync(timeout.Token).WaitAsync(timeout.Token);
            return null;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            return ComponentInitException.For(spec, component, "context deadline exceeded", timedOut: true);
        }
        catch (Exception e)
        {
            return ComponentInitException.For(spec, component, e.Message, timedOut: false, e);
        }
    }

    public IReadOnlyList<string> CapabilitiesOf(string name) =>
        PubSubs.TryGetValue(name, out var p) ? p.Features : StateStores.TryGetValue(name, out var s) ? s.Features : [];

    public async ValueTask DisposeAsync()
    {
        foreach (var pubsub in PubSubs.Values) await pubsub.DisposeAsync();
        foreach (var store in StateStores.Values) await store.DisposeAsync();
    }
}
