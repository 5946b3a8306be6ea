using System.Diagnostics;

namespace TestHosting;

/// <summary>
/// A program run as a child process (an app as `dotnet App.dll`, the command line, a broker), its output collected
/// line by line, so a test can signal it as an orchestrator would. Disposing kills it and everything it started.
/// </summary>
public sealed class ChildProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly List<string> _lines = [];
    private Action<string>? _onLine;

    private ChildProcess(Process process) => _process = process;

    public int Id => _process.Id;
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;

    /// <summary>Everything written to stdout and stderr so far.</summary>
    public string Output
    {
        get { lock (_lines) return string.Join('\n', _lines); }
    }

    /// <summary>The last <paramref name="count"/> lines written.</summary>
    public IReadOnlyList<string> LastLines(int count)
    {
        lock (_lines) return _lines.TakeLast(count).ToList();
    }

    /// <summary>Starts <paramref name="program"/> with <paramref name="arguments"/> and, on top of this process's
    /// environment, <paramref name="environment"/>; <paramref name="onLine"/> sees each line as it is written.
    /// With <paramref name="writableInput"/> the test writes its stdin (<see cref="WriteLine"/>), e.g. a shell's commands.</summary>
    public static ChildProcess Start(string program, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null,
        string? workingDirectory = null, Action<string>? onLine = null, bool writableInput = false)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = writableInput,
            UseShellExecute = false,
        };
        if (workingDirectory is not null) start.WorkingDirectory = workingDirectory;
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) start.Environment[key] = value;
        start.Environment["DOTNET_NOLOGO"] = "1";
        var child = new ChildProcess(new Process { StartInfo = start, EnableRaisingEvents = true }) { _onLine = onLine };
        child._process.OutputDataReceived += (_, e) => child.Collect(e.Data);
        child._process.ErrorDataReceived += (_, e) => child.Collect(e.Data);
        child._process.Start();
        child._process.BeginOutputReadLine();
        child._process.BeginErrorReadLine();
        return child;
    }

    /// <summary>An app's built assembly run as `dotnet {dll}` in its own folder, as `dapr run` runs it.</summary>
    public static ChildProcess StartDll(string dll, IReadOnlyDictionary<string, string>? environment = null) =>
        Start("dotnet", [dll], environment, Path.GetDirectoryName(dll));

    /// <summary>Writes a line to the process's stdin (started with writableInput).</summary>
    public void WriteLine(string line)
    {
        _process.StandardInput.WriteLine(line);
        _process.StandardInput.Flush();
    }

    /// <summary>SIGTERM: what `dapr stop`, Kubernetes and the dev sidecar's runner send first.</summary>
    public void SendSigterm() => Signal("TERM");

    /// <summary>SIGINT: Ctrl-C.</summary>
    public void SendSigint() => Signal("INT");

    /// <summary>SIGKILL to the process and what it started: no shutdown at all, as when a machine dies.</summary>
    public void Kill() => _process.Kill(entireProcessTree: true);

    /// <summary>Waits for the exit; returns the exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        try
        {
            await _process.WaitForExitAsync().WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"process {_process.Id} ({_process.StartInfo.FileName}) did not exit within {timeout}; output:\n{Output}");
        }
        return _process.ExitCode;
    }

    /// <summary>Polls <paramref name="condition"/> with a deadline, failing at once (with the output) if the process exits first.</summary>
    public Task WaitWhileRunningAsync(Func<bool> condition, string what, TimeSpan timeout) =>
        WaitWhileRunningAsync(() => Task.FromResult(condition()), what, timeout);

    public async Task WaitWhileRunningAsync(Func<Task<bool>> condition, string what, TimeSpan timeout, TimeSpan? interval = null)
    {
        try
        {
            await Wait.UntilAsync(async () => _process.HasExited || await condition(), what, timeout, interval);
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{e.Message}; output:\n{Output}", e);
        }
        if (!_process.HasExited || await condition()) return;
        await _process.WaitForExitAsync(); // drains the output, so the message shows all of it
        throw new InvalidOperationException($"{_process.StartInfo.FileName} exited with {_process.ExitCode} while waiting for {what}; output:\n{Output}");
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }

    private void Signal(string signal)
    {
        using var kill = Process.Start("kill", [$"-{signal}", _process.Id.ToString()]);
        kill.WaitForExit();
        if (kill.ExitCode != 0) throw new InvalidOperationException($"kill -{signal} {_process.Id} failed with {kill.ExitCode}");
    }

    private void Collect(string? line)
    {
        if (line is null) return;
        lock (_lines) _lines.Add(line);
        _onLine?.Invoke(line);
    }
}
