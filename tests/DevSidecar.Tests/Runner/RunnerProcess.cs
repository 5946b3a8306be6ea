using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace DevSidecar.Tests.Runner;

/// <summary>
/// The DevSidecar command line run as a child process, as a user runs it, with its output collected.
/// Disposing kills it and everything it started, so a failing test leaves no apps behind.
/// </summary>
internal sealed class RunnerProcess : IAsyncDisposable
{
    /// <summary>Generous: the first start of an app on a busy two-core machine includes JIT and loading.</summary>
    public static readonly TimeSpan StartupDeadline = TimeSpan.FromSeconds(90);
    public static readonly TimeSpan ExitDeadline = TimeSpan.FromSeconds(30);

    private readonly Process _process;
    private readonly List<string> _lines = [];

    private RunnerProcess(Process process) => _process = process;

    public int Id => _process.Id;

    public string Output
    {
        get { lock (_lines) return string.Join('\n', _lines); }
    }

    /// <param name="registry">The sidecars' registry folder: sidecars sharing it can call each other, others cannot.</param>
    public static RunnerProcess Start(string registry, params string[] args) => StartWithHostArgs(registry, [], args);

    /// <param name="hostArgs">Options for `dotnet exec`, before the DLL (e.g. --runtimeconfig); none runs plain `dotnet`.</param>
    public static RunnerProcess StartWithHostArgs(string registry, IReadOnlyList<string> hostArgs, params string[] args)
    {
        var startInfo = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            Environment = { ["DEVSIDECAR_REGISTRY"] = registry },
        };
        if (hostArgs.Count > 0) startInfo.ArgumentList.Add("exec");
        foreach (var arg in hostArgs) startInfo.ArgumentList.Add(arg);
        startInfo.ArgumentList.Add(TestPaths.DevCliDll);
        foreach (var arg in args) startInfo.ArgumentList.Add(arg);

        var runner = new RunnerProcess(new Process { StartInfo = startInfo });
        runner._process.OutputDataReceived += (_, e) => runner.Collect(e.Data);
        runner._process.ErrorDataReceived += (_, e) => runner.Collect(e.Data);
        runner._process.Start();
        runner._process.BeginOutputReadLine();
        runner._process.BeginErrorReadLine();
        return runner;
    }

    /// <summary>Waits for the runner's "app 'x' is ready" line and returns the ports it names.</summary>
    public async Task<ReadyApp> WaitForReadyAsync(string appId)
    {
        var pattern = new Regex($@"app '{Regex.Escape(appId)}' is ready: (?:app port \d+|no app port), Dapr HTTP port (\d+), Dapr gRPC port (\d+)");
        Match? match = null;
        await WaitForAsync(() => (match = pattern.Match(Output)).Success, StartupDeadline, $"app '{appId}' to be ready");
        return new ReadyApp(int.Parse(match!.Groups[1].Value), int.Parse(match.Groups[2].Value));
    }

    /// <summary>The pid a PingApp prints when it starts.</summary>
    public async Task<int> WaitForPingAppPidAsync(string appId)
    {
        var pattern = new Regex($@"PingApp '{Regex.Escape(appId)}' starting, pid (\d+)");
        Match? match = null;
        await WaitForAsync(() => (match = pattern.Match(Output)).Success, StartupDeadline, $"app '{appId}' to print its pid");
        return int.Parse(match!.Groups[1].Value);
    }

    public void Signal(PosixSignal signal) =>
        kill(_process.Id, signal == PosixSignal.SIGINT ? 2 : 15).Should().Be(0);

    public async Task<int> WaitForExitAsync()
    {
        using var deadline = new CancellationTokenSource(ExitDeadline);
        try
        {
            await _process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"the runner did not exit within {ExitDeadline}; output:\n{Output}");
        }
        return _process.ExitCode;
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

    private void Collect(string? line)
    {
        if (line is null) return;
        lock (_lines) _lines.Add(line);
    }

    private async Task WaitForAsync(Func<bool> condition, TimeSpan within, string what)
    {
        var deadline = DateTime.UtcNow + within;
        while (!condition())
        {
            if (_process.HasExited)
            {
                await _process.WaitForExitAsync(); // drains the output, so the message shows all of it
                throw new InvalidOperationException($"the runner exited with {_process.ExitCode} while waiting for {what}; output:\n{Output}");
            }
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"waited {within} for {what}; output:\n{Output}");
            await Task.Delay(50);
        }
    }

    [DllImport("libc", SetLastError = true)]
#pragma warning disable SYSLIB1054 // LibraryImport would need unsafe code enabled for the test project.
    private static extern int kill(int pid, int signal);
#pragma warning restore SYSLIB1054
}

internal sealed record ReadyApp(int DaprHttpPort, int DaprGrpcPort);

/// <summary>Where the built DevCli and PingApp are, found from this test assembly's place in the solution layout.</summary>
internal static class TestPaths
{
    private static readonly DirectoryInfo OutputDirectory = new(Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory));

    // bin/<Configuration>/<TargetFramework>/
    private static readonly string TargetFramework = OutputDirectory.Name;
    private static readonly string Configuration = OutputDirectory.Parent!.Name;

    private static readonly string RepositoryRoot = FindRepositoryRoot();

    public static string DevCliDll => BuiltDll("tools/DevCli", "DevCli");
    public static string PingAppDll => BuiltDll("tests/TestApps/PingApp", "PingApp");

    private static string BuiltDll(string projectFolder, string assemblyName)
    {
        var dll = Path.Combine(RepositoryRoot, projectFolder, "bin", Configuration, TargetFramework, assemblyName + ".dll");
        return File.Exists(dll) ? dll : throw new FileNotFoundException($"{assemblyName} is not built; build Dapr.sln first", dll);
    }

    private static string FindRepositoryRoot()
    {
        for (var folder = OutputDirectory; folder is not null; folder = folder.Parent)
            if (File.Exists(Path.Combine(folder.FullName, "Dapr.sln"))) return folder.FullName;
        throw new InvalidOperationException($"no Dapr.sln above {OutputDirectory.FullName}");
    }
}
