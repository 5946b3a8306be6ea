using DevSidecar.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace TestHosting;

/// <summary>An app as the services are written: <c>Build(args)</c> reads APP_PORT, DAPR_HTTP_PORT and DAPR_GRPC_PORT
/// from its arguments. <paramref name="ProjectFolder"/> and <paramref name="AssemblyName"/> find its build output, to
/// run it as a child process.</summary>
public sealed record HostedApp(string AppId, Func<string[], WebApplication> Build, string ProjectFolder, string AssemblyName)
{
    public string BuiltDll => Repo.BuiltDll(ProjectFolder, AssemblyName);
}

/// <summary>How the sidecars of a <see cref="Cluster"/> are set up.</summary>
public sealed record ClusterOptions
{
    /// <summary>
    /// Component folders: names under components/ (<c>local</c>, <c>choreography</c>, …) or absolute paths. With any,
    /// components/resiliency is loaded too, as dapr.yaml lists it: the suite's retries are those of a real run.
    /// </summary>
    public IReadOnlyList<string> Resources { get; init; } = [];

    /// <summary>Component and subscription files of this cluster only (file name → YAML), loaded after <see cref="Resources"/>.</summary>
    public IReadOnlyDictionary<string, string> ResourceFiles { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// The sidecars' Dapr Configuration (YAML) — its spec.tracing: the sampling rate and exporters. Null: with any
    /// <see cref="Resources"/>, config/config.yaml, as dapr.yaml's configFilePath names it; else none (daprd's default).
    /// </summary>
    public string? Configuration { get; init; }

    /// <summary>Sidecars of one scope share their in-memory components, as the apps of one run do; by default the cluster's own.</summary>
    public string? Scope { get; init; }

    /// <summary>Changes every sidecar's options (tokens, grace period, …).</summary>
    public Func<SidecarOptions, SidecarOptions>? Sidecar { get; init; }

    /// <summary>Sidecar log lines from this level up also go to the console; all of them are kept in <see cref="Cluster.Logs"/>.</summary>
    public LogLevel ConsoleLogLevel { get; init; } = LogLevel.Warning;

    /// <summary>The lowest level <see cref="Cluster.Logs"/> keeps; <see cref="LogLevel.None"/> keeps nothing (the bench, which would measure the formatting).</summary>
    public LogLevel CapturedLogLevel { get; init; } = LogLevel.Information;

    /// <summary>What every in-process app gets after its ports and before its own arguments.</summary>
    public IReadOnlyList<string> AppArgs { get; init; } = ["--Logging:LogLevel:Default=Warning"];

    /// <summary>How long a start waits for the sidecars to be ready (app port open, subscriptions running).</summary>
    public TimeSpan ReadyTimeout { get; init; } = Wait.EndToEndTimeout;
}

/// <summary>
/// Apps and their dev sidecars hosted in this process, as `dapr run -f` runs them: each app on a free port, each
/// sidecar on the cluster's resources, all sharing one registry (so they can invoke each other) and one in-memory
/// scope, both private to the cluster, so clusters and tests run side by side. Apps run in-process
/// (<see cref="StartAsync(string, Func{string[], WebApplication}?, string[])"/>) or as child processes
/// (<see cref="StartChildAsync"/>), or elsewhere with only their sidecar here (<see cref="StartSidecarAsync"/>);
/// several may share an app id: they are instances of one app. Disposing stops the sidecars first (they let
/// deliveries in flight finish while the apps still answer), then the apps, then deletes the cluster's folder.
/// </summary>
public sealed class Cluster : IAsyncDisposable
{
    private static readonly TimeSpan ChildReadyTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan TeardownTimeout = TimeSpan.FromSeconds(15);

    private readonly ClusterOptions _options;
    private readonly TempFolder _folder = new("cluster-");
    private readonly string _scope;
    private readonly string _contentRoot;
    private readonly List<string> _resources;
    private readonly string? _configFile;
    private readonly List<Member> _members = [];
    private readonly List<Sidecar> _sidecars = [];
    private readonly List<IAsyncDisposable> _owned = [];

    public Cluster(params string[] resources) : this(new ClusterOptions { Resources = resources }) { }

    public Cluster(ClusterOptions options)
    {
        _options = options;
        _scope = options.Scope ?? Guid.NewGuid().ToString("N");
        RegistryDirectory = _folder.CreateFolder("registry");
        _contentRoot = _folder.CreateFolder("content");
        _resources = [.. options.Resources.Select(Repo.Components)];
        if (_resources.Count > 0 && !options.Resources.Contains("resiliency")) _resources.Add(Repo.Components("resiliency"));
        if (options.ResourceFiles.Count > 0)
        {
            foreach (var (file, yaml) in options.ResourceFiles) _folder.WriteFile(Path.Combine("resources", file), yaml);
            _resources.Add(_folder.Combine("resources"));
        }
        _configFile = options.Configuration is { } configuration ? _folder.WriteFile("config.yaml", configuration)
            : _resources.Count > 0 ? Repo.Path("config", "config.yaml") : null;
        Logs = new CapturedLogs(options.ConsoleLogLevel, options.CapturedLogLevel);
    }

    /// <summary>Where the cluster's sidecars register; a sidecar in another process registers here (DEVSIDECAR_REGISTRY) to join them.</summary>
    public string RegistryDirectory { get; }

    /// <summary>Every sidecar's log lines.</summary>
    public CapturedLogs Logs { get; }

    /// <summary>The first started instance of <paramref name="appId"/>.</summary>
    public Member this[string appId]
    {
        get { lock (_members) return _members.First(m => m.AppId == appId); }
    }

    /// <summary>The options a sidecar of this cluster starts with.</summary>
    private SidecarOptions SidecarOptionsFor(string appId, int? appPort)
    {
        var options = new SidecarOptions
        {
            AppId = appId,
            AppPort = appPort,
            ResourcesPaths = _resources,
            ConfigFile = _configFile,
            RegistryDirectory = RegistryDirectory,
            InMemoryScope = _scope,
            // `dapr run -f` starts daprd in the app's folder (cli v1.17.1 cmd/run.go): relative paths in components
            // (a state.sqlite file) are per app id, and private to this cluster.
            WorkingDirectory = _folder.CreateFolder("apps", appId),
            // Time only: daprd's 1 s wait before each outbox event would queue the tests' orders behind one another on
            // brokers that deliver one message at a time. The order of steps, and the outcome, stay daprd's.
            OutboxScanDelay = TimeSpan.FromMilliseconds(20),
        };
        return _options.Sidecar is { } change ? change(options) : options;
    }

    /// <summary>A sidecar for an app hosted elsewhere (null: no app); it returns once the APIs are up.</summary>
    public async Task<Sidecar> StartSidecarAsync(string appId, int? appPort, Func<SidecarOptions, SidecarOptions>? change = null)
    {
        var options = SidecarOptionsFor(appId, appPort);
        var sidecar = await Sidecar.StartAsync(change is null ? options : change(options), Logs.Factory);
        lock (_sidecars) _sidecars.Add(sidecar);
        return sidecar;
    }

    /// <summary>A sidecar for an app listening on <paramref name="appPort"/> (null: no app), once it is ready (its subscriptions run).</summary>
    public async Task<Sidecar> StartReadySidecarAsync(string appId, int? appPort)
    {
        var sidecar = await StartSidecarAsync(appId, appPort);
        await Wait.WithDeadline(sidecar.Ready, $"the sidecar of {appId} ready", _options.ReadyTimeout);
        return sidecar;
    }

    /// <summary>Something of the test's (an app it hosts itself) to dispose with the cluster, after the sidecars.</summary>
    public T Own<T>(T disposable) where T : IAsyncDisposable
    {
        lock (_owned) _owned.Add(disposable);
        return disposable;
    }

    /// <summary>An app hosted in this process with its sidecar, once ready; <paramref name="build"/> null for a sidecar with no app.</summary>
    public async Task<Member> StartAsync(string appId, Func<string[], WebApplication>? build, params string[] args)
    {
        if (build is null) return Add(new Member(appId, 0, await StartSidecarAsync(appId, appPort: null)));
        var member = await StartInProcessAsync(appId, build, args);
        await WaitReadyAsync([member], _options.ReadyTimeout);
        return member;
    }

    public Task<Member> StartAsync(HostedApp app, params string[] args) => StartAsync(app.AppId, app.Build, args);

    /// <summary>Several apps, each with its sidecar, started one after the other; returns once every sidecar is ready.</summary>
    public async Task<IReadOnlyDictionary<string, Member>> StartAllAsync(IEnumerable<HostedApp> apps, params string[] args)
    {
        var started = new Dictionary<string, Member>();
        foreach (var app in apps) started[app.AppId] = await StartInProcessAsync(app.AppId, app.Build, args);
        await WaitReadyAsync(started.Values, _options.ReadyTimeout);
        return started;
    }

    /// <summary>An app run as `dotnet {dll}` with APP_PORT, DAPR_HTTP_PORT and DAPR_GRPC_PORT set, as `dapr run` sets them.</summary>
    public async Task<Member> StartChildAsync(string appId, string dll, IReadOnlyDictionary<string, string> environment)
    {
        var appPort = FreePorts.PickOutsideEphemeralRange();
        var member = Add(new Member(appId, appPort, await StartSidecarAsync(appId, appPort)));
        member.ChildDll = dll;
        member.ChildEnvironment = new Dictionary<string, string>(environment)
        {
            ["APP_PORT"] = appPort.ToString(),
            ["DAPR_HTTP_PORT"] = member.Sidecar.HttpPort.ToString(),
            ["DAPR_GRPC_PORT"] = member.Sidecar.GrpcPort.ToString(),
        };
        member.Child = ChildProcess.StartDll(dll, member.ChildEnvironment);
        await WaitReadyAsync([member], ChildReadyTimeout);
        return member;
    }

    /// <summary>Starts the member's child process again on the same port, after it exited; returns once it answers.</summary>
    public async Task RestartChildAsync(Member member)
    {
        if (member.Child is { } old) await old.DisposeAsync();
        member.Child = ChildProcess.StartDll(member.ChildDll!, member.ChildEnvironment!);
        await Wait.UntilAsync(async () =>
        {
            try
            {
                return (await member.Invoke.GetAsync("healthz")).IsSuccessStatusCode;
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }, "the restarted app to answer", ChildReadyTimeout);
    }

    /// <summary>Stops an in-process app as SIGTERM would (gracefully) and starts a fresh one on the same port; the sidecar stays.</summary>
    public async Task RestartAppAsync(Member member)
    {
        await member.App!.StopAsync();
        await member.App.DisposeAsync();
        await StartAppAsync(member);
    }

    /// <summary>Stops an in-process app at once, with no grace (its work in flight is cut off, as with a kill); its
    /// sidecar stays up and keeps trying to reach it.</summary>
    public async Task KillAppAsync(Member member)
    {
        var app = member.App!;
        member.App = null;
        await app.StopAsync(new CancellationToken(canceled: true));
        await app.DisposeAsync();
    }

    /// <summary>Starts a new instance of a killed app on the same port.</summary>
    public Task StartAppAgainAsync(Member member) => StartAppAsync(member);

    public async ValueTask DisposeAsync()
    {
        Sidecar[] sidecars;
        Member[] members;
        IAsyncDisposable[] owned;
        lock (_sidecars) sidecars = [.. _sidecars];
        lock (_members) members = [.. _members];
        lock (_owned) owned = [.. _owned];
        foreach (var sidecar in sidecars) await TeardownAsync($"the sidecar of {sidecar.AppId}", sidecar.StopAsync);
        foreach (var member in members)
        {
            if (member.App is { } app) await TeardownAsync($"app {member.AppId}", async () => { await app.StopAsync(); await app.DisposeAsync(); });
            if (member.Child is { } child) await TeardownAsync($"app {member.AppId}'s process", () => child.DisposeAsync().AsTask());
            member.Invoke.Dispose();
            member.SidecarApi.Dispose();
        }
        foreach (var item in owned) await TeardownAsync(item.GetType().Name, () => item.DisposeAsync().AsTask());
        Logs.Dispose();
        _folder.Dispose();
    }

    private async Task<Member> StartInProcessAsync(string appId, Func<string[], WebApplication> build, string[] args)
    {
        // The free port is released before the app binds it, so another process may take it first: then start this
        // app and its sidecar again on another port.
        for (var attempt = 1; ; attempt++)
        {
            var appPort = FreePorts.PickOutsideEphemeralRange();
            var sidecar = await StartSidecarAsync(appId, appPort);
            var member = new Member(appId, appPort, sidecar)
            {
                Build = build,
                Args =
                [
                    $"--contentRoot={_contentRoot}",
                    $"--APP_PORT={appPort}",
                    $"--DAPR_HTTP_PORT={sidecar.HttpPort}",
                    $"--DAPR_GRPC_PORT={sidecar.GrpcPort}",
                    .. _options.AppArgs,
                    .. args,
                ],
            };
            try
            {
                await StartAppAsync(member);
                return Add(member);
            }
            catch (IOException e) when (e.InnerException is AddressInUseException && attempt < 5)
            {
                lock (_sidecars) _sidecars.Remove(sidecar);
                await sidecar.StopAsync();
                member.Invoke.Dispose();
                member.SidecarApi.Dispose();
            }
        }
    }

    private static async Task StartAppAsync(Member member)
    {
        var app = member.Build!(member.Args);
        try
        {
            await app.StartAsync();
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }
        member.App = app;
    }

    private static Task WaitReadyAsync(IEnumerable<Member> members, TimeSpan timeout) =>
        Wait.WithDeadline(Task.WhenAll(members.Select(m => m.Sidecar.Ready)),
            $"the sidecars of {string.Join(", ", members.Select(m => m.AppId))} ready (app port open, subscriptions running)", timeout);

    private Member Add(Member member)
    {
        lock (_members) _members.Add(member);
        return member;
    }

    /// <summary>A teardown step, bounded; a failure is reported on the console, not thrown: it must not mask the test's own result.</summary>
    private static async Task TeardownAsync(string what, Func<Task> step)
    {
        try
        {
            await step().WaitAsync(TeardownTimeout);
        }
        catch (Exception e)
        {
            await Console.Error.WriteLineAsync($"[cluster teardown] {what}: {e.GetType().Name}: {e.Message}");
        }
    }
}

/// <summary>One app instance and its sidecar.</summary>
public sealed class Member
{
    internal Member(string appId, int appPort, Sidecar sidecar)
    {
        AppId = appId;
        AppPort = appPort;
        Sidecar = sidecar;
        Invoke = SidecarClients.Invoke(sidecar, appId);
        SidecarApi = SidecarClients.Http(sidecar);
    }

    public string AppId { get; }

    /// <summary>0 for a sidecar with no app.</summary>
    public int AppPort { get; }

    public Sidecar Sidecar { get; }

    /// <summary>The in-process app; null for a child process or no app, and while killed.</summary>
    public WebApplication? App { get; internal set; }

    public ChildProcess? Child { get; internal set; }

    /// <summary>Calls this instance's app through its own sidecar (a sidecar invoking its own app id stays local), as curl would.</summary>
    public HttpClient Invoke { get; }

    /// <summary>Calls another app id through this sidecar; several instances of it are called in turn.</summary>
    public HttpClient InvokeApp(string targetAppId) => SidecarClients.Invoke(Sidecar, targetAppId);

    /// <summary>This sidecar's Dapr HTTP API (state, publish, metadata).</summary>
    public HttpClient SidecarApi { get; }

    /// <summary>A service of the in-process app.</summary>
    public T Service<T>() where T : notnull => App!.Services.GetRequiredService<T>();

    internal Func<string[], WebApplication>? Build { get; init; }
    internal string[] Args { get; init; } = [];
    internal string? ChildDll { get; set; }
    internal Dictionary<string, string>? ChildEnvironment { get; set; }
}
