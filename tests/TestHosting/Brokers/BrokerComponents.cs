namespace DevSidecar.Tests.Brokers;

/// <summary>
/// A broker started on a free port and a copy of the repository's component folder for it (components/redis, …),
/// pointed at that port and at a private SQLite file, so that suites run on the very files users run.
/// </summary>
public sealed class BrokerComponents : IAsyncDisposable
{
    private readonly Func<ValueTask> _stop;

    private BrokerComponents(string folder, Func<ValueTask> stop)
    {
        Folder = folder;
        _stop = stop;
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

    public static async Task<BrokerComponents> StartAsync(string broker, string workDir)
    {
        switch (broker)
        {
            case "redis":
                var redis = await RedisServerProcess.StartAsync();
                return new(Copy(broker, workDir, ("localhost:6379", redis.HostPort)), redis.DisposeAsync);
            case "jetstream":
                var nats = new NatsServerProcess();
                await nats.StartAsync();
                return new(Copy(broker, workDir, ("nats://localhost:4222", nats.Url)), async () => await nats.DisposeAsync());
            case "rabbitmq":
                var rabbit = new RabbitMqServerProcess();
                await rabbit.StartAsync();
                return new(Copy(broker, workDir, ("amqp://localhost:5672", rabbit.ConnectionString)), async () => await rabbit.DisposeAsync());
            default:
                throw new ArgumentException($"no broker folder '{broker}'", nameof(broker));
        }
    }

    private static string Copy(string broker, string workDir, (string From, string To) address)
    {
        var copy = Directory.CreateDirectory(Path.Combine(workDir, "components-" + broker)).FullName;
        foreach (var file in Directory.EnumerateFiles(RepoPath("components", broker), "*.yaml"))
        {
            var text = File.ReadAllText(file)
                .Replace(address.From, address.To, StringComparison.Ordinal)
                .Replace("./.dapr/state.db", Path.Combine(workDir, "state.db"), StringComparison.Ordinal);
            File.WriteAllText(Path.Combine(copy, Path.GetFileName(file)), text);
        }
        return copy;
    }

    private static string RepoPath(params string[] parts)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Dapr.sln"))) dir = dir.Parent;
        return Path.Combine([dir?.FullName ?? throw new InvalidOperationException("Dapr.sln not found above the test binaries"), .. parts]);
    }

    public ValueTask DisposeAsync() => _stop();
}
