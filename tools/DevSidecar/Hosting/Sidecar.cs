using DevSidecar.Api;
using DevSidecar.Invocation;
using DevSidecar.PubSub;
using DevSidecar.Resources;
using DevSidecar.Tracing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace DevSidecar.Hosting;

/// <summary>
/// One running dev sidecar: Dapr's HTTP API on <see cref="HttpPort"/>, its gRPC API on <see cref="GrpcPort"/>,
/// and the app channel to the app on <see cref="SidecarOptions.AppPort"/>. Start-up follows daprd's order:
/// components, then the APIs (outbound health ready), then wait for the app port, /dapr/config, /dapr/subscribe,
/// subscriptions (health ready).
/// </summary>
public sealed class Sidecar : IAsyncDisposable
{
    private readonly SidecarRuntime _runtime;
    private readonly WebApplication _httpApi;
    private readonly WebApplication _grpcApi;
    private readonly CancellationTokenSource _stopping = new();
    private readonly TaskCompletionSource<bool> _shutdownRequested = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<IAsyncDisposable> _subscriptions = [];
    private IReadOnlyList<IAsyncDisposable> _outboxSubscriptions = []; // not stopped while the app is unhealthy
    private readonly DeliveryTracker _deliveries = new();
    private Task _appInit = Task.CompletedTask;
    private Task _healthMonitor = Task.CompletedTask;
    private string? _registryFile;
    private readonly Lazy<Task> _stop;
    private bool _killed;

    public SidecarOptions Options { get; }
    public string AppId => Options.AppId;
    public int HttpPort { get; private set; }
    public int GrpcPort { get; private set; }

    /// <summary>Completes when someone asks this sidecar to shut down (POST /v1.0/shutdown or gRPC Shutdown);
    /// true for a forced shutdown (header dapr-force-shutdown: true).</summary>
    public Task<bool> ShutdownRequested => _shutdownRequested.Task;

    /// <summary>Completes when /v1.0/healthz turns 204: the app port is open and subscriptions are running.</summary>
    public Task Ready => _ready.Task;

    /// <summary>The app's calls to this sidecar and the deliveries to the app, by kind.</summary>
    public CallCounts Calls => _runtime.Calls;

    private Sidecar(SidecarOptions options, SidecarRuntime runtime, WebApplication httpApi, WebApplication grpcApi)
    {
        Options = options;
        _runtime = runtime;
        _httpApi = httpApi;
        _grpcApi = grpcApi;
        _stop = new Lazy<Task>(StopOnceAsync);
        runtime.RequestShutdown = force => _shutdownRequested.TrySetResult(force);
    }

    /// <summary>
    /// Loads the resources (a bad file throws <see cref="ResourceLoadException"/>), inits the components (one that
    /// cannot connect throws <see cref="ComponentInitException"/>), starts the HTTP and gRPC APIs and returns once they
    /// answer. Waiting for the app and fetching its subscriptions go on in the background.
    /// </summary>
    public static async Task<Sidecar> StartAsync(SidecarOptions options, ILoggerFactory loggerFactory, CancellationToken cancellationToken = default)
    {
        var startupLogger = loggerFactory.CreateLogger($"DevSidecar.{options.AppId}");
        // daprd loads its configuration before anything else, and stops on one it cannot read (pkg/runtime/config.go).
        var (tracingSpec, configWarnings) = DaprConfiguration.Load(options.ConfigFile);
        foreach (var warning in configWarnings) startupLogger.LogWarning("{Warning}", warning);
        // daprd sets up its tracer (and refuses a bad exporter) before it loads components (pkg/runtime/runtime.go initRuntime).
        var tracing = new SidecarTracing(options.AppId, tracingSpec, startupLogger);
        SidecarRuntime runtime;
        try
        {
            var resources = ResourceLoader.Load(options.ResourcesPaths, options.AppId, ComponentRegistry.KnownTypes);
            foreach (var warning in resources.Warnings) startupLogger.LogWarning("{Warning}", warning);
            var components = await ComponentRegistry.InitAsync(resources.Components, options, loggerFactory, cancellationToken);
            runtime = new SidecarRuntime(options, resources, components, loggerFactory, tracing);
        }
        catch
        {
            tracing.Dispose();
            throw;
        }

        var httpApi = BuildHost(options, loggerFactory, options.HttpPort, HttpProtocols.Http1, services => { });
        runtime.Calls.Hook(httpApi, mapRoute: true);
        httpApi.UseDaprTracing(runtime.Tracing);
        httpApi.MapWorkflowHttpApi(runtime);
        runtime.WorkflowPeers.Map(httpApi);
        httpApi.MapDaprHttpApi(runtime);

        var grpcApi = BuildHost(options, loggerFactory, options.GrpcPort, HttpProtocols.Http2, services =>
        {
            services.AddGrpc(o =>
            {
                o.Interceptors.Add<GrpcTracingInterceptor>(runtime.Tracing);
                o.Interceptors.Add<ApiTokenInterceptor>(options.ApiToken ?? "");
            });
            services.AddSingleton(runtime);
        });
        runtime.Calls.Hook(grpcApi, mapRoute: false);
        grpcApi.MapGrpcService<DaprGrpcApi>();
        grpcApi.MapGrpcService<TaskHubGrpcApi>();

        await runtime.Workflows.RecoverAsync(cancellationToken);
        var sidecar = new Sidecar(options, runtime, httpApi, grpcApi);
        await httpApi.StartAsync(cancellationToken);
        await grpcApi.StartAsync(cancellationToken);
        sidecar.HttpPort = BoundPort(httpApi);
        sidecar.GrpcPort = BoundPort(grpcApi);
        sidecar._registryFile = runtime.Registry.Register(new SidecarEntry(options.AppId, options.Namespace, sidecar.HttpPort, Environment.ProcessId, runtime.InternalToken));
        runtime.OutboundReady = true;
        runtime.Logger.LogInformation("dapr dev sidecar for app '{AppId}': HTTP API on {HttpPort}, gRPC API on {GrpcPort}, {Components} component(s)",
            options.AppId, sidecar.HttpPort, sidecar.GrpcPort, runtime.Components.Specs.Count);
        sidecar._appInit = Task.Run(sidecar.InitAppAsync);
        return sidecar;
    }

    private static WebApplication BuildHost(SidecarOptions options, ILoggerFactory loggerFactory, int port, HttpProtocols protocols, Action<IServiceCollection> configure)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = typeof(Sidecar).Assembly.GetName().Name });
        // The sidecar's own logs go to the caller's logger factory; the framework's request chatter does not.
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(new ForwardingLoggerProvider(loggerFactory));
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning).AddFilter("Grpc", LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(System.Net.IPAddress.Parse(options.ListenAddress), port, listen => listen.Protocols = protocols);
            kestrel.Limits.MaxRequestBodySize = null; // daprd's limit is checked per API, not on invocation streams
            kestrel.AddServerHeader = false;
        });
        configure(builder.Services);
        return builder.Build();
    }

    private static int BoundPort(WebApplication app) =>
        new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port;

    /// <summary>daprd's initRuntime tail: wait for the app, read its config and subscriptions, start delivering.</summary>
    private async Task InitAppAsync()
    {
        var token = _stopping.Token;
        try
        {
            var programmatic = (IReadOnlyList<SubscriptionSpec>)[];
            if (Options.AppPort is not null)
            {
                await _runtime.App.WaitForAppPortAsync(token);
                if (Options.EnableAppHealthCheck)
                {
                    while (!await _runtime.App.ProbeHealthAsync(token)) await Task.Delay(Options.AppHealthProbeInterval, token);
                }
                await _runtime.App.CallConfigAsync(token);
                programmatic = await _runtime.App.GetProgrammaticSubscriptionsAsync(token);
                await StartSubscriptionsAsync(programmatic, token);
                if (Options.EnableAppHealthCheck) _healthMonitor = Task.Run(() => MonitorAppHealthAsync(programmatic, token));
            }
            // daprd subscribes to its transactional outbox topics once the app is ready (pkg/runtime/runtime.go).
            _outboxSubscriptions = await _runtime.Outbox.SubscribeAsync(token);
            _runtime.Ready = true;
            _ready.TrySetResult();
            _runtime.Logger.LogInformation("app '{AppId}' is ready; {Count} subscription(s) running", Options.AppId, _runtime.ActiveSubscriptions.Count);
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            _ready.TrySetCanceled(token);
        }
        catch (Exception e)
        {
            _runtime.Logger.LogError(e, "initialising the app channel failed");
            _ready.TrySetException(e);
        }
    }

    /// <summary>
    /// daprd's app health checks: after <see cref="SidecarOptions.AppHealthThreshold"/> failed probes in a row the app is
    /// unhealthy; its subscriptions stop and invocations of it fail, until a probe succeeds again. Programmatic
    /// subscriptions are not fetched again (daprd reads /dapr/subscribe once).
    /// </summary>
    private async Task MonitorAppHealthAsync(IReadOnlyList<SubscriptionSpec> programmatic, CancellationToken token)
    {
        var failures = 0;
        try
        {
            while (true)
            {
                await Task.Delay(Options.AppHealthProbeInterval, token);
                var healthy = await _runtime.App.ProbeHealthAsync(token);
                failures = healthy ? 0 : failures + 1;
                if (_runtime.App.Healthy && failures >= Options.AppHealthThreshold)
                {
                    _runtime.App.Healthy = false;
                    _runtime.Logger.LogWarning("app '{AppId}' is unhealthy after {Failures} failed probes; subscriptions stopped", Options.AppId, failures);
                    await StopSubscriptionsAsync();
                }
                else if (!_runtime.App.Healthy && healthy)
                {
                    _runtime.App.Healthy = true;
                    _runtime.Logger.LogInformation("app '{AppId}' is healthy again; subscriptions restarted", Options.AppId);
                    await StartSubscriptionsAsync(programmatic, token);
                }
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested) { }
    }

    private async Task StopSubscriptionsAsync()
    {
        var handles = _subscriptions.ToList();
        _subscriptions.Clear();
        _runtime.ActiveSubscriptions = [];
        await Task.WhenAll(handles.Select(h => h.DisposeAsync().AsTask()));
    }

    /// <summary>One subscription per (pubsub, topic): programmatic ones override declarative ones, the first declarative one wins.</summary>
    private async Task StartSubscriptionsAsync(IReadOnlyList<SubscriptionSpec> programmatic, CancellationToken token)
    {
        var effective = new Dictionary<(string, string), SubscriptionSpec>();
        foreach (var s in programmatic) effective.TryAdd((s.PubSubName, s.Topic), s);
        foreach (var s in _runtime.DeclarativeSubscriptions) effective.TryAdd((s.PubSubName, s.Topic), s);

        var active = new List<SubscriptionSpec>();
        foreach (var subscription in effective.Values)
        {
            if (!_runtime.Components.PubSubs.TryGetValue(subscription.PubSubName, out var pubsub))
            {
                _runtime.Logger.LogError("subscription to topic '{Topic}' names pubsub '{PubSub}', which is not loaded; skipped",
                    subscription.Topic, subscription.PubSubName);
                continue;
            }
            EventDelivery delivery;
            try
            {
                delivery = new EventDelivery(subscription, pubsub, _runtime.App, _runtime.Resiliency, _runtime.Faults, _runtime.Tracing, _runtime.Logger);
            }
            catch (FormatException e)
            {
                _runtime.Logger.LogError("subscription to topic '{Topic}': {Error}; skipped", subscription.Topic, e.Message);
                continue;
            }
            var consumerGroup = pubsub.Spec.Get("consumerID") is { Length: > 0 } id ? id : Options.AppId;
            var handle = await pubsub.SubscribeAsync(subscription.Topic, consumerGroup, subscription.Metadata,
                (message, ct) =>
                {
                    _runtime.Calls.Count(CallCounts.Kinds.Delivery);
                    return _deliveries.Track(() => delivery.HandleAsync(message, ct));
                }, token);
            _subscriptions.Add(handle);
            active.Add(subscription);
        }
        _runtime.ActiveSubscriptions = active;
    }

    /// <summary>
    /// Graceful stop as daprd does it: stop taking new messages, let in-flight deliveries finish within
    /// <see cref="SidecarOptions.GracefulShutdown"/> while the APIs stay up (the app may call them to finish), then
    /// close the APIs. Every caller (the runner, /v1.0/shutdown's host, DisposeAsync) waits for the same stop to end.
    /// </summary>
    public Task StopAsync() => _stop.Value;

    /// <summary>
    /// What SIGKILL does to daprd, which is how the Dapr CLI ends it (cli v1.17.1 cmd/run.go killDaprdProcess:
    /// Process.Kill): no grace at all. No message is taken any more, open API and app connections are cut at once,
    /// in-flight deliveries are not waited for (their acks may never reach the broker, which then redelivers).
    /// A no-op if a stop has already begun.
    /// </summary>
    public Task KillAsync()
    {
        _killed = !_stop.IsValueCreated;
        return StopAsync();
    }

    private async Task StopOnceAsync()
    {
        using var grace = new CancellationTokenSource(_killed ? TimeSpan.Zero : Options.GracefulShutdown);

        await _stopping.CancelAsync();
        await _appInit;
        await _healthMonitor;
        var unsubscribed = Task.WhenAll(_subscriptions.Concat(_outboxSubscriptions).Select(s => s.DisposeAsync().AsTask()));
        try
        {
            await unsubscribed.WaitAsync(grace.Token);
        }
        catch (OperationCanceledException) when (_killed)
        {
            if (_deliveries.InFlight > 0)
                _runtime.Logger.LogWarning("killed with {Count} delivery(ies) in flight", _deliveries.InFlight);
        }
        catch (OperationCanceledException)
        {
            _runtime.Logger.LogWarning("graceful shutdown timed out with {Count} delivery(ies) in flight", _deliveries.InFlight);
        }

        if (_registryFile is not null) File.Delete(_registryFile);
        _runtime.OutboundReady = false;
        _runtime.Ready = false;
        await _runtime.Workflows.DisposeAsync(); // ends the work-item streams, so the gRPC server can stop
        await Task.WhenAll(_httpApi.StopAsync(grace.Token), _grpcApi.StopAsync(grace.Token));
        await _httpApi.DisposeAsync();
        await _grpcApi.DisposeAsync();
        await _runtime.Components.DisposeAsync();
        _runtime.App.Dispose();
        _runtime.Tracing.Dispose(); // flushes the exporters' batches
    }

    public async ValueTask DisposeAsync() => await StopAsync();

    private sealed class ForwardingLoggerProvider(ILoggerFactory factory) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => factory.CreateLogger(categoryName);
        public void Dispose() { }
    }

    /// <summary>Counts deliveries in flight, for the shutdown log.</summary>
    private sealed class DeliveryTracker
    {
        private int _inFlight;
        public int InFlight => Volatile.Read(ref _inFlight);

        public async Task Track(Func<Task> delivery)
        {
            Interlocked.Increment(ref _inFlight);
            try
            {
                await delivery();
            }
            finally
            {
                Interlocked.Decrement(ref _inFlight);
            }
        }
    }
}
