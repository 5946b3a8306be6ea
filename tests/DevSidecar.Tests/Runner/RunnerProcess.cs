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

    private readonly ChildProcess _process;

    private RunnerProcess(ChildProcess process) => _process = process;

    public int Id => _process.Id;

    public string Output => _process.Output;

    /// <param name="registry">The sidecars' registry folder: sidecars sharing it can call each other, others cannot.</param>
    public static RunnerProcess Start(string registry, params string[] args) => StartWithHostArgs(registry, [], args);

    /// <param name="hostArgs">Options for `dotnet exec`, before the DLL (e.g. --runtimeconfig); none runs plain `dotnet`.</param>
    public static RunnerProcess StartWithHostArgs(string registry, IReadOnlyList<string> hostArgs, params string[] args) =>
        new(ChildProcess.Start("dotnet", [.. hostArgs.Count > 0 ? ["exec", .. hostArgs] : Array.Empty<string>(), TestPaths.DevCliDll, .. args],
            new Dictionary<string, string> { ["DEVSIDECAR_REGISTRY"] = registry }));

    /// <summary>Waits for the runner's "app 'x' is ready" line (of any instance, or of instance n of several) and returns the ports it names.</summary>
    public async Task<ReadyApp> WaitForReadyAsync(string appId, int? instance = null)
    {
        var which = instance is { } n ? $@" \(instance {n} of \d+, [^)]*\)" : @"(?: \(instance \d+ of \d+, [^)]*\))?";
        var match = await WaitForOutputAsync(
            new Regex($@"app '{Regex.Escape(appId)}'{which} is ready: (?:app port \d+|no app port), Dapr HTTP port (\d+), Dapr gRPC port (\d+)"),
            $"app '{appId}' to be ready");
        return new ReadyApp(int.Parse(match.Groups[1].Value), int.Parse(match.Groups[2].Value));
    }

    /// <summary>Waits, while the runner runs, for its output to match.</summary>
    public async Task<Match> WaitForOutputAsync(Regex pattern, string what)
    {
        Match? match = null;
        await _process.WaitWhileRunningAsync(() => (match = pattern.Match(Output)).Success, what, StartupDeadline);
        return match!;
    }

    /// <summary>The pid a PingApp prints when it starts.</summary>
    public async Task<int> WaitForPingAppPidAsync(string appId)
    {
        var pattern = new Regex($@"PingApp '{Regex.Escape(appId)}' starting, pid (\d+)");
        Match? match = null;
        await _process.WaitWhileRunningAsync(() => (match = pattern.Match(Output)).Success, $"app '{appId}' to print its pid", StartupDeadline);
        return int.Parse(match!.Groups[1].Value);
    }

    public void Signal(PosixSignal signal)
    {
        if (signal == PosixSignal.SIGINT) _process.SendSigint();
        else _process.SendSigterm();
    }

    public Task<int> WaitForExitAsync() => _process.WaitForExitAsync(ExitDeadline);

    public ValueTask DisposeAsync() => _process.DisposeAsync();
}

internal sealed record ReadyApp(int DaprHttpPort, int DaprGrpcPort);

/// <summary>Where the built DevCli and PingApp are.</summary>
internal static class TestPaths
{
    public static string DevCliDll => Repo.BuiltDll("tools/DevCli", "DevCli");
    public static string PingAppDll => Repo.BuiltDll("tests/TestApps/PingApp", "PingApp");
}
