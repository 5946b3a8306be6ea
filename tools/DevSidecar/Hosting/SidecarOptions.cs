namespace DevSidecar.Hosting;

/// <summary>
/// What one sidecar needs to know; the names follow daprd's flags (--app-id, --app-port, …).
/// A port of 0 means "pick a free one".
/// </summary>
public sealed record SidecarOptions
{
    public required string AppId { get; init; }

    /// <summary>The app's HTTP port; null for a sidecar with no app (it can still publish and invoke).</summary>
    public int? AppPort { get; init; }

    public string AppChannelAddress { get; init; } = "127.0.0.1";
    public string AppProtocol { get; init; } = "http";
    public int HttpPort { get; init; }
    public int GrpcPort { get; init; }

    /// <summary>Address the APIs listen on; daprd listens on all interfaces, we default to loopback.</summary>
    public string ListenAddress { get; init; } = "127.0.0.1";

    public IReadOnlyList<string> ResourcesPaths { get; init; } = [];

    /// <summary>--config: the Dapr Configuration file; null runs with daprd's default configuration. Only its
    /// spec.tracing is read (Tracing/DaprConfiguration.cs).</summary>
    public string? ConfigFile { get; init; }

    public string Namespace { get; init; } = "default";

    /// <summary>DAPR_API_TOKEN: required from callers of this sidecar's APIs.</summary>
    public string? ApiToken { get; init; }

    /// <summary>APP_API_TOKEN: sent to the app as the dapr-api-token header.</summary>
    public string? AppApiToken { get; init; }

    public bool EnableAppHealthCheck { get; init; }
    public string AppHealthCheckPath { get; init; } = "/healthz";
    public TimeSpan AppHealthProbeInterval { get; init; } = TimeSpan.FromSeconds(5);
    public TimeSpan AppHealthProbeTimeout { get; init; } = TimeSpan.FromMilliseconds(500);
    public int AppHealthThreshold { get; init; } = 3;

    /// <summary>--dapr-graceful-shutdown-seconds: how long in-flight deliveries may take on shutdown.</summary>
    public TimeSpan GracefulShutdown { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>--max-body-size (daprd default 4 MiB).</summary>
    public long MaxBodySize { get; init; } = 4 * 1024 * 1024;

    /// <summary>
    /// Where sidecars register so they can find each other for service invocation
    /// (daprd uses mDNS in self-hosted mode). Sidecars sharing a folder can call each other,
    /// also across processes.
    /// </summary>
    public string RegistryDirectory { get; init; } = DefaultRegistryDirectory;

    /// <summary>
    /// Sidecars with the same scope share their in-memory components (pubsub.in-memory, state.in-memory) by component
    /// name; the apps of one run share the default scope. Tests that host several independent runs in one process
    /// give each its own scope.
    /// </summary>
    public string InMemoryScope { get; init; } = "";

    /// <summary>How long the transactional outbox waits before it first looks for a transaction's marker: daprd's
    /// fixed 1 s (dapr v1.17.9 pkg/runtime/pubsub/outbox.go defaultStateScanDelay). Tests shorten it, for time only.</summary>
    public TimeSpan OutboxScanDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>daprd's working directory, against which components' relative paths (state.sqlite's connectionString)
    /// resolve. The Dapr CLI starts each daprd in its app's appDirPath (cli v1.17.1 cmd/run.go
    /// startDaprdAndAppProcesses); an in-process sidecar cannot change directory, so it is an option.</summary>
    public string WorkingDirectory { get; init; } = Directory.GetCurrentDirectory();

    /// <summary>Keys the runner (like the Dapr CLI) publishes in the metadata API's extended section.</summary>
    public IReadOnlyDictionary<string, string> ExtendedMetadata { get; init; } = new Dictionary<string, string>();

    public static string DefaultRegistryDirectory =>
        Environment.GetEnvironmentVariable("DEVSIDECAR_REGISTRY") is { Length: > 0 } fromEnv
            ? fromEnv
            : Path.Combine(Path.GetTempPath(), $"dapr-dev-sidecar-{Environment.UserName}", "registry");
}
