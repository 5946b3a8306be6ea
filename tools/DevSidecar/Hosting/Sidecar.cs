using Microsoft.Extensions.Logging;

namespace DevSidecar.Hosting;

/// <summary>
/// One running dev sidecar: Dapr's HTTP API on <see cref="HttpPort"/>, its gRPC API on <see cref="GrpcPort"/>,
/// and the app channel to the app on <see cref="SidecarOptions.AppPort"/>.
/// </summary>
public sealed partial class Sidecar : IAsyncDisposable
{
    public SidecarOptions Options { get; }
    public string AppId => Options.AppId;
    public int HttpPort { get; private set; }
    public int GrpcPort { get; private set; }

    /// <summary>Completes when someone asks this sidecar to shut down (POST /v1.0/shutdown or gRPC Shutdown).
    /// The result is true for a forced shutdown (header dapr-force-shutdown: true).</summary>
    public Task<bool> ShutdownRequested => _shutdownRequested.Task;

    /// <summary>Completes when the sidecar is ready as /v1.0/healthz defines it: the app port is open and subscriptions are running.</summary>
    public Task Ready => _ready.Task;

    private readonly TaskCompletionSource<bool> _shutdownRequested = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

public sealed partial class Sidecar
{
    private Sidecar(SidecarOptions options) => Options = options;

    /// <summary>
    /// Loads the resources (a bad file throws <see cref="DevSidecar.Resources.ResourceLoadException"/>), starts the HTTP and gRPC
    /// APIs and returns once they answer (/v1.0/healthz/outbound is 204). Waiting for the app and fetching its
    /// subscriptions go on in the background; <see cref="Ready"/> completes when that is done.
    /// </summary>
    public static Task<Sidecar> StartAsync(SidecarOptions options, ILoggerFactory loggerFactory, CancellationToken cancellationToken = default)
        => throw new NotImplementedException();

    /// <summary>Graceful stop as daprd does it: stop taking new messages, let in-flight deliveries finish
    /// within <see cref="SidecarOptions.GracefulShutdown"/>, then close the APIs.</summary>
    public Task StopAsync(CancellationToken cancellationToken = default) => throw new NotImplementedException();

    public async ValueTask DisposeAsync() => await StopAsync();
}
