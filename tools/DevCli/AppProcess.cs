using System.Diagnostics;
using System.Runtime.InteropServices;

namespace DevCli;

/// <summary>
/// One app's process, run as the Dapr CLI runs it: in the app's folder, in its own process group (so a
/// terminal Ctrl-C reaches the runner only, and stopping the app also stops what it spawned, such as the
/// child of `dotnet run`), with every output line prefixed by the app id (the instance name, for one of several
/// instances of an app id) and the last lines kept for crash reports.
/// </summary>
public sealed class AppProcess : IAsyncDisposable
{
    public const int RememberedLines = 20;

    private const int SigKill = 9;
    private const int SigTerm = 15;

    private readonly Process _process;
    private readonly string _consolePrefix;
    private readonly TextWriter? _console;
    private readonly StreamWriter? _logFile;
    private readonly Queue<string> _lastLines = new();
    private readonly bool _ownProcessGroup;
    private string? _bindFailure;

    public string AppId { get; }
    public int Id => _process.Id;

    /// <summary>Completes with the exit code once the process has exited and its output is drained.</summary>
    public Task<int> Exited { get; }

    private AppProcess(AppSpec app, Process process, TextWriter? console, StreamWriter? logFile, bool ownProcessGroup)
    {
        AppId = app.AppId;
        _process = process;
        _console = console;
        _logFile = logFile;
        _ownProcessGroup = ownProcessGroup;
        _consolePrefix = $"== APP - {app.InstanceName} == ";
        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        Exited = WaitForExitAsync();
    }

    /// <param name="console">Where prefixed lines go, or null when the app logs to its file only.</param>
    /// <param name="logFilePath">Where unprefixed lines go, or null when the app logs to the console only.</param>
    public static AppProcess Start(AppSpec app, IReadOnlyDictionary<string, string> environment, TextWriter? console, string? logFilePath)
    {
        if (app.Command.Count == 0)
            throw new ArgumentException($"app '{app.AppId}' has no command", nameof(app));

        var ownProcessGroup = SetsidPath is not null;
        var startInfo = new ProcessStartInfo
        {
            FileName = ownProcessGroup ? SetsidPath! : app.Command[0],
            WorkingDirectory = app.AppDirPath,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in ownProcessGroup ? app.Command : app.Command.Skip(1))
            startInfo.ArgumentList.Add(argument);
        foreach (var (key, value) in environment)
            startInfo.Environment[key] = value;

        StreamWriter? logFile = null;
        if (logFilePath is not null)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(logFilePath)!);
            logFile = new StreamWriter(logFilePath, append: true) { AutoFlush = true };
        }

        var process = new Process { StartInfo = startInfo };
        try
        {
            process.Start();
        }
        catch (Exception e)
        {
            logFile?.Dispose();
            process.Dispose();
            throw new AppStartException(app.AppId, $"cannot start '{string.Join(' ', app.Command)}': {e.Message}");
        }
        // The CLI gives apps no stdin (Go's nil Stdin is /dev/null): close ours at once.
        process.StandardInput.Close();
        var appProcess = new AppProcess(app, process, console, logFile, ownProcessGroup);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return appProcess;
    }

    /// <summary>The last output lines, oldest first, for reporting a crash.</summary>
    public IReadOnlyList<string> LastLines()
    {
        lock (_lastLines) return [.. _lastLines];
    }

    /// <summary>
    /// The first output line saying the app could not listen because its address is taken ("address already in use",
    /// EADDRINUSE), or null. Kept apart from <see cref="LastLines"/>: the stack trace that follows it pushes it out.
    /// </summary>
    public string? BindFailure => Volatile.Read(ref _bindFailure);

    /// <summary>SIGTERM to the app's process group, then SIGKILL if it has not exited within the grace period.</summary>
    public async Task StopAsync(TimeSpan gracePeriod)
    {
        if (Exited.IsCompleted) return;
        if (OperatingSystem.IsWindows())
        {
            _process.Kill(entireProcessTree: true);
        }
        else
        {
            Signal(SigTerm);
            if (await Task.WhenAny(Exited, Task.Delay(gracePeriod)) == Exited)
            {
                // The app is gone; anything it left behind in its group goes too. Its own pid may
                // already belong to another process, so only the group is addressed.
                if (_ownProcessGroup) kill(-_process.Id, SigKill);
                return;
            }
            Signal(SigKill);
            _process.Kill(entireProcessTree: true);
        }
        await Exited;
    }

    /// <summary>Ends the app at once: for a forced shutdown.</summary>
    public void Kill()
    {
        if (Exited.IsCompleted) return;
        if (!OperatingSystem.IsWindows()) Signal(SigKill);
        _process.Kill(entireProcessTree: true);
    }

    public async ValueTask DisposeAsync()
    {
        Kill();
        await Exited;
        _process.Dispose();
        lock (_lastLines) _logFile?.Dispose();
    }

    private void Signal(int signal)
    {
        // A negative pid addresses the whole process group; fall back to the process alone if it has none.
        if (!(_ownProcessGroup && kill(-_process.Id, signal) == 0))
            kill(_process.Id, signal);
    }

    private void OnLine(string? line)
    {
        if (line is null) return;
        lock (_lastLines)
        {
            if (_lastLines.Count == RememberedLines) _lastLines.Dequeue();
            _lastLines.Enqueue(line);
            if (_bindFailure is null && (line.Contains("address already in use", StringComparison.OrdinalIgnoreCase)
                                         || line.Contains("EADDRINUSE", StringComparison.Ordinal)))
                Volatile.Write(ref _bindFailure, line.Trim());
            _logFile?.WriteLine(line);
        }
        _console?.WriteLine(_consolePrefix + line);
    }

    private async Task<int> WaitForExitAsync()
    {
        await _process.WaitForExitAsync();
        return _process.ExitCode;
    }

    /// <summary>util-linux setsid runs a command as the leader of a new session and process group, keeping its pid.</summary>
    private static readonly string? SetsidPath = OperatingSystem.IsWindows()
        ? null
        : new[] { "/usr/bin/setsid", "/bin/setsid" }.FirstOrDefault(File.Exists);

    [DllImport("libc", SetLastError = true)]
#pragma warning disable SYSLIB1054 // LibraryImport needs unsafe code enabled for the whole project; one int-only call does not justify that.
    private static extern int kill(int pid, int signal);
#pragma warning restore SYSLIB1054
}

/// <summary>An app whose command could not be started at all (for example, the program does not exist).</summary>
public sealed class AppStartException(string appId, string problem) : Exception($"app '{appId}': {problem}");
