using Dapr.Client;
using DevSidecar.Hosting;
using Microsoft.Extensions.Logging;

namespace DevSidecar.Tests.Conformance.Harness;

public sealed record HarnessOptions
{
    public string AppIdPrefix { get; init; } = "app";
    public string? ApiToken { get; init; }
    public string? AppApiToken { get; init; }
    /// <summary>Retries of a failed delivery, as a Resiliency resource (a constant 10 ms apart) on the component
    /// <c>pubsub</c>'s inbound side; null: no Resiliency resource, so daprd's single attempt.</summary>
    public int? DeliveryRetries { get; init; } = 3;
    /// <summary>When true the sidecar starts first, pointed at a free port where nothing listens yet;
    /// call <see cref="Harness.StartAppAsync"/> to open it.</summary>
    public bool DeferApp { get; init; }
    /// <summary>Wait for Sidecar.Ready (app port open, /dapr/subscribe fetched) before returning.</summary>
    public bool WaitReady { get; init; } = true;
    /// <summary>Replaces MapSubscribeHandler's answer to GET /dapr/subscribe.</summary>
    public TestApp.SubscribeOverride? Subscribe { get; init; }
}

/// <summary>
/// The conformance suite's cluster: the in-process test app and a sidecar for it, on the components <c>pubsub</c>
/// (pubsub.in-memory), <c>statestore</c> (state.in-memory, per sidecar) and <c>sharedstore</c> (state.sqlite, one file) and the suite's declarative
/// subscriptions. Cheap enough to create per test; every harness has its own ports, app id, scope and folders.
/// </summary>
public sealed class Harness : IAsyncDisposable
{
    private readonly Cluster _cluster;
    private readonly TempFolder _folder;

    private Harness(Cluster cluster, TempFolder folder, string appId, HarnessOptions options, Sidecar sidecar, int appPort, TestApp? app)
    {
        _cluster = cluster;
        _folder = folder;
        AppId = appId;
        Options = options;
        Sidecar = sidecar;
        AppPort = appPort;
        App = app;
        Http = SidecarClients.Http(sidecar, options.ApiToken);
        Dapr = SidecarClients.Dapr(sidecar, options.ApiToken);
    }

    public string AppId { get; }
    public HarnessOptions Options { get; }
    public Sidecar Sidecar { get; }
    public int AppPort { get; }
    public TestApp? App { get; private set; }
    public HttpClient Http { get; }
    public DaprClient Dapr { get; }

    public TestApp RequireApp => App ?? throw new InvalidOperationException("app not started");

    public static string NewAppId(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 9)];

    /// <summary>
    /// A cluster as the conformance and broker suites set sidecars up: delivery retried under a Resiliency policy with
    /// a short back-off (<see cref="HarnessOptions.DeliveryRetries"/>), a one-second grace period, tokens if asked,
    /// sidecar logs kept and not printed.
    /// </summary>
    public static ClusterOptions ClusterOptions(IReadOnlyDictionary<string, string> resourceFiles, HarnessOptions? options = null, string? scope = null)
    {
        options ??= new HarnessOptions();
        var files = new Dictionary<string, string>(resourceFiles);
        if (options.DeliveryRetries is { } retries) files["resiliency.yaml"] = DeliveryResiliency(retries);
        return new ClusterOptions
        {
            ResourceFiles = files,
            Scope = scope,
            ConsoleLogLevel = LogLevel.None,
            ReadyTimeout = Wait.DefaultTimeout,
            Sidecar = o => o with
            {
                ApiToken = options.ApiToken,
                AppApiToken = options.AppApiToken,
                GracefulShutdown = TimeSpan.FromSeconds(1),
            },
        };
    }

    /// <summary>A Resiliency resource that retries deliveries from the component <c>pubsub</c> <paramref name="retries"/> times, 10 ms apart.</summary>
    public static string DeliveryResiliency(int retries) => $"""
        apiVersion: dapr.io/v1alpha1
        kind: Resiliency
        metadata:
          name: delivery
        spec:
          policies:
            retries:
              delivery:
                policy: constant
                duration: 10ms
                maxRetries: {retries}
          targets:
            components:
              pubsub:
                inbound:
                  retry: delivery
        """;

    /// <summary>A cluster on the suite's sidecar settings and <paramref name="componentsYaml"/>, for sidecars of any app ids.</summary>
    public static Cluster ClusterWith(string componentsYaml, HarnessOptions? options = null) =>
        new(ClusterOptions(new Dictionary<string, string> { ["components.yaml"] = componentsYaml }, options));

    public static async Task<Harness> StartAsync(HarnessOptions? options = null)
    {
        options ??= new HarnessOptions();
        var appId = NewAppId(options.AppIdPrefix);
        // All sidecars of one harness share its scope (the in-memory components are shared within a scope, like the
        // apps of one run); harnesses are isolated from each other.
        var folder = new TempFolder("harness-");
        var cluster = new Cluster(ClusterOptions(
            new Dictionary<string, string> { ["components.yaml"] = Components(folder), ["subscriptions.yaml"] = Subscriptions(appId) }, options, scope: appId));
        var app = options.DeferApp ? null : cluster.Own(await TestApp.StartAsync(0, options.Subscribe));
        var appPort = app?.Port ?? FreePorts.PickOutsideEphemeralRange();
        var sidecar = app is not null && options.WaitReady
            ? await cluster.StartReadySidecarAsync(appId, appPort)
            : await cluster.StartSidecarAsync(appId, appPort);
        app?.UseSidecar(sidecar);
        return new Harness(cluster, folder, appId, options, sidecar, appPort, app);
    }

    /// <summary>Opens the app on the port the sidecar was told about (DeferApp harnesses).</summary>
    public async Task<TestApp> StartAppAsync()
    {
        App = _cluster.Own(await TestApp.StartAsync(AppPort, Options.Subscribe));
        App.UseSidecar(Sidecar);
        return App;
    }

    /// <summary>Another sidecar, with no app, of this harness's cluster (so the two can invoke each other).</summary>
    public Task<Sidecar> StartPeerSidecarAsync(string appIdPrefix) => _cluster.StartSidecarAsync(NewAppId(appIdPrefix), appPort: null);

    public async ValueTask DisposeAsync()
    {
        Dapr.Dispose();
        Http.Dispose();
        await _cluster.DisposeAsync();
        _folder.Dispose();
    }

    // sharedstore is shared by the harness's sidecars as a database file is on daprd (state.in-memory is per sidecar).
    private static string Components(TempFolder folder) => ComponentYaml.Join(
        ComponentYaml.Of("pubsub", "pubsub.in-memory"),
        ComponentYaml.Of("statestore", "state.in-memory", ("actorStateStore", "true")),
        ComponentYaml.Of("sharedstore", "state.sqlite", ("keyPrefix", "name"), ("connectionString", folder.Combine("shared.db"))));

    /// <summary>The suite's declarative subscriptions (v1alpha1 and v2alpha1, routing rules, scopes); the app id is in the
    /// scopes of the first one.</summary>
    private static string Subscriptions(string appId) => $"""
            apiVersion: dapr.io/v2alpha1
            kind: Subscription
            metadata:
              name: decl-v2
            spec:
              pubsubname: pubsub
              topic: decl-v2
              routes:
                rules:
                  - match: event.type == "special"
                    path: /decl/v2-special
                default: /decl/v2-default
            scopes:
              - {appId}
            ---
            apiVersion: dapr.io/v1alpha1
            kind: Subscription
            metadata:
              name: decl-v1
            spec:
              pubsubname: pubsub
              topic: decl-v1
              route: /decl/v1
            ---
            apiVersion: dapr.io/v2alpha1
            kind: Subscription
            metadata:
              name: decl-scoped-out
            spec:
              pubsubname: pubsub
              topic: decl-scoped
              routes:
                default: /decl/scoped
            scopes:
              - some-other-app
            ---
            apiVersion: dapr.io/v2alpha1
            kind: Subscription
            metadata:
              name: decl-orders-overridden
            spec:
              pubsubname: pubsub
              topic: orders
              routes:
                default: /decl/orders-declarative
            ---
            apiVersion: dapr.io/v2alpha1
            kind: Subscription
            metadata:
              name: decl-nested-topic
            spec:
              pubsubname: pubsub
              topic: nested/topic
              routes:
                default: /decl/nested
            ---
            apiVersion: dapr.io/v2alpha1
            kind: Subscription
            metadata:
              name: decl-no-match
            spec:
              pubsubname: pubsub
              topic: decl-nomatch
              routes:
                rules:
                  - match: event.type == "never-sent"
                    path: /decl/nomatch
            ---
            apiVersion: dapr.io/v2alpha1
            kind: Subscription
            metadata:
              name: decl-cel
            spec:
              pubsubname: pubsub
              topic: decl-cel
              routes:
                rules:
                  - match: event.data.kind == "big" && event.data.size > 10
                    path: /decl/cel-big
                  - match: event.data.kind == "small" && !(event.data.size >= 2 || event.type == "never")
                    path: /decl/cel-small
                default: /decl/cel-default
            """;
}

/// <summary>Class fixture: one default harness shared by the tests of a class.</summary>
public sealed class HarnessFixture : IAsyncLifetime
{
    public Harness H { get; private set; } = null!;
    public Task InitializeAsync() => Init();
    private async Task Init() => H = await Harness.StartAsync();
    public async Task DisposeAsync() { if (H is not null) await H.DisposeAsync(); }
}
