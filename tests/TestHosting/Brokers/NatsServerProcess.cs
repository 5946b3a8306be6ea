namespace TestHosting.Brokers;

/// <summary>nats-server with JetStream (Debian package nats-server), file storage in a private folder.</summary>
public sealed class NatsServerProcess() : BrokerServer("nats-server", "pubsub.jetstream", defaultAddress: "nats://localhost:4222")
{
    public string Url => $"nats://127.0.0.1:{Port}";
    public override string Address => Url;

    protected override (string Program, IReadOnlyList<string> Arguments, IReadOnlyDictionary<string, string>? Environment) Command(string binaryPath) =>
        (binaryPath, ["-js", "-a", "127.0.0.1", "-p", Port.ToString(), "-sd", DataDir], null);

    protected override Task<bool> AcceptsClientsAsync() => Task.FromResult(true);

    /// <summary>The streams the folder's component files list (<see cref="JetStreamStreams"/>): nothing creates them otherwise.</summary>
    public override Task PrepareForAsync(string componentFolder) => JetStreamStreams.CreateAsync(Url, JetStreamStreams.ListedIn(componentFolder));

    /// <summary>A stream per topic, named after it.</summary>
    public override Task CreateTopicsAsync(params string[] topics) => JetStreamStreams.CreateAsync(Url, JetStreamStreams.OnePerTopic(topics));

    /// <summary>SIGTERM, so the server flushes consumer state (acks) to disk, as a clean restart would.</summary>
    protected override async Task StopProcessAsync(ChildProcess process)
    {
        process.SendSigterm();
        await WaitForExitOrKillAsync(process, TimeSpan.FromSeconds(10));
    }

    /// <summary>Instances of one app id compete (queueGroupName + durableName per app id); a NAK is redelivered after 1 s.
    /// maxAckPending keeps the server from pushing more than a few events ahead: one waiting in the sidecar past ackWait
    /// would be delivered again (as components/jetstream explains), which a loaded machine would turn into duplicates.</summary>
    protected override IEnumerable<(string Key, string Value)> PubSubMetadata() =>
    [
        ("natsURL", Url),
        ("durableName", "{appID}"),
        ("queueGroupName", "{appID}"),
        ("ackWait", "1s"),
        ("maxDeliver", "10"),
        ("maxAckPending", "5"),
    ];
}
