using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace Docs.Tests;

/// <summary>
/// The suite as the README starts it: <c>dotnet tools/DevCli/bin/Debug/net10.0/DevCli.dll run -f dapr.yaml</c> from the
/// repository root, on the built apps (nothing is built here), stopped with SIGTERM as Ctrl-C's twin. The orchestration
/// style runs a copy of dapr.yaml with only the style line changed and its relative paths made absolute, in a temp folder.
/// </summary>
public sealed partial class StartedSuite : IAsyncDisposable
{
    private static readonly TimeSpan StartupDeadline = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan ExitDeadline = TimeSpan.FromSeconds(30);

    private readonly ChildProcess _runner;
    private readonly TempFolder _temp;

    private StartedSuite(ChildProcess runner, TempFolder temp) => (_runner, _temp) = (runner, temp);

    public string RunnerOutputTail => string.Join('\n', _runner.LastLines(40));

    /// <summary>Everything the runner printed so far: its own lines and the apps' and sidecars' console logs.</summary>
    public string RunnerOutput => _runner.Output;

    public static async Task<StartedSuite> StartAsync(Style style)
    {
        var runFileText = File.ReadAllText(Repo.Path("dapr.yaml"));
        EnsureBuilt(runFileText);
        var temp = new TempFolder("walkthrough-suite-");
        var runFile = style == Style.Choreography ? Repo.Path("dapr.yaml") : temp.WriteFile("dapr.yaml", OrchestrationRunFile(runFileText));
        // Its own sidecar registry: no other run on this machine (another checkout's tests) can join this one.
        var runner = ChildProcess.Start("dotnet", [Repo.BuiltDll("tools/DevCli", "DevCli"), "run", "-f", runFile],
            new Dictionary<string, string> { ["DEVSIDECAR_REGISTRY"] = temp.CreateFolder("registry") }, workingDirectory: Repo.Root);
        var suite = new StartedSuite(runner, temp);
        try
        {
            await runner.WaitWhileRunningAsync(() => RunningLine().IsMatch(runner.Output), "the runner's 'app(s) running' line", StartupDeadline);
            return suite;
        }
        catch
        {
            await suite.DisposeAsync();
            throw;
        }
    }

    /// <summary>dapr.yaml's fixed ports must be free: a suite already running (a developer's) would answer instead.
    /// Checked before the reset deletes any state, so a running suite's data is left alone.</summary>
    public static void EnsurePortsFree()
    {
        foreach (Match port in PortLine().Matches(File.ReadAllText(Repo.Path("dapr.yaml"))))
        {
            var listener = new TcpListener(IPAddress.Loopback, int.Parse(port.Groups[1].Value));
            try { listener.Start(); }
            catch (SocketException) { throw new InvalidOperationException($"port {port.Groups[1].Value} of dapr.yaml is in use: stop the running suite first"); }
            finally { listener.Stop(); }
        }
    }

    /// <summary>The runner and every app dll dapr.yaml names must be built (dotnet build Dapr.sln, or suite.slnf).</summary>
    private static void EnsureBuilt(string runFileText)
    {
        _ = Repo.BuiltDll("tools/DevCli", "DevCli");
        var apps = AppDll().Matches(runFileText);
        if (apps.Count != Regex.Count(runFileText, @"appDirPath:"))
            throw new InvalidOperationException("every app of dapr.yaml should name its dll as command: [\"dotnet\", \"bin/…/X.dll\"]");
        var missing = apps
            .Select(app => Repo.Path(app.Groups["dir"].Value, app.Groups["dll"].Value))
            .Where(dll => !File.Exists(dll))
            .ToList();
        if (missing.Count > 0) throw new FileNotFoundException($"not built (build Dapr.sln first): {string.Join(", ", missing)}");
    }

    /// <summary>dapr.yaml with the style line switched to orchestration, as the README tells the user to do, and
    /// every ./path made absolute, so the copy can live outside the repository.</summary>
    private static string OrchestrationRunFile(string runFileText)
    {
        var switched = runFileText.Replace("- ./components/choreography", "- ./components/orchestration");
        if (switched == runFileText) throw new InvalidOperationException("dapr.yaml has no '- ./components/choreography' style line");
        return RelativePath().Replace(switched, match => match.Groups[1].Value + Repo.Root + "/");
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_runner.HasExited)
            {
                _runner.SendSigterm();
                await _runner.WaitForExitAsync(ExitDeadline);
            }
        }
        catch (Exception e) when (e is TimeoutException or InvalidOperationException) { } // ended meanwhile, or hung: disposing kills it and all it started
        await _runner.DisposeAsync();
        _temp.Dispose();
    }

    [GeneratedRegex(@"\d+ app\(s\) running")]
    private static partial Regex RunningLine();

    [GeneratedRegex(@"(?:appPort|daprHTTPPort|daprGRPCPort):\s*(\d+)")]
    private static partial Regex PortLine();

    [GeneratedRegex(@"appDirPath:\s*\./(?<dir>\S+)\s*\n(?:\s+\w+:.*\n)*?\s+command:\s*\[""dotnet"",\s*""(?<dll>[^""]+)""\]")]
    private static partial Regex AppDll();

    [GeneratedRegex(@"((?:-|appDirPath:|configFilePath:)\s+)\./")]
    private static partial Regex RelativePath();
}
