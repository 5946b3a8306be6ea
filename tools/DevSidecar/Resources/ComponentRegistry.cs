using DevSidecar.Hosting;
using DevSidecar.PubSub;
using DevSidecar.State;
using Microsoft.Extensions.Logging;

namespace DevSidecar.Resources;

/// <summary>The components one sidecar loaded, by name, and the factories for the types the dev sidecar knows.</summary>
public sealed class ComponentRegistry : IAsyncDisposable
{
    private static readonly Dictionary<string, Func<ComponentSpec, SidecarOptions, ILogger, object>> Factories = new(StringComparer.Ordinal)
    {
        ["pubsub.in-memory"] = (spec, options, logger) => new InMemoryPubSub(spec, InMemoryBus.Named($"{options.InMemoryScope}/{spec.Name}"), logger),
        ["state.in-memory"] = (spec, _, _) => new InMemoryStateStore(spec), // per sidecar, as in daprd
        ["pubsub.redis"] = (spec, _, logger) => new DevSidecar.PubSub.Redis.RedisStreamsPubSub(spec, logger),
        ["state.redis"] = (spec, _, logger) => new DevSidecar.State.Redis.RedisStateStore(spec, logger),
        ["state.sqlite"] = (spec, options, logger) => new DevSidecar.State.Sqlite.SqliteStateStore(spec, options.WorkingDirectory, logger),
        ["pubsub.jetstream"] = (spec, _, logger) => new DevSidecar.PubSub.JetStream.JetStreamPubSub(spec, logger),
        ["pubsub.rabbitmq"] = (spec, _, logger) => new DevSidecar.PubSub.RabbitMQ.RabbitMQPubSub(spec, logger),
    };

    public static ISet<string> KnownTypes { get; } = Factories.Keys.ToHashSet(StringComparer.Ordinal);

    public IReadOnlyList<ComponentSpec> Specs { get; }
    public IReadOnlyDictionary<string, IPubSub> PubSubs { get; }
    public IReadOnlyDictionary<string, IStateStore> StateStores { get; }

    public ComponentRegistry(IReadOnlyList<ComponentSpec> specs, SidecarOptions options, ILoggerFactory loggerFactory)
    {
        Specs = specs;
        var pubsubs = new Dictionary<string, IPubSub>(StringComparer.Ordinal);
        var stores = new Dictionary<string, IStateStore>(StringComparer.Ordinal);
        foreach (var spec in specs)
        {
            var component = Factories[spec.Type](spec, options, loggerFactory.CreateLogger($"DevSidecar.Component.{spec.Name}"));
            switch (component)
            {
                case IPubSub pubsub: pubsubs[spec.Name] = pubsub; break;
                case IStateStore store: stores[spec.Name] = store; break;
            }
        }
        PubSubs = pubsubs;
        StateStores = stores;
    }

    public IReadOnlyList<string> CapabilitiesOf(string name) =>
        PubSubs.TryGetValue(name, out var p) ? p.Features : StateStores.TryGetValue(name, out var s) ? s.Features : [];

    public async ValueTask DisposeAsync()
    {
        foreach (var pubsub in PubSubs.Values) await pubsub.DisposeAsync();
        foreach (var store in StateStores.Values) await store.DisposeAsync();
    }
}
