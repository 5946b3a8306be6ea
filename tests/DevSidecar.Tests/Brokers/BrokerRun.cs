using System.Collections.Concurrent;
using DevSidecar.Hosting;
using DevSidecar.Tests.Conformance.Harness;
using Microsoft.Extensions.Logging;

namespace DevSidecar.Tests.Brokers;

/// <summary>
/// A temp resources folder holding the given components, and the sidecars started on it (any app ids, as many
/// instances as wanted, all sharing one registry). Sidecar logs are captured, so tests can check what was reported.
/// </summary>
public sealed class BrokerRun : IAsyncDisposable
{
    private readonly List<Sidecar> _sidecars = [];
    private readonly string _scope = Harness.NewAppId("brokers");

    public string Root { get; }
    public CapturedLogs Logs { get; } = new();

    private BrokerRun(string componentsYaml)
    {
        Root = Path.Combine(Path.GetTempPath(), "devsidecar-brokers", _scope);
        Directory.CreateDirectory(Path.Combine(Root, "resources"));
        Directory.CreateDirectory(Path.Combine(Root, "registry"));
        File.WriteAllText(Path.Combine(Root, "resources", "components.yaml"), componentsYaml);
    }

    public static BrokerRun With(string componentsYaml) => new(componentsYaml);

    /// <summary>A redis pub/sub named <c>pubsub</c> plus an in-memory <c>statestore</c> (so no workflow state goes to redis).</summary>
    public static string RedisPubSubYaml(string hostPort, params (string Key, string Value)[] extra) => $"""
        apiVersion: dapr.io/v1alpha1
        kind: Component
        metadata:
          name: pubsub
        spec:
          type: pubsub.redis
          version: v1
          metadata:
            - name: redisHost
              value: "{hostPort}"
        {string.Concat(extra.Select(e => $"    - name: {e.Key}\n      value: \"{e.Value}\"\n"))}---
        apiVersion: dapr.io/v1alpha1
        kind: Component
        metadata:
          name: statestore
        spec:
          type: state.in-memory
          version: v1
          metadata: []
        """;

    public async Task<Sidecar> StartSidecarAsync(string appId, int? appPort)
    {
        var options = Harness.SidecarOptionsFor(appId, appPort, Root, new HarnessOptions(), _scope);
        var sidecar = await Sidecar.StartAsync(options, Logs.Factory);
        lock (_sidecars) _sidecars.Add(sidecar);
        return sidecar;
    }

    /// <summary>Starts a sidecar for the app and waits until its subscriptions run.</summary>
    public async Task<Sidecar> StartReadySidecarAsync(string appId, SubscriberApp app)
    {
        var sidecar = await StartSidecarAsync(appId, app.Port);
        await Wait.WithDeadline(sidecar.Ready, $"sidecar of {appId} ready");
        return sidecar;
    }

    public async ValueTask DisposeAsync()
    {
        Sidecar[] sidecars;
        lock (_sidecars) sidecars = [.. _sidecars];
        foreach (var sidecar in sidecars)
        {
            try { await sidecar.StopAsync().WaitAsync(TimeSpan.FromSeconds(10)); } catch { /* teardown must not mask the result */ }
        }
        try { Directory.Delete(Root, recursive: true); } catch { /* best effort */ }
    }
}

/// <summary>Log lines of every sidecar of a run (and, with CONFORMANCE_LOG set, the console too).</summary>
public sealed class CapturedLogs
{
    private readonly ConcurrentQueue<(LogLevel Level, string Text)> _lines = new();

    public CapturedLogs() => Factory = LoggerFactory.Create(b =>
    {
        b.SetMinimumLevel(LogLevel.Information).AddProvider(new Provider(this));
        if (Environment.GetEnvironmentVariable("CONFORMANCE_LOG") is { Length: > 0 }) b.AddSimpleConsole();
    });

    public ILoggerFactory Factory { get; }

    public bool Any(LogLevel level, string fragment) =>
        _lines.Any(l => l.Level >= level && l.Text.Contains(fragment, StringComparison.OrdinalIgnoreCase));

    private sealed class Provider(CapturedLogs logs) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new Logger(logs);
        public void Dispose() { }
    }

    private sealed class Logger(CapturedLogs logs) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            logs._lines.Enqueue((logLevel, formatter(state, exception)));
    }
}
