using System.Net.Http.Headers;
using Dapr.Client;
using DevSidecar.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace DevSidecar.Tests.Conformance.Harness;

public sealed record HarnessOptions
{
    public string AppIdPrefix { get; init; } = "app";
    public string? ApiToken { get; init; }
    public string? AppApiToken { get; init; }
    public int DeliveryMaxRetries { get; init; } = 3;
    public TimeSpan DeliveryInitialBackoff { get; init; } = TimeSpan.FromMilliseconds(10);
    /// <summary>When true the sidecar starts first, pointed at a free port where nothing listens yet;
    /// call <see cref="Harness.StartAppAsync"/> to open it.</summary>
    public bool DeferApp { get; init; }
    /// <summary>Wait for Sidecar.Ready (app port open, /dapr/subscribe fetched) before returning.</summary>
    public bool WaitReady { get; init; } = true;
    /// <summary>Replaces MapSubscribeHandler's answer to GET /dapr/subscribe.</summary>
    public TestApp.SubscribeOverride? Subscribe { get; init; }
}

/// <summary>
/// A temp resources folder (components `pubsub` = pubsub.in-memory and `statestore` = state.in-memory, plus
/// declarative subscriptions), a per-harness registry folder, the in-process test app and a sidecar for it.
/// Cheap enough to create per test; every harness has its own ports, app id and folders.
/// </summary>
public sealed class Harness : IAsyncDisposable
{
    public static ILoggerFactory LoggerFactory { get; } =
        Environment.GetEnvironmentVariable("CONFORMANCE_LOG") is { Length: > 0 }
            ? Microsoft.Extensions.Logging.LoggerFactory.Create(b => b.AddSimpleConsole().SetMinimumLevel(LogLevel.Debug))
            : NullLoggerFactory.Instance;

    public required string AppId { get; init; }
    public required string Root { get; init; }
    public string ResourcesDir => Path.Combine(Root, "resources");
    public string RegistryDir => Path.Combine(Root, "registry");
    public required HarnessOptions Options { get; init; }
    public required Sidecar Sidecar { get; init; }
    public required int AppPort { get; init; }
    public TestApp? App { get; private set; }
    public required HttpClient Http { get; init; }
    public required DaprClient Dapr { get; init; }

    private readonly List<IAsyncDisposable> _extras = [];

    public TestApp RequireApp => App ?? throw new InvalidOperationException("app not started");

    public static string NewAppId(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 9)];

    public static async Task<Harness> StartAsync(HarnessOptions? options = null)
    {
        options ??= new HarnessOptions();
        var appId = NewAppId(options.AppIdPrefix);
        var root = Path.Combine(Path.GetTempPath(), "devsidecar-conformance", appId);
        Directory.CreateDirectory(Path.Combine(root, "resources"));
        Directory.CreateDirectory(Path.Combine(root, "registry"));
        WriteDefaultResources(Path.Combine(root, "resources"), appId);

        TestApp? app = null;
        int appPort;
        if (options.DeferApp) appPort = TestApp.FreePort();
        else
        {
            app = await TestApp.StartAsync(0, options.Subscribe);
            appPort = app.Port;
        }

        var sidecar = await Sidecar.StartAsync(SidecarOptionsFor(appId, appPort, root, options, scope: appId), LoggerFactory, CancellationToken.None);
        if (app is not null)
        {
            app.Sidecar.HttpPort = sidecar.HttpPort;
            app.Sidecar.GrpcPort = sidecar.GrpcPort;
        }
        var harness = new Harness
        {
            AppId = appId,
            Root = root,
            Options = options,
            Sidecar = sidecar,
            AppPort = appPort,
            Http = NewHttp(sidecar, options.ApiToken),
            Dapr = NewDaprClient(sidecar, options.ApiToken),
        };
        harness.App = app;
        if (app is not null && options.WaitReady)
            await Wait.WithDeadline(sidecar.Ready, $"sidecar {appId} Ready (app port open, subscriptions fetched)");
        return harness;
    }

    /// <summary>Options for a sidecar of this harness. All sidecars of one harness share <paramref name="scope"/>
    /// (the in-memory components are shared within a scope, like the apps of one run); harnesses are isolated from each other.</summary>
    public static SidecarOptions SidecarOptionsFor(string appId, int? appPort, string root, HarnessOptions options, string scope) => new()
    {
        AppId = appId,
        InMemoryScope = scope,
        AppPort = appPort,
        ResourcesPaths = [Path.Combine(root, "resources")],
        RegistryDirectory = Path.Combine(root, "registry"),
        ApiToken = options.ApiToken,
        AppApiToken = options.AppApiToken,
        DeliveryMaxRetries = options.DeliveryMaxRetries,
        DeliveryInitialBackoff = options.DeliveryInitialBackoff,
        DeliveryMaxBackoff = TimeSpan.FromMilliseconds(100),
        GracefulShutdown = TimeSpan.FromSeconds(1),
    };

    /// <summary>Opens the app on the port the sidecar was told about (DeferApp harnesses).</summary>
    public async Task<TestApp> StartAppAsync()
    {
        App = await TestApp.StartAsync(AppPort, Options.Subscribe);
        App.Sidecar.HttpPort = Sidecar.HttpPort;
        App.Sidecar.GrpcPort = Sidecar.GrpcPort;
        return App;
    }

    /// <summary>Another sidecar sharing this harness's resources and registry folders (so the two can invoke each other).</summary>
    public async Task<Sidecar> StartPeerSidecarAsync(string appIdPrefix, int? appPort = null, HarnessOptions? options = null)
    {
        var peer = await Sidecar.StartAsync(SidecarOptionsFor(NewAppId(appIdPrefix), appPort, Root, options ?? Options, scope: AppId), LoggerFactory, CancellationToken.None);
        _extras.Add(peer);
        return peer;
    }

    public static HttpClient NewHttp(Sidecar sidecar, string? token = null)
    {
        var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{sidecar.HttpPort}"), Timeout = TimeSpan.FromSeconds(30) };
        if (token is not null) http.DefaultRequestHeaders.Add("dapr-api-token", token);
        return http;
    }

    public static DaprClient NewDaprClient(Sidecar sidecar, string? token = null)
    {
        var b = new DaprClientBuilder()
            .UseHttpEndpoint($"http://127.0.0.1:{sidecar.HttpPort}")
            .UseGrpcEndpoint($"http://127.0.0.1:{sidecar.GrpcPort}")
            .UseTimeout(TimeSpan.FromSeconds(30));
        if (token is not null) b.UseDaprApiToken(token);
        return b.Build();
    }

    public async ValueTask DisposeAsync()
    {
        Dapr.Dispose();
        Http.Dispose();
        foreach (var extra in _extras) await Safe(extra);
        await Safe(Sidecar);
        if (App is not null) await Safe(App);
        try { Directory.Delete(Root, recursive: true); } catch { /* best effort */ }
    }

    private static async Task Safe(IAsyncDisposable d)
    {
        try { await d.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10)); } catch { /* teardown must not mask the test result */ }
    }

    public static StringContent Json(string json) => new(json, new MediaTypeHeaderValue("application/json"));

    private static void WriteDefaultResources(string dir, string appId)
    {
        File.WriteAllText(Path.Combine(dir, "components.yaml"), """
            apiVersion: dapr.io/v1alpha1
            kind: Component
            metadata:
              name: pubsub
            spec:
              type: pubsub.in-memory
              version: v1
              metadata: []
            ---
            apiVersion: dapr.io/v1alpha1
            kind: Component
            metadata:
              name: statestore
            spec:
              type: state.in-memory
              version: v1
              metadata:
                - name: actorStateStore
                  value: "true"
            ---
            apiVersion: dapr.io/v1alpha1
            kind: Component
            metadata:
              name: sharedstore
            spec:
              type: state.in-memory
              version: v1
              metadata:
                - name: keyPrefix
                  value: name
            """);
        // Declarative subscriptions (contract §2.6). The app id is in the scopes of the first one.
        File.WriteAllText(Path.Combine(dir, "subscriptions.yaml"), $"""
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
            """);
    }
}

/// <summary>Class fixture: one default harness shared by the tests of a class.</summary>
public sealed class HarnessFixture : IAsyncLifetime
{
    public Harness H { get; private set; } = null!;
    public Task InitializeAsync() => Init();
    private async Task Init() => H = await Harness.StartAsync();
    public async Task DisposeAsync() { if (H is not null) await H.DisposeAsync(); }
}
