using System.Diagnostics;
using RabbitMQ.Client;

namespace DevSidecar.Tests.Brokers;

/// <summary>
/// rabbitmq-server (Debian package rabbitmq-server) as a child process: its own node name, AMQP and distribution
/// ports, data, logs, cookie (HOME) and no plugins, so it neither needs root nor touches a system broker. The
/// Debian wrapper in /usr/sbin switches to the rabbitmq user, so the real script in /usr/lib/rabbitmq/bin is run.
/// </summary>
public sealed class RabbitMqServerProcess() : BrokerServer("rabbitmq-server")
{
    private const string Scripts = "/usr/lib/rabbitmq/bin";
    private readonly string _node = $"test-{Guid.NewGuid():N}@localhost";
    private readonly int _distPort = Conformance.Harness.TestApp.FreePort();

    public string ConnectionString => $"amqp://guest:guest@127.0.0.1:{Port}";

    protected override ProcessStartInfo StartInfo(string binaryPath)
    {
        File.WriteAllText(Path.Combine(DataDir, "enabled_plugins"), "[].");
        File.WriteAllText(Path.Combine(DataDir, "rabbitmq.conf"), $"listeners.tcp.1 = 127.0.0.1:{Port}\n");
        var info = new ProcessStartInfo(Path.Combine(Scripts, "rabbitmq-server"));
        Environment(info);
        return info;
    }

    private void Environment(ProcessStartInfo info)
    {
        info.Environment["HOME"] = DataDir; // the Erlang cookie lives here
        info.Environment["RABBITMQ_NODENAME"] = _node;
        info.Environment["RABBITMQ_NODE_PORT"] = Port.ToString();
        info.Environment["RABBITMQ_DIST_PORT"] = _distPort.ToString();
        info.Environment["RABBITMQ_MNESIA_BASE"] = Path.Combine(DataDir, "mnesia");
        info.Environment["RABBITMQ_LOG_BASE"] = Path.Combine(DataDir, "log");
        info.Environment["RABBITMQ_PID_FILE"] = Path.Combine(DataDir, "rabbit.pid");
        info.Environment["RABBITMQ_ENABLED_PLUGINS_FILE"] = Path.Combine(DataDir, "enabled_plugins");
        info.Environment["RABBITMQ_CONFIG_FILE"] = Path.Combine(DataDir, "rabbitmq.conf");
    }

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

    protected override async Task StopProcessAsync(Process process)
    {
        var info = new ProcessStartInfo(Path.Combine(Scripts, "rabbitmqctl"), ["-n", _node, "stop"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        Environment(info);
        using (var ctl = System.Diagnostics.Process.Start(info)!)
        {
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            try { await ctl.WaitForExitAsync(deadline.Token); } catch (OperationCanceledException) { ctl.Kill(entireProcessTree: true); }
        }
        await WaitForExitOrKillAsync(process, TimeSpan.FromSeconds(20));
    }

    /// <summary>The shipped folder's settings (durable queue that outlives its consumers, persistent messages,
    /// requeue on failure) with a 1 s reconnect wait to keep the outage tests short.</summary>
    public override string PubSubYaml() => $"""
        apiVersion: dapr.io/v1alpha1
        kind: Component
        metadata:
          name: pubsub
        spec:
          type: pubsub.rabbitmq
          version: v1
          metadata:
            - name: connectionString
              value: "{ConnectionString}"
            - name: durable
              value: "true"
            - name: deletedWhenUnused
              value: "false"
            - name: deliveryMode
              value: "2"
            - name: requeueInFailure
              value: "true"
            - name: reconnectWaitSeconds
              value: "1"
        """;
}
