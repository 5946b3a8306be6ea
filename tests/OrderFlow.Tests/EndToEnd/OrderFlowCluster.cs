using DevSidecar.Hosting;
using Microsoft.Extensions.Logging;

namespace OrderFlow.Tests.EndToEnd;

/// <summary>
/// The order-flow apps of one style (<see cref="OrderFlowApps.Of"/>), each with its own dev sidecar, hosted in this
/// test process (<see cref="Cluster"/>) and loaded with the repository's component folders: a broker folder
/// (components/local unless a subclass picks a real broker), the folder of the style, components/monitor and (as
/// dapr.yaml) components/resiliency, whose Resiliency resource sets the delivery retries.
/// Each cluster has its own in-memory scope and registry, so clusters do not see each other. A class fixture.
/// </summary>
public abstract class OrderFlowCluster : IAsyncLifetime
{
    private readonly TempFolder _workDir = new("orderflow-");
    private BrokerComponents? _broker;
    private Cluster _cluster = null!;

    /// <summary>The folder under components/ that selects the style, e.g. "choreography".</summary>
    public abstract string Style { get; }

    /// <summary>The broker folder under components/: local (the embedded broker), redis, jetstream or rabbitmq.</summary>
    public virtual string Broker => "local";

    /// <summary>How long shipping takes to dispatch; short, so the suite runs in seconds.</summary>
    public virtual TimeSpan DispatchDelay => TimeSpan.FromMilliseconds(200);

    public const decimal CreditLimit = 1000m;

    public static readonly TimeSpan MonitorCheckInterval = TimeSpan.FromMilliseconds(250);

    /// <summary>Generous: a healthy order must never look stalled, even with 200 in flight on 2 cores.</summary>
    public static readonly TimeSpan MonitorDeadline = TimeSpan.FromSeconds(8);

    public async Task InitializeAsync()
    {
        var brokerFolder = Broker == "local" ? Repo.Components("local") : (_broker = await BrokerComponents.StartAsync(Broker, _workDir.Path)).Folder;
        _cluster = new Cluster(new ClusterOptions
        {
            Resources = [brokerFolder, Style, "monitor"],
            ConsoleLogLevel = LogLevel.Warning,
        });
        await _cluster.StartAllAsync(OrderFlowApps.Of(Style), new OrderFlowSettings
        {
            DispatchDelay = DispatchDelay,
            UndeliverableCountries = ["AQ"],
            CreditLimit = CreditLimit,
            MonitorCheckInterval = MonitorCheckInterval,
            MonitorDeadline = MonitorDeadline,
        }.Args());
    }

    public async Task DisposeAsync()
    {
        await _cluster.DisposeAsync();
        if (_broker is not null) await _broker.DisposeAsync();
        _workDir.Dispose();
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
    public Task KillAsync(string appId) => _cluster.KillAppAsync(_cluster[appId]);

    /// <summary>Starts a new instance of a killed app on the same port.</summary>
    public Task StartAsync(string appId) => _cluster.StartAppAgainAsync(_cluster[appId]);

    /// <summary>
    /// Kills <paramref name="appId"/> and puts a <see cref="StandInApp"/> on its port, next to its sidecar, answering
    /// every event with <paramref name="status"/>. Disposing the stand-in starts the real app again.
    /// </summary>
    public async Task<StandInApp> StandInForAsync(string appId, int status)
    {
        await KillAsync(appId);
        return await StandInApp.StartAsync(_cluster[appId].AppPort, status, () => StartAsync(appId));
    }

    /// <summary>A client that reaches <paramref name="appId"/> through its sidecar's invocation API, as curl would.</summary>
    public HttpClient Invoke(string appId) => SidecarClients.Invoke(_cluster[appId].Sidecar, appId);

    /// <summary>The app's own address (not through its sidecar), as a browser opens it, e.g. the monitor's flow page.</summary>
    public Uri AppUrl(string appId) => new($"http://127.0.0.1:{_cluster[appId].AppPort}/");

    /// <summary>The port an app listens on (its spans' server.port).</summary>
    public int AppPortOf(string appId) => _cluster[appId].AppPort;

    /// <summary>The Dapr HTTP API of one app's sidecar.</summary>
    public HttpClient SidecarOf(string appId) => SidecarClients.Http(_cluster[appId].Sidecar);
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

/// <summary>The choreography on the embedded broker, for the monitor tests, which lose events on purpose.</summary>
public sealed class LossyChoreographyCluster : OrderFlowCluster
{
    public override string Style => "choreography";
}

/// <summary>The order flow on a real broker, started for the cluster, with a copy of the repository's folder for it.</summary>
public abstract class BrokerCluster(string broker, string style) : OrderFlowCluster
{
    public override string Broker => broker;
    public override string Style => style;
}

public sealed class RedisChoreographyCluster() : BrokerCluster("redis", "choreography");
public sealed class RedisOrchestrationCluster() : BrokerCluster("redis", "orchestration");
public sealed class JetStreamChoreographyCluster() : BrokerCluster("jetstream", "choreography");
public sealed class JetStreamOrchestrationCluster() : BrokerCluster("jetstream", "orchestration");
public sealed class RabbitMqChoreographyCluster() : BrokerCluster("rabbitmq", "choreography");
public sealed class RabbitMqOrchestrationCluster() : BrokerCluster("rabbitmq", "orchestration");
