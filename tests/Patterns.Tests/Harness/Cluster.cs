using System.Net;
using System.Net.Sockets;
using DevSidecar.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Patterns.Tests.Harness;

/// <summary>
/// Apps and their dev sidecars for one test, on free ports, with their own in-memory scope and registry so tests can
/// run in parallel. Apps run in-process (<see cref="StartAsync"/>) or as child processes (<see cref="StartChildAsync"/>);
/// several members may share an app id: they are instances of one app.
/// </summary>
public sealed class Cluster(params string[] componentFolders) : IAsyncDisposable
{
    private readonly string _workDir = Directory.CreateTempSubdirectory("patterns-").FullName;
    private readonly string _scope = Guid.NewGuid().ToString("N");
    private readonly ILoggerFactory _logs = LoggerFactory.Create(b => b.AddConsole().SetMinimumLevel(LogLevel.Warning));
    private readonly List<Member> _members = [];

    /// <summary>An app hosted in this process, with its sidecar; <paramref name="build"/> null for a sidecar with no app.</summary>
    public async Task<Member> StartAsync(string appId, Func<string[], WebApplication>? build, params string[] args)
    {
        var member = await StartSidecarAsync(appId, build is null ? null : FreePort());
        member.Build = build;
        member.Args = [$"--contentRoot={Directory.CreateDirectory(Path.Combine(_workDir, "content")).FullName}", .. AppArgs(member), .. args];
        if (build is not null)
        {
            await StartAppAsync(member);
            await member.Sidecar.Ready.WaitAsync(TimeSpan.FromSeconds(30));
        }
        return member;
    }

    /// <summary>An app run as `dotnet {dll}` with APP_PORT, DAPR_HTTP_PORT and DAPR_GRPC_PORT set, as `dapr run` sets them.</summary>
    public async Task<Member> StartChildAsync(string appId, string dll, IReadOnlyDictionary<string, string> environment)
    {
        var member = await StartSidecarAsync(appId, FreePort());
        member.ChildDll = dll;
        member.ChildEnvironment = new Dictionary<string, string>(environment)
        {
            ["APP_PORT"] = member.AppPort.ToString(),
            ["DAPR_HTTP_PORT"] = member.Sidecar.HttpPort.ToString(),
            ["DAPR_GRPC_PORT"] = member.Sidecar.GrpcPort.ToString(),
        };
        member.Child = ChildApp.Start(dll, member.ChildEnvironment);
        await member.Sidecar.Ready.WaitAsync(TimeSpan.FromSeconds(60));
        return member;
    }

    /// <summary>Starts the member's child process again on the same port, after it exited.</summary>
    public async Task RestartChildAsync(Member member)
    {
        if (member.Child is { } old) await old.DisposeAsync();
        member.Child = ChildApp.Start(member.ChildDll!, member.ChildEnvironment!);
        await Eventually.WaitAsync(async () =>
        {
            try
            {
                return (await member.Invoke.GetAsync("healthz")).IsSuccessStatusCode;
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }, up => up, "the restarted app to answer", TimeSpan.FromSeconds(60));
    }

    /// <summary>Stops an in-process app (as SIGTERM would: graceful) and starts a fresh one on the same port; the sidecar stays.</summary>
    public async Task RestartAppAsync(Member member)
    {
        await member.App!.StopAsync();
        await member.App.DisposeAsync();
        await StartAppAsync(member);
    }

    public async Task StopSidecarAsync(Member member) => await member.Sidecar.StopAsync();

    private async Task StartAppAsync(Member member)
    {
        member.App = member.Build!(member.Args);
        await member.App.StartAsync();
    }

    private async Task<Member> StartSidecarAsync(string appId, int? appPort)
    {
        var sidecar = await Sidecar.StartAsync(new SidecarOptions
        {
            AppId = appId,
            AppPort = appPort,
            ResourcesPaths = [.. componentFolders.Select(f => Path.IsPathRooted(f) ? f : RepoPath("components", f))],
            RegistryDirectory = Path.Combine(_workDir, "registry"),
            InMemoryScope = _scope,
            DeliveryInitialBackoff = TimeSpan.FromMilliseconds(20),
        }, _logs);
        var member = new Member(appId, appPort ?? 0, sidecar);
        _members.Add(member);
        return member;
    }

    private static string[] AppArgs(Member member) =>
    [
        $"--APP_PORT={member.AppPort}",
        $"--DAPR_HTTP_PORT={member.Sidecar.HttpPort}",
        $"--DAPR_GRPC_PORT={member.Sidecar.GrpcPort}",
        "--Logging:LogLevel:Default=Warning",
    ];

    public async ValueTask DisposeAsync()
    {
        foreach (var member in _members)
        {
            if (member.App is { } app)
            {
                await app.StopAsync();
                await app.DisposeAsync();
            }
            if (member.Child is { } child) await child.DisposeAsync();
        }
        foreach (var member in _members) await member.Sidecar.StopAsync();
        _logs.Dispose();
        Directory.Delete(_workDir, recursive: true);
    }

    public static string RepoPath(params string[] parts)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Dapr.sln"))) dir = dir.Parent;
        return Path.Combine([dir?.FullName ?? throw new InvalidOperationException("Dapr.sln not found above the test binaries"), .. parts]);
    }

    private static readonly HashSet<int> PortsHandedOut = [];

    /// <summary>
    /// A free port below Linux's ephemeral range (32768+), never handed out twice in this process: an app restarted on
    /// its port must find it still free, and outgoing connections (which take ephemeral ports) cannot have taken it.
    /// </summary>
    private static int FreePort()
    {
        lock (PortsHandedOut)
        {
            while (true)
            {
                var port = Random.Shared.Next(20_000, 32_000);
                if (!PortsHandedOut.Add(port)) continue;
                try
                {
                    using var listener = new TcpListener(IPAddress.Loopback, port);
                    listener.Start();
                    return port;
                }
                catch (SocketException)
                {
                    // in use by someone else: try another
                }
            }
        }
    }
}

/// <summary>One app instance and its sidecar.</summary>
public sealed class Member(string appId, int appPort, Sidecar sidecar)
{
    public string AppId { get; } = appId;
    public int AppPort { get; } = appPort;
    public Sidecar Sidecar { get; } = sidecar;
    public WebApplication? App { get; internal set; }
    public ChildApp? Child { get; internal set; }
    internal Func<string[], WebApplication>? Build { get; set; }
    internal string[] Args { get; set; } = [];
    internal string? ChildDll { get; set; }
    internal Dictionary<string, string>? ChildEnvironment { get; set; }

    /// <summary>Calls this instance's app through its own sidecar (a sidecar invoking its own app id stays local), as curl would.</summary>
    public HttpClient Invoke { get; } = new() { BaseAddress = new Uri($"http://127.0.0.1:{sidecar.HttpPort}/v1.0/invoke/{appId}/method/") };

    /// <summary>Calls another app id through this sidecar; several instances of it are called in turn.</summary>
    public HttpClient InvokeApp(string targetAppId) =>
        new() { BaseAddress = new Uri($"http://127.0.0.1:{Sidecar.HttpPort}/v1.0/invoke/{targetAppId}/method/") };

    /// <summary>This sidecar's Dapr HTTP API (state, publish, metadata).</summary>
    public HttpClient SidecarApi { get; } = new() { BaseAddress = new Uri($"http://127.0.0.1:{sidecar.HttpPort}/") };

    public T Service<T>() where T : notnull => App!.Services.GetRequiredService<T>();
}
