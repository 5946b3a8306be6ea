using RabbitMQ.Client;

namespace TestHosting.Brokers;

/// <summary>
/// rabbitmq-server (Debian package rabbitmq-server) as a child process: its own node name, AMQP and distribution
/// ports, data, logs, cookie (HOME) and no plugins, so it neither needs root nor touches a system broker. The
/// Debian wrapper in /usr/sbin switches to the rabbitmq user, so the real script in /usr/lib/rabbitmq/bin is run.
/// </summary>
public sealed class RabbitMqServerProcess() : BrokerServer("rabbitmq-server", "pubsub.rabbitmq", defaultAddress: "amqp://localhost:5672")
{
    private const string Scripts = "/usr/lib/rabbitmq/bin";
    private readonly string _node = $"test-{Guid.NewGuid():N}@localhost";
    private readonly int _distPort = DevSidecar.Hosting.FreePorts.PickOutsideEphemeralRange();

    public string ConnectionString => $"amqp://guest:guest@127.0.0.1:{Port}";
    public override string Address => ConnectionString;

    protected override (string Program, IReadOnlyList<string> Arguments, IReadOnlyDictionary<string, string>? Environment) Command(string binaryPath)
    {
        File.WriteAllText(Path.Combine(DataDir, "enabled_plugins"), "[].");
        File.WriteAllText(Path.Combine(DataDir, "rabbitmq.conf"), $"listeners.tcp.1 = 127.0.0.1:{Port}\n");
        return (Path.Combine(Scripts, "rabbitmq-server"), [], Environment());
    }

    private Dictionary<string, string> Environment() => new()
    {
        ["HOME"] = DataDir, // the Erlang cookie lives here
        ["RABBITMQ_NODENAME"] = _node,
        ["RABBITMQ_NODE_PORT"] = Port.ToString(),
        ["RABBITMQ_DIST_PORT"] = _distPort.ToString(),
        ["RABBITMQ_MNESIA_BASE"] = Path.Combine(DataDir, "mnesia"),
        ["RABBITMQ_LOG_BASE"] = Path.Combine(DataDir, "log"),
        ["RABBITMQ_PID_FILE"] = Path.Combine(DataDir, "rabbit.pid"),
        ["RABBITMQ_ENABLED_PLUGINS_FILE"] = Path.Combine(DataDir, "enabled_plugins"),
        ["RABBITMQ_CONFIG_FILE"] = Path.Combine(DataDir, "rabbitmq.conf"),
    };

    protected override async Task<bool> AcceptsClientsAsync()
    {
        try
        {
            await using var connection = await new ConnectionFactory { Uri = new Uri(ConnectionString) }.CreateConnectionAsync();
            return connection.IsOpen;
        }
        catch (Exception)
        {
            return false;
        }
    }

    protected override async Task StopProcessAsync(ChildProcess process)
    {
        await using (var ctl = ChildProcess.Start(Path.Combine(Scripts, "rabbitmqctl"), ["-n", _node, "stop"], Environment()))
        {
            try { await ctl.WaitForExitAsync(TimeSpan.FromSeconds(20)); } catch (TimeoutException) { ctl.Kill(); }
        }
        await WaitForExitOrKillAsync(process, TimeSpan.FromSeconds(20));
    }

    /// <summary>The shipped folder's settings (durable queue that outlives its consumers, persistent messages,
    /// requeue on failure) with a 1 s reconnect wait to keep the outage tests short.</summary>
    protected override IEnumerable<(string Key, string Value)> PubSubMetadata() =>
    [
        ("connectionString", ConnectionString),
        ("durable", "true"),
        ("deletedWhenUnused", "false"),
        ("deliveryMode", "2"),
        ("requeueInFailure", "true"),
        ("reconnectWaitSeconds", "1"),
    ];
}
