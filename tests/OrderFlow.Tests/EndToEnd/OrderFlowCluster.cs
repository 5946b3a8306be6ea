using System.Net;
using System.Net.Sockets;
using DevSidecar.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;
using OrderFlow.Contracts;

namespace OrderFlow.Tests.EndToEnd;

/// <summary>
/// The five apps, each with its own dev sidecar, hosted in this test process on free ports and loaded with the
/// repository's component folders: components/local plus the folder of one flow style.
/// Each cluster has its own in-memory scope and registry, so clusters do not see each other.
/// </summary>
public abstract class OrderFlowCluster : IAsyncLifetime
{
    private readonly Dictionary<string, (WebApplication App, Func<string[], WebApplication> Build, string[] Args)> _apps = [];
    private readonly Dictionary<string, Sidecar> _sidecars = [];
    private readonly string _workDir = Directory.CreateTempSubdirectory("orderflow-").FullName;
    private readonly ILoggerFactory _logs = LoggerFactory.Create(b => b.AddConsole().SetMinimumLevel(LogLevel.Warning));

    /// <summary>The folder under components/ that selects the style, e.g. "choreography".</summary>
    public abstract string Style { get; }

    /// <summary>How long shipping takes to dispatch; short, so the suite runs in seconds.</summary>
    public virtual TimeSpan DispatchDelay => TimeSpan.FromMilliseconds(200);

    public const decimal CreditLimit = 1000m;

    /// <summary>Retries of a failed delivery before the in-memory broker loses the event.</summary>
    public virtual int DeliveryMaxRetries => 10;

    public static readonly TimeSpan MonitorCheckInterval = TimeSpan.FromMilliseconds(250);

    /// <summary>Generous: a healthy order must never look stalled, even with 200 in flight on 2 cores.</summary>
    public static readonly TimeSpan MonitorDeadline = TimeSpan.FromSeconds(8);

    /// <summary>The apps of the style; the orchestration style adds the orchestrator.</summary>
    private IEnumerable<(string AppId, Func<string[], WebApplication> Build)> Apps =>
        Style == "orchestration" ? Services.Append((AppIds.Orchestrator, Orchestrator.OrchestratorApp.Build)) : Services;

    private static readonly (string AppId, Func<string[], WebApplication> Build)[] Services =
    [
        (AppIds.Orders, Orders.OrdersApp.Build),
        (AppIds.Inventory, Inventory.InventoryApp.Build),
        (AppIds.Payments, Payments.PaymentsApp.Build),
        (AppIds.Shipping, Shipping.ShippingApp.Build),
        (AppIds.Notifications, Notifications.NotificationsApp.Build),
        (AppIds.Monitor, Monitor.MonitorApp.Build),
    ];

    /// <summary>
    /// The broker folder the cluster loads: components/local by default. Broker clusters start their broker and return a
    /// copy of their folder pointed at it.
    /// </summary>
    protected virtual Task<string> BrokerComponentsAsync(string workDir) => Task.FromResult(RepoPath("components", "local"));

    /// <summary>Stops what <see cref="BrokerComponentsAsync"/> started.</summary>
    protected virtual ValueTask StopBrokerAsync() => ValueTask.CompletedTask;

    public async Task InitializeAsync()
    {
        var brokerComponents = await BrokerComponentsAsync(_workDir);
        var scope = Guid.NewGuid().ToString("N");
        var registry = Path.Combine(_workDir, "registry");
        var contentRoot = Directory.CreateDirectory(Path.Combine(_workDir, "content")).FullName;
        foreach (var (appId, build) in Apps)
        {
            // The free port is released before the app binds it, so something else (often another sidecar binding
            // port 0) can take it first: then start this app and its sidecar again on another port.
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    await StartAppWithSidecarAsync(appId, build, brokerComponents, scope, registry, contentRoot);
                    break;
                }
                catch (IOException e) when (e.InnerException is Microsoft.AspNetCore.Connections.AddressInUseException && attempt < 5)
                {
                    await _sidecars[appId].StopAsync();
                }
            }
        }
        await Task.WhenAll(_sidecars.Values.Select(s => s.Ready)).WaitAsync(TimeSpan.FromSeconds(30));
    }

    private async Task StartAppWithSidecarAsync(string appId, Func<string[], WebApplication> build, string brokerComponents,
        string scope, string registry, string contentRoot)
    {
        var appPort = FreePort();
        var sidecar = await Sidecar.StartAsync(new SidecarOptions
        {
            AppId = appId,
            AppPort = appPort,
            ResourcesPaths = [brokerComponents, RepoPath("components", Style), RepoPath("components", "monitor")],
            RegistryDirectory = registry,
            InMemoryScope = scope,
            DeliveryInitialBackoff = TimeSpan.FromMilliseconds(20),
            DeliveryMaxRetries = DeliveryMaxRetries,
        }, _logs);
        _sidecars[appId] = sidecar;
        string[] args =
        [
            $"--contentRoot={contentRoot}",
            $"--APP_PORT={appPort}",
            $"--DAPR_HTTP_PORT={sidecar.HttpPort}",
            $"--DAPR_GRPC_PORT={sidecar.GrpcPort}",
            "--Logging:LogLevel:Default=Warning",
            $"--Shipping:DispatchDelay={DispatchDelay}",
            "--Shipping:UndeliverableCountries:0=AQ",
            $"--Payments:DefaultLimit={CreditLimit}",
            $"--Monitor:CheckInterval={MonitorCheckInterval}",
            $"--Monitor:DefaultDeadline={MonitorDeadline}",
            $"--Monitor:Deadlines:payment-charged={DispatchDelay + MonitorDeadline}",
        ];
        var app = build(args);
        try
        {
            await app.StartAsync();
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }
        _apps[appId] = (app, build, args);
    }

    public async Task DisposeAsync()
    {
        foreach (var (app, _, _) in _apps.Values) await app.StopAsync();
        foreach (var (app, _, _) in _apps.Values) await app.DisposeAsync();
        foreach (var sidecar in _sidecars.Values) await sidecar.StopAsync();
        await StopBrokerAsync();
        _logs.Dispose();
        Directory.Delete(_workDir, recursive: true);
    }

    /// <summary>
    /// Stops an app at once, with no grace (its in-flight work is cut off, as with a kill), then starts a new
    /// instance on the same port next to the same sidecar.
    /// </summary>
    public async Task KillAndRestartAsync(string appId)
    {
        await KillAsync(appId);
        await StartAsync(appId);
    }

    /// <summary>Stops an app at once, with no grace; its sidecar stays up and keeps trying to reach it.</summary>
    public async Task KillAsync(string appId)
    {
        var (app, _, _) = _apps[appId];
        await app.StopAsync(new CancellationToken(canceled: true));
        await app.DisposeAsync();
    }

    /// <summary>Starts a new instance of a killed app on the same port.</summary>
    public async Task StartAsync(string appId)
    {
        var (_, build, args) = _apps[appId];
        var restarted = build(args);
        await restarted.StartAsync();
        _apps[appId] = (restarted, build, args);
    }

    /// <summary>A client that reaches <paramref name="appId"/> through its sidecar's invocation API, as curl would.</summary>
    public HttpClient Invoke(string appId) =>
        new() { BaseAddress = new Uri($"http://127.0.0.1:{_sidecars[appId].HttpPort}/v1.0/invoke/{appId}/method/") };

    /// <summary>The Dapr HTTP API of one app's sidecar.</summary>
    public HttpClient SidecarOf(string appId) =>
        new() { BaseAddress = new Uri($"http://127.0.0.1:{_sidecars[appId].HttpPort}/") };

    public static string RepoPath(params string[] parts)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Dapr.sln"))) dir = dir.Parent;
        return Path.Combine([dir?.FullName ?? throw new InvalidOperationException("Dapr.sln not found above the test binaries"), .. parts]);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

public sealed class ChoreographyCluster : OrderFlowCluster
{
    public override string Style => "choreography";
}

public class OrchestrationCluster : OrderFlowCluster
{
    public override string Style => "orchestration";
}

/// <summary>Slow shipping, so that a test can act while workflows wait for it.</summary>
public sealed class SlowShippingOrchestrationCluster : OrchestrationCluster
{
    public override TimeSpan DispatchDelay => TimeSpan.FromSeconds(2);
}

/// <summary>Loses an event quickly when its subscriber is down (few delivery retries), as the monitor tests need.</summary>
public sealed class LossyChoreographyCluster : OrderFlowCluster
{
    public override string Style => "choreography";
    public override int DeliveryMaxRetries => 2;
}
