using System.Diagnostics;

namespace DevSidecar.Tests.Brokers;

/// <summary>nats-server with JetStream (Debian package nats-server), file storage in a private folder.</summary>
public sealed class NatsServerProcess() : BrokerServer("nats-server")
{
    public string Url => $"nats://127.0.0.1:{Port}";

    protected override ProcessStartInfo StartInfo(string binaryPath) =>
        new(binaryPath, ["-js", "-a", "127.0.0.1", "-p", Port.ToString(), "-sd", DataDir]);

    protected override Task<bool> AcceptsClientsAsync() => Task.FromResult(true);

    /// <summary>SIGTERM, so the server flushes consumer state (acks) to disk, as a clean restart would.</summary>
    protected override async Task StopProcessAsync(Process process)
    {
        using (var kill = System.Diagnostics.Process.Start("kill", ["-TERM", process.Id.ToString()])) await kill.WaitForExitAsync();
        await WaitForExitOrKillAsync(process, TimeSpan.FromSeconds(10));
    }

    /// <summary>Instances of one app id compete (queueGroupName + durableName per app id); a NAK is redelivered after 1 s.</summary>
    public override string PubSubYaml() => $"""
        apiVersion: dapr.io/v1alpha1
        kind: Component
        metadata:
          name: pubsub
        spec:
          type: pubsub.jetstream
          version: v1
          metadata:
            - name: natsURL
              value: "{Url}"
            - name: durableName
              value: "{"{appID}"}"
            - name: queueGroupName
              value: "{"{appID}"}"
            - name: ackWait
              value: "1s"
            - name: maxDeliver
              value: "10"
        """;
}
