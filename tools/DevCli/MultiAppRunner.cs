using System.Globalization;
using DevSidecar.Hosting;
using DevSidecar.Resources;
using Microsoft.Extensions.Logging;

namespace DevCli;

/// <summary>
/// Runs the apps of a run as `dapr run -f` does (Dapr CLI v1.17.1 cmd/run.go executeRun), with the dev sidecar in place
/// of daprd: one sidecar per app, all in this process (so they share the in-memory broker). Apps start in run-file order:
/// the sidecar and, without waiting for it, the app; the next app follows once this sidecar's API answers, never
/// waiting for an app to be ready, so the apps' own start-ups (and any `dotnet run` builds) overlap, as with the CLI.
/// An app that exits is reported and the others keep running, as with the CLI; the run ends on a stop request, when the
/// last app process has exited, on a sidecar's /v1.0/shutdown, or when an app fails to start or is not ready in time
/// (reported by name). Exit 1 if any app failed (exited non-zero or before it was ready), 0 otherwise.
/// </summary>
public sealed class MultiAppRunner(IReadOnlyList<AppSpec> apps, RunnerSettings settings, TextWriter output, TextWriter error)
{
    private readonly List<RunningApp> _running = [];
    private readonly string _logTimestamp = DateTime.Now.ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture);

    public async Task<int> RunAsync(CancellationToken stopRequested)
    {
        if (!StartupChecks.Pass(apps, settings.Template, error))
            return Ending.Failed.ExitCode;
        var ending = Ending.Stopped;
        try
        {
            foreach (var app in apps)
            {
                ending = await StartAsync(app, stopRequested);
                if (ending != Ending.Running) break;
            }
            if (ending == Ending.Running)
                ending = await WatchAsync(stopRequested);
        }
        finally
        {
            if (ending.Forced) await KillAllAsync();
            else await StopAllAsync();
        }
        return ending == Ending.Stopped && _running.Any(r => r.Failed) ? Ending.Failed.ExitCode : ending.ExitCode;
    }

    /// <summary>
    /// Starts one app's sidecar and process, as the CLI's startDaprdAndAppProcesses: unset Dapr ports are picked
    /// first (the app's environment names them), the app is launched while the sidecar is still starting (an app
    /// without a port only once the sidecar listens), and this returns once the sidecar's API answers (the CLI's
    /// metadata PUTs wait for that), whether or not the app is up.
    /// </summary>
    private async Task<Ending> StartAsync(AppSpec app, CancellationToken stopRequested)
    {
        var consoleForSidecar = app.DaprdLogDestination.HasFlag(LogDestination.Console) ? output : null;
        var loggerFactory = LoggerFactory.Create(logging => logging
            .SetMinimumLevel(app.LogLevel is null ? LogLevel.Information : SidecarLoggerProvider.DaprLogLevels[app.LogLevel])
            .AddProvider(new SidecarLoggerProvider(app.InstanceName, consoleForSidecar, LogFilePath(app, "daprd"))));
        var running = new RunningApp(app, loggerFactory);
        _running.Add(running);

        output.WriteLine($"== RUN == starting {app.Describe()}" + (app.Command.Count > 0 ? $": {string.Join(' ', app.Command)}" : " (sidecar only)"));
        if ((LogFilePath(app, "app") ?? LogFilePath(app, "daprd")) is { } logFile)
            output.WriteLine($"== RUN == {app.Describe()} writes log files to {Path.GetDirectoryName(logFile)}");

        var options = SidecarOptionsFor(app);
        var sidecarStarting = Task.Run(() => Sidecar.StartAsync(options, loggerFactory, stopRequested), CancellationToken.None);
        // The CLI waits for daprd's ports before starting an app that has no port of its own; otherwise it does not wait.
        if (app.AppPort is null && await SidecarStartedAsync(running, sidecarStarting, stopRequested) is { } sidecarFailed)
            return sidecarFailed;

        if (app.Command.Count > 0)
        {
            var environment = AppEnvironment.For(app, app.AppPort, options.HttpPort, options.GrpcPort, app.MetricsPort ?? FreePorts.Pick());
            var consoleForApp = app.AppLogDestination.HasFlag(LogDestination.Console) ? output : null;
            try
            {
                running.Process = AppProcess.Start(app, environment, consoleForApp, LogFilePath(app, "app"));
            }
            catch (AppStartException e)
            {
                error.WriteLine(e.Message);
                await SidecarStartedAsync(running, sidecarStarting, stopRequested);
                return Ending.Failed;
            }
        }

        if (running.Sidecar is null && await SidecarStartedAsync(running, sidecarStarting, stopRequested) is { } failed)
            return failed;
        if (running.Process is { } process)
            await PublishAppPidAsync(running.Sidecar!, process.Id);
        // An app started elsewhere (no command: say, in a debugger) may take as long as it likes to be ready.
        if (app.Command.Count > 0)
            running.ReadyDeadline = Task.Delay(settings.StartupTimeout, CancellationToken.None); // a stop request is watched on its own
        return Ending.Running;
    }

    /// <summary>Awaits the sidecar's start; null once it is up, otherwise how the run ends (reported).</summary>
    private async Task<Ending?> SidecarStartedAsync(RunningApp running, Task<Sidecar> starting, CancellationToken stopRequested)
    {
        var appId = running.Spec.Describe();
        try
        {
            running.Sidecar = await starting;
            return null;
        }
        catch (OperationCanceledException) when (stopRequested.IsCancellationRequested)
        {
            return Ending.Stopped;
        }
        catch (ResourceLoadException e)
        {
            error.WriteLine($"{appId}: cannot load resources: {e.File}: {e.Problem}");
            return Ending.Failed;
        }
        catch (Exception e)
        {
            error.WriteLine($"{appId}: the sidecar failed to start: {e.Message}");
            return Ending.Failed;
        }
    }

    /// <summary>
    /// Waits for the first event that ends the run, reporting meanwhile each app as it becomes ready and each app that
    /// exits: a stop request, the last app process exiting, a sidecar asked to shut down, a sidecar that cannot connect
    /// to its app, or an app not ready within the start-up timeout. An app that exits while others run ends nothing:
    /// with `dapr run -f` the others (and that app's daprd) keep running until Ctrl-C (cli v1.17.1 cmd/run.go
    /// executeRun waits on the signal channel alone; startAppProcess only prints the app's exit).
    /// </summary>
    private async Task<Ending> WatchAsync(CancellationToken stopRequested)
    {
        var stopped = Task.Delay(Timeout.Infinite, stopRequested);
        var notReady = _running.Where(r => r.Sidecar is not null).ToList();
        while (true)
        {
            var events = RunEndings();
            foreach (var running in notReady)
            {
                events[running.Sidecar!.Ready] = () => Ready(running);
                if (running.ReadyDeadline is { } deadline)
                    events[deadline] = () => running.Sidecar.Ready.IsCompleted ? Ending.Running : NotReadyInTime(running);
            }
            var first = await Task.WhenAny([stopped, .. events.Keys]);
            if (first == stopped) return Ending.Stopped;
            var ending = events[first]();
            if (ending != Ending.Running) return ending;

            var wasWaiting = notReady.Count > 0;
            // Only the app just reported: others that became ready meanwhile complete the next wait at once.
            notReady.RemoveAll(r => r.Sidecar!.Ready == first || r.ExitReported);
            if (wasWaiting && notReady.Count == 0 && _running.Any(r => !r.ExitReported))
                output.WriteLine($"== RUN == {_running.Count(r => !r.ExitReported)} app(s) running; press Ctrl-C to stop");
        }
    }

    private Ending Ready(RunningApp running)
    {
        var sidecar = running.Sidecar!;
        if (sidecar.Ready.IsFaulted)
        {
            error.WriteLine($"{running.Spec.Describe()}: the sidecar could not connect to the app: {sidecar.Ready.Exception!.GetBaseException().Message}");
            return Ending.Failed;
        }
        var appPort = running.Spec.AppPort is { } port ? $"app port {port}" : "no app port";
        output.WriteLine($"== RUN == {running.Spec.Describe()} is ready: {appPort}, Dapr HTTP port {sidecar.HttpPort}, Dapr gRPC port {sidecar.GrpcPort}");
        return Ending.Running;
    }

    private Ending NotReadyInTime(RunningApp running)
    {
        error.WriteLine($"{running.Spec.Describe()} was not ready within {settings.StartupTimeout.TotalSeconds:0} s"
            + (running.Spec.AppPort is { } p ? $" (nothing accepted connections on app port {p})" : "") + "; last lines:");
        WriteLastLines(running.Process);
        return Ending.Failed;
    }

    /// <summary>What the watch reacts to, for every app started so far: its process exiting (once) or its sidecar being asked to shut down.</summary>
    private Dictionary<Task, Func<Ending>> RunEndings()
    {
        var endings = new Dictionary<Task, Func<Ending>>();
        foreach (var running in _running)
        {
            if (running.Sidecar is { } sidecar)
                endings[sidecar.ShutdownRequested] = () => ShutdownRequestedBy(running);
            if (running.Process is { } process && !running.ExitReported)
                endings[process.Exited] = () => Exited(running);
        }
        return endings;
    }

    /// <summary>An app process exited: reported, and the run goes on while another app process runs.</summary>
    private Ending Exited(RunningApp running)
    {
        running.ExitReported = true;
        var code = ReportExit(running);
        running.Failed = code != 0 || running.Sidecar?.Ready.IsCompletedSuccessfully != true;
        var stillRunning = _running.Count(r => r.Process is not null && !r.ExitReported);
        if (stillRunning == 0)
        {
            output.WriteLine("== RUN == no app process is left; stopping the run");
            return Ending.Stopped;
        }
        output.WriteLine($"== RUN == {stillRunning} other app process(es) keep running, and so does the sidecar of {running.Spec.Describe()}; press Ctrl-C to stop");
        return Ending.Running;
    }

    private int ReportExit(RunningApp running)
    {
        var process = running.Process!;
        var who = running.Spec.Describe();
        var code = process.Exited.Result;
        if (code == 0 && running.Sidecar?.Ready.IsCompletedSuccessfully == true)
        {
            error.WriteLine($"{who} exited with code 0");
            return code;
        }
        error.WriteLine($"{who} exited with code {code}; last lines:");
        WriteLastLines(process);
        if (process.BindFailure is { } bindFailure)
            error.WriteLine($"{who} could not listen: its address is already in use by another process"
                + (running.Spec.AppPort is { } port && PortOwner.Find(port) is { } owner ? $" ({owner} holds app port {port})" : "")
                + $": \"{bindFailure}\"");
        if (code != 0 && LooksUnbuilt(running.Spec, process))
            error.WriteLine($"{who} runs `{string.Join(' ', running.Spec.Command)}`, which does not build, and its build output "
                + "is missing: build first (`dotnet build`; for this repo's dapr.yaml, `dotnet build suite.slnf`), then start the run again");
        return code;
    }

    /// <summary>
    /// An app that runs build output never built: `dotnet bin/…/X.dll` fails with "The application to execute does not
    /// exist", `dotnet run --no-build` with "… trying to start process '…/bin/…' … No such file or directory".
    /// </summary>
    private static bool LooksUnbuilt(AppSpec app, AppProcess process) =>
        (app.Command.Contains("--no-build") || app.Command.Any(arg => arg.EndsWith(".dll", StringComparison.OrdinalIgnoreCase)))
        && process.LastLines().Any(line => line.Contains("No such file or directory", StringComparison.Ordinal)
                                          || line.Contains("does not exist", StringComparison.Ordinal));

    private Ending ShutdownRequestedBy(RunningApp running)
    {
        var forced = running.Sidecar!.ShutdownRequested.Result;
        // daprd answers /v1.0/shutdown with its own graceful shutdown; the rest of the run then stops as on Ctrl-C.
        if (!forced) _ = running.Sidecar.StopAsync();
        output.WriteLine($"== RUN == the sidecar of {running.Spec.Describe()} was asked to shut down{(forced ? " (forced)" : "")}; stopping the run");
        return forced ? Ending.ForcedShutdown : Ending.Stopped;
    }

    private void WriteLastLines(AppProcess? process)
    {
        foreach (var line in process?.LastLines() ?? [])
            error.WriteLine($"  {line}");
    }

    /// <summary>
    /// The CLI's stop (cli v1.17.1 cmd/run.go gracefullyShutdownAppsAndCloseResources): app by app in run-file order,
    /// SIGKILL to daprd, then SIGTERM to the app's process group with a 5 s grace before SIGKILL. So an app shutting
    /// down can no longer reach its own sidecar, and the next app's sidecar lives until this app has stopped.
    /// </summary>
    private async Task StopAllAsync()
    {
        foreach (var running in _running)
        {
            if (running.Sidecar is { } sidecar) await KillSidecarAsync(running.Spec.Describe(), sidecar);
            if (running.Process is { } process) await process.StopAsync(settings.AppStopGracePeriod);
        }
        foreach (var running in _running)
        {
            if (running.Process is not null) await running.Process.DisposeAsync();
            running.LoggerFactory.Dispose();
        }
        output.WriteLine("== RUN == all apps stopped");
    }

    private async Task KillSidecarAsync(string who, Sidecar sidecar)
    {
        try
        {
            await sidecar.KillAsync();
        }
        catch (Exception e)
        {
            error.WriteLine($"{who}: the sidecar did not stop cleanly: {e.Message}");
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
            AppChannelAddress = app.AppChannelAddress ?? defaults.AppChannelAddress,
            AppProtocol = app.AppProtocol,
            // Picked before anything starts, as the CLI does (pkg/standalone/run.go validatePort), for the app's environment.
            HttpPort = app.DaprHttpPort ?? FreePorts.Pick(),
            GrpcPort = app.DaprGrpcPort ?? FreePorts.Pick(),
            ResourcesPaths = app.ResourcesPaths,
            ConfigFile = app.ConfigFile,
            WorkingDirectory = app.AppDirPath, // the Dapr CLI starts daprd in appDirPath (cli v1.17.1 cmd/run.go)
            EnableAppHealthCheck = app.EnableAppHealthCheck,
            AppHealthCheckPath = app.AppHealthCheckPath ?? defaults.AppHealthCheckPath,
            AppHealthProbeInterval = app.AppHealthProbeInterval ?? defaults.AppHealthProbeInterval,
            AppHealthProbeTimeout = app.AppHealthProbeTimeout ?? defaults.AppHealthProbeTimeout,
            AppHealthThreshold = app.AppHealthThreshold ?? defaults.AppHealthThreshold,
            ExtendedMetadata = ExtendedMetadataFor(app),
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

        /// <summary>Fires when the app has had its start-up timeout; null for a sidecar without an app command.</summary>
        public Task? ReadyDeadline { get; set; }

        /// <summary>Its process has exited and that was reported; the watch no longer waits for it.</summary>
        public bool ExitReported { get; set; }

        /// <summary>It exited non-zero or before it was ready: the run then exits with 1.</summary>
        public bool Failed { get; set; }
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
