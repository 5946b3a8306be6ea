namespace TestHosting.Brokers;

/// <summary>
/// One of the repository's broker folders (components/local, components/redis, …) as a copy pointed at a broker
/// started for it on a free port, and at a private SQLite file, so suites and the bench run on the very files users
/// run. Disposing stops the broker.
/// </summary>
public sealed class BrokerComponents : IAsyncDisposable
{
    private readonly BrokerServer? _server; // none for components/local's embedded broker

    private BrokerComponents(string folder, BrokerServer? server)
    {
        Folder = folder;
        _server = server;
    }

    /// <summary>The component folder to load.</summary>
    public string Folder { get; }

    /// <summary>The broker folders besides components/local, with the binary each needs.</summary>
    public static readonly IReadOnlyDictionary<string, string> Binaries = new Dictionary<string, string>
    {
        ["redis"] = "redis-server",
        ["jetstream"] = "nats-server",
        ["rabbitmq"] = "rabbitmq-server",
    };

    /// <summary>Starts the broker of components/<paramref name="broker"/> (none for <c>local</c>) and copies the folder into
    /// <paramref name="workDir"/>, its pub/sub component only if <paramref name="pubSubOnly"/>.</summary>
    public static async Task<BrokerComponents> StartAsync(string broker, string workDir, bool pubSubOnly = false)
    {
        BrokerServer? server = broker switch
        {
            "local" => null,
            "redis" => new RedisServerProcess(),
            "jetstream" => new NatsServerProcess(),
            "rabbitmq" => new RabbitMqServerProcess(),
            _ => throw new ArgumentException($"no broker folder '{broker}'", nameof(broker)),
        };
        if (server is null) return new(Copy(broker, workDir, null, pubSubOnly), null);
        await server.StartAsync();
        var folder = Copy(broker, workDir, server, pubSubOnly);
        await server.PrepareForAsync(folder);
        return new(folder, server);
    }

    private static string Copy(string broker, string workDir, BrokerServer? server, bool pubSubOnly)
    {
        var copy = Directory.CreateDirectory(Path.Combine(workDir, "components-" + broker)).FullName;
        foreach (var file in Directory.EnumerateFiles(Repo.Components(broker), "*.yaml"))
        {
            var text = File.ReadAllText(file);
            if (pubSubOnly && !text.Contains("type: pubsub.", StringComparison.Ordinal)) continue;
            if (server is not null) text = text.Replace(server.DefaultAddress, server.Address, StringComparison.Ordinal);
            text = text.Replace("./.dapr/state.db", Path.Combine(workDir, "state.db"), StringComparison.Ordinal);
            File.WriteAllText(Path.Combine(copy, Path.GetFileName(file)), text);
        }
        return copy;
    }

    /// <summary>Makes topics beyond the folder's own usable, as a user would (JetStream: a stream each).</summary>
    public Task CreateTopicsAsync(params string[] topics) => _server?.CreateTopicsAsync(topics) ?? Task.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        if (_server is not null) await _server.DisposeAsync();
    }
}
