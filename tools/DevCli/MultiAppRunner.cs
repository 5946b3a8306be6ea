using System.Globalization;
using DevSidecar.Hosting;
using DevSidecar.Resources;
using Microsoft.Extensions.Logging;

namespace DevCli;

/// <summary>
/// Runs the apps of a run as `dapr run -f` does, with the dev sidecar in place of daprd: one sidecar per app, all
/// in this process (so they share the in-memory broker), started one app at a time; each app is started only after
/// the previous one is ready, so concurrent `dotnet run` builds cannot clobber shared outputs. The run ends on a
/// stop request (exit 0), on a sidecar's /v1.0/shutdown, or when an app exits or fails to start (reported by name).
/// </summary>
public sealed class MultiAppRunner(IReadOnlyList<AppSpec> apps, RunnerSettings settings, TextWriter output, TextWriter error)
{
    private readonly List<RunningApp> _running = [];
    private readonly string _logTimestamp = DateTime.Now.ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture);

    public async Task<int> RunAsync(CancellationToken stopRequested)
    {
        var ending = Ending.Stopped;
        try
        {
            foreach (var app in apps)
            {
                ending = await StartAsync(app, stopRequested);
                if (ending != Ending.Running) break;
            }
            if (ending == Ending.Running)
            {
                output.WriteLine($"== RUN == {apps.Count} app(s) running; press Ctrl-C to stop");
                ending = await WatchAsync(stopRequested);
            }
        }
        finally
        {
            if (ending.Forced) await KillAllAsync();
            else await StopAllAsync();
        }
        return ending.ExitCode;
    }

    private async Task<Ending> StartAsync(AppSpec app, CancellationToken stopRequested)
    {
        var consoleForSidecar = app.DaprdLogDestination.HasFlag(LogDestination.Console) ? output : null;
        var loggerFactory = LoggerFactory.Create(logging => logging
            .SetMinimumLevel(app.LogLevel is null ? LogLevel.Information : SidecarLoggerProvider.DaprLogLevels[app.LogLevel])
            .AddProvider(new SidecarLoggerProvider(app.AppId, consoleForSidecar, LogFilePath(app, "daprd"))));
        var running = new RunningApp(app, loggerFactory);
        _running.Add(running);

        output.WriteLine($"== RUN == starting app '{app.AppId}'" + (app.Command.Count > 0 ? $": {string.Join(' ', app.Command)}" : " (sidecar only)"));
        if ((LogFilePath(app, "app") ?? LogFilePath(app, "daprd")) is { } logFile)
            output.WriteLine($"== RUN == app '{app.AppId}' writes log files to {Path.GetDirectoryName(logFile)}");
        try
        {
            running.Sidecar = await Sidecar.StartAsync(SidecarOptionsFor(app), loggerFactory, stopRequested);
        }
        catch (OperationCanceledException) when (stopRequested.IsCancellationRequested)
        {
            return Ending.Stopped;
        }
        catch (ResourceLoadException e)
        {
            error.WriteLine($"app '{app.AppId}': cannot load resources: {e.File}: {e.Problem}");
            return Ending.Failed;
        }
        catch (Exception e)
        {
            error.WriteLine($"app '{app.AppId}': the sidecar failed to start: {e.Message}");
            return Ending.Failed;
        }

        var sidecar = running.Sidecar;
        if (app.Command.Count > 0)
        {
            var environment = AppEnvironment.For(app, app.AppPort, sidecar.HttpPort, sidecar.GrpcPort, app.MetricsPort ?? FreePorts.Pick());
            var consoleForApp = app.AppLogDestination.HasFlag(LogDestination.Console) ? output : null;
            try
            {
                running.Process = AppProcess.Start(app, environment, consoleForApp, LogFilePath(app, "app"));
            }
            catch (AppStartException e)
            {
                error.WriteLine(e.Message);
                return Ending.Failed;
            }
            await PublishAppPidAsync(sidecar, running.Process.Id);
        }

        // An app started elsewhere (no command: say, in a debugger) may take as long as it likes.
        var timedOut = Task.Delay(app.Command.Count > 0 ? settings.StartupTimeout : Timeout.InfiniteTimeSpan, stopRequested);
        // Apps started before this one may still die or be shut down while it starts.
        var endings = RunEndings(starting: running);
        var first = await Task.WhenAny([sidecar.Ready, timedOut, .. endings.Keys]);

        if (first == sidecar.Ready && sidecar.Ready.IsCompletedSuccessfully)
        {
            var appPort = app.AppPort is { } port ? $"app port {port}" : "no app port";
            output.WriteLine($"== RUN == app '{app.AppId}' is ready: {appPort}, Dapr HTTP port {sidecar.HttpPort}, Dapr gRPC port {sidecar.GrpcPort}");
            return Ending.Running;
        }
        if (first == sidecar.Ready && sidecar.Ready.IsFaulted)
        {
            error.WriteLine($"app '{app.AppId}': the sidecar could not connect to the app: {sidecar.Ready.Exception!.GetBaseException().Message}");
            return Ending.Failed;
        }
        if (endings.TryGetValue(first, out var ending)) return ending();
        if (stopRequested.IsCancellationRequested) return Ending.Stopped;

        error.WriteLine($"app '{app.AppId}' was not ready within {settings.StartupTimeout.TotalSeconds:0} s"
            + (app.AppPort is { } p ? $" (nothing accepted connections on app port {p})" : "") + "; last lines:");
        WriteLastLines(running.Process);
        return Ending.Failed;
    }

    /// <summary>Waits for the first event that ends a run that is up.</summary>
    private async Task<Ending> WatchAsync(CancellationToken stopRequested)
    {
        var stopped = Task.Delay(Timeout.Infinite, stopRequested);
        var endings = RunEndings(starting: null);
        var first = await Task.WhenAny([stopped, .. endings.Keys]);
        return endings.TryGetValue(first, out var ending) ? ending() : Ending.Stopped;
    }

    /// <summary>
    /// What ends the run, for every app started so far: its process exiting (a failure unless it exited with 0
    /// after it was ready) or its sidecar being asked to shut down.
    /// </summary>
    private Dictionary<Task, Func<Ending>> RunEndings(RunningApp? starting)
    {
        var endings = new Dictionary<Task, Func<Ending>>();
        foreach (var running in _running)
        {
            if (running.Sidecar is { } sidecar)
                endings[sidecar.ShutdownRequested] = () => ShutdownRequestedBy(running);
            if (running.Process is { } process)
                endings[process.Exited] = () => ReportExit(process) == 0 && running != starting ? Ending.Stopped : Ending.Failed;
        }
        return endings;
    }

    private int ReportExit(AppProcess process)
    {
        var code = process.Exited.Result;
        error.WriteLine($"app '{process.AppId}' exited with code {code}; last lines:");
        WriteLastLines(process);
        return code;
    }

    private Ending ShutdownRequestedBy(RunningApp running)
    {
        var forced = running.Sidecar!.ShutdownRequested.Result;
        output.WriteLine($"== RUN == the sidecar of app '{running.Spec.AppId}' was asked to shut down{(forced ? " (forced)" : "")}; stopping the run");
        return forced ? Ending.ForcedShutdown : Ending.Stopped;
    }

    private void WriteLastLines(AppProcess? process)
    {
        foreach (var line in process?.LastLines() ?? [])
            error.WriteLine($"  {line}");
    }

    private async Task StopAllAsync()
    {
        // Apps first, so that their own shutdown can still call their sidecars (daprd does not drain apps either).
        await Task.WhenAll(_running.Where(r => r.Process is not null).Select(r => r.Process!.StopAsync(settings.AppStopGracePeriod)));
        await Task.WhenAll(_running.Select(StopSidecarAsync));
        foreach (var running in _running)
        {
            if (running.Process is not null) await running.Process.DisposeAsync();
            running.LoggerFactory.Dispose();
        }
        output.WriteLine("== RUN == all apps stopped");
    }

    private async Task StopSidecarAsync(RunningApp running)
    {
        if (running.Sidecar is null) return;
        try
        {
            await running.Sidecar.StopAsync();
        }
        catch (Exception e)
        {
            error.WriteLine($"app '{running.Spec.AppId}': the sidecar did not stop cleanly: {e.Message}");
        }
    }

    /// <summary>A forced shutdown: daprd answers 204 and exits about 100 ms later, which lets the answer reach the caller.</summary>
    private async Task KillAllAsync()
    {
        foreach (var running in _running)
            running.Process?.Kill();
        await Task.Delay(TimeSpan.FromMilliseconds(100));
    }

    private SidecarOptions SidecarOptionsFor(AppSpec app)
    {
        var defaults = new SidecarOptions { AppId = app.AppId };
        return defaults with
        {
            AppPort = app.AppPort,
            AppChannelAddress = app.AppChannelAddress,
            AppProtocol = app.AppProtocol,
            HttpPort = app.DaprHttpPort ?? 0,
            GrpcPort = app.DaprGrpcPort ?? 0,
            ResourcesPaths = app.ResourcesPaths,
            EnableAppHealthCheck = app.EnableAppHealthCheck,
            AppHealthCheckPath = app.AppHealthCheckPath ?? defaults.AppHealthCheckPath,
            AppHealthProbeInterval = app.AppHealthProbeInterval ?? defaults.AppHealthProbeInterval,
            AppHealthProbeTimeout = app.AppHealthProbeTimeout ?? defaults.AppHealthProbeTimeout,
            AppHealthThreshold = app.AppHealthThreshold ?? defaults.AppHealthThreshold,
            ExtendedMetadata = ExtendedMetadataFor(app),
            WorkingDirectory = app.AppDirPath, // the Dapr CLI starts daprd in the app folder
        };
    }

    /// <summary>The keys the Dapr CLI writes into the metadata API's extended section (appPID follows once the app runs).</summary>
    private Dictionary<string, string> ExtendedMetadataFor(AppSpec app)
    {
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["cliPID"] = Environment.ProcessId.ToString(CultureInfo.InvariantCulture),
            ["appCommand"] = string.Join(' ', app.Command),
        };
        if (settings.Template is { } template)
        {
            metadata["runTemplatePath"] = template.TemplatePath;
            metadata["runTemplateName"] = template.Name ?? "";
        }
        if (LogFilePath(app, "app") is { } appLog) metadata["appLogPath"] = appLog;
        if (LogFilePath(app, "daprd") is { } daprdLog) metadata["daprdLogPath"] = daprdLog;
        return metadata;
    }

    /// <summary>Like the CLI, which learns the app's pid only after the sidecar is up: PUT /v1.0/metadata/appPID.</summary>
    private async Task PublishAppPidAsync(Sidecar sidecar, int pid)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        try
        {
            using var response = await http.PutAsync($"http://127.0.0.1:{sidecar.HttpPort}/v1.0/metadata/appPID",
                new StringContent(pid.ToString(CultureInfo.InvariantCulture)));
            response.EnsureSuccessStatusCode();
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            error.WriteLine($"app '{sidecar.AppId}': could not record appPID in the sidecar's metadata: {e.Message}");
        }
    }

    /// <summary>&lt;appDir&gt;/.dapr/logs/{appId}_{app|daprd}_{yyyyMMddHHmmss}.log, when that log goes to a file
    /// ({appId}-{n} for the instances of an app id listed more than once).</summary>
    private string? LogFilePath(AppSpec app, string source)
    {
        var destination = source == "app" ? app.AppLogDestination : app.DaprdLogDestination;
        return destination.HasFlag(LogDestination.File)
            ? Path.Combine(app.AppDirPath, ".dapr", "logs", $"{app.InstanceName}_{source}_{_logTimestamp}.log")
            : null;
    }

    private sealed class RunningApp(AppSpec spec, ILoggerFactory loggerFactory)
    {
        public AppSpec Spec { get; } = spec;
        public ILoggerFactory LoggerFactory { get; } = loggerFactory;
        public Sidecar? Sidecar { get; set; }
        public AppProcess? Process { get; set; }
    }

    /// <summary>How a run ends; compared by reference, since Running and Stopped share an exit code.</summary>
    private sealed class Ending(int exitCode, bool forced = false)
    {
        public int ExitCode { get; } = exitCode;
        public bool Forced { get; } = forced;

        public static readonly Ending Running = new(0);
        public static readonly Ending Stopped = new(0);
        public static readonly Ending Failed = new(1);
        public static readonly Ending ForcedShutdown = new(1, forced: true);
    }
}
