using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using TestHosting;

namespace OrderFlow.Bench;

/// <summary>One way of starting the suite: the commands a user types, and how dapr.yaml runs each app.</summary>
public sealed record StartupWay(string Name, string Solution, string[] Build, string[] Runner, string? AppCommand)
{
    /// <summary>Today's README: build the suite once without build servers, run the runner's dll; apps run their dll.</summary>
    public static readonly StartupWay Now = new("now", "suite.slnf",
        ["build", "suite.slnf", "--disable-build-servers"], ["tools/DevCli/bin/Debug/net10.0/DevCli.dll", "run", "-f", "dapr.yaml"], null);

    /// <summary>The README before #15: `dotnet build && dotnet run --no-build --project tools/DevCli …`, apps under `dotnet run --no-build`.</summary>
    public static readonly StartupWay Before = new("before", "Dapr.sln",
        ["build", "Dapr.sln"], ["run", "--no-build", "--project", "tools/DevCli", "--", "run", "-f", "dapr.yaml"], """["dotnet", "run", "--no-build"]""");

    public string Command => $"dotnet {string.Join(' ', Build)} && dotnet {string.Join(' ', Runner)}";
}

public sealed record StartupResult(
    string Way, string Command, double RestoreSeconds, double FreshSeconds, double FreshBuildSeconds, List<double> WarmSeconds,
    double WarmBuildSeconds, double IdleRssMb, double LoadPeakRssMb, int Processes, Dictionary<string, double> RssByProcessMb,
    List<string> ResidentBuildTools, int OrdersCompleted)
{
    public double WarmMedianSeconds => WarmSeconds.Order().ElementAt(WarmSeconds.Count / 2);
}

/// <summary>
/// Section 5: the developer loop, measured as a user meets it, side by side with the way the README started the suite
/// before. For each way, in its own clone of HEAD (so the repo's own state files stay untouched): the package restore
/// (timed apart), then its command from a fresh clone to "N app(s) running", then warm restarts with nothing changed
/// (alternating between the ways, so machine load hits both), then, in the last warm run, the resident memory of the
/// whole running suite (the runner and every process under it) idle and while 200 orders go through, and the build
/// tools still running. The children run with the .NET SDK's defaults for build servers (MSBuild node reuse, the
/// shared compiler), whatever this machine's environment says, since that is what a user has.
/// </summary>
public static class StartupBench
{
    private const string Ready = "app(s) running";
    private static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(5);

    /// <summary>The environment variables that switch build servers off on this machine, cleared for the children.</summary>
    private static readonly Dictionary<string, string> SdkDefaults = new()
    {
        ["MSBUILDDISABLENODEREUSE"] = "", ["UseSharedCompilation"] = "", ["DOTNET_CLI_USE_MSBUILD_SERVER"] = "", ["DOTNET_NOLOGO"] = "1",
    };

    public static async Task<List<StartupResult>> RunAsync(BenchOptions o, string workDir)
    {
        var ways = new[] { StartupWay.Before, StartupWay.Now };
        var clones = new Dictionary<StartupWay, string>();
        var fresh = new Dictionary<StartupWay, (double Restore, double Total, double Build)>();
        foreach (var way in ways)
        {
            clones[way] = await CloneAsync(way, workDir);
            var restore = Stopwatch.StartNew();
            await RunToEndAsync(clones[way], ["restore", way.Solution]);
            var restoreSeconds = restore.Elapsed.TotalSeconds;
            await using var run = await StartAsync(way, clones[way]);
            fresh[way] = (restoreSeconds, run.ReadySeconds, run.BuildSeconds);
            Console.Error.WriteLine($"[startup] {way.Name}: restore {restoreSeconds:0.0} s, fresh clone to ready {run.ReadySeconds:0.0} s (build {run.BuildSeconds:0.0} s)");
            await StopBuildServersAsync(clones[way]);
        }

        var warm = ways.ToDictionary(w => w, _ => new List<double>());
        var warmBuild = ways.ToDictionary(w => w, _ => 0.0);
        var results = new List<StartupResult>();
        for (var round = 0; round < o.Rounds; round++)
        {
            foreach (var way in ways)
            {
                await using var run = await StartAsync(way, clones[way]);
                warm[way].Add(run.ReadySeconds);
                warmBuild[way] = run.BuildSeconds;
                Console.Error.WriteLine($"[startup] {way.Name}: warm start {run.ReadySeconds:0.0} s (build {run.BuildSeconds:0.0} s)");
                if (round == o.Rounds - 1)
                {
                    var idle = Tree(run.Runner.Id);
                    var buildTools = ResidentBuildTools(run.ProcessesBefore, idle.Keys);
                    var (peak, completed) = await LoadAsync(run.Runner.Id, o.Quick ? 50 : 200);
                    results.Add(new StartupResult(way.Name, way.Command, fresh[way].Restore, fresh[way].Total, fresh[way].Build, warm[way],
                        warmBuild[way], idle.Values.Sum(p => p.RssMb), peak, idle.Count,
                        idle.Values.GroupBy(p => p.Name).ToDictionary(g => g.Key, g => Math.Round(g.Sum(p => p.RssMb), 1)), buildTools, completed));
                }
                await StopBuildServersAsync(clones[way]);
            }
        }
        return results;
    }

    /// <summary>A clone of HEAD; for the old way, with dapr.yaml's apps run as they were then.</summary>
    private static async Task<string> CloneAsync(StartupWay way, string workDir)
    {
        var clone = Path.Combine(workDir, $"startup-{way.Name}");
        await using (var git = ChildProcess.Start("git", ["clone", "--quiet", Repo.Root, clone]))
            if (await git.WaitForExitAsync(TimeSpan.FromMinutes(2)) != 0) throw new InvalidOperationException($"git clone failed:\n{git.Output}");
        if (way.AppCommand is { } command)
        {
            var runFile = Path.Combine(clone, "dapr.yaml");
            var yaml = System.Text.RegularExpressions.Regex.Replace(await File.ReadAllTextAsync(runFile), @"command: \[""dotnet"", ""bin/[^\]]*\]", $"command: {command}");
            await File.WriteAllTextAsync(runFile, yaml);
        }
        return clone;
    }

    private sealed class Started(ChildProcess runner, double buildSeconds, double readySeconds, HashSet<int> processesBefore) : IAsyncDisposable
    {
        public ChildProcess Runner => runner;
        public double BuildSeconds => buildSeconds;
        public double ReadySeconds => readySeconds;
        public HashSet<int> ProcessesBefore => processesBefore;

        public async ValueTask DisposeAsync()
        {
            runner.SendSigterm();
            await runner.WaitForExitAsync(TimeSpan.FromSeconds(60));
            await runner.DisposeAsync();
        }
    }

    /// <summary>The way's command line, timed from the build's start to the runner's "N app(s) running".</summary>
    private static async Task<Started> StartAsync(StartupWay way, string clone)
    {
        var before = Processes().Keys.ToHashSet();
        var clock = Stopwatch.StartNew();
        await RunToEndAsync(clone, way.Build);
        var build = clock.Elapsed.TotalSeconds;
        var runner = ChildProcess.Start("dotnet", way.Runner, SdkDefaults, clone);
        await runner.WaitWhileRunningAsync(() => Task.FromResult(runner.Output.Contains(Ready, StringComparison.Ordinal)), $"{way.Name}: {Ready}", StartTimeout,
            TimeSpan.FromMilliseconds(50));
        return new Started(runner, build, clock.Elapsed.TotalSeconds, before);
    }

    private static async Task RunToEndAsync(string clone, string[] arguments)
    {
        await using var process = ChildProcess.Start("dotnet", arguments, SdkDefaults, clone);
        if (await process.WaitForExitAsync(StartTimeout) != 0)
            throw new InvalidOperationException($"dotnet {string.Join(' ', arguments)} failed:\n{process.Output}");
    }

    /// <summary>What a user's shell would leave after the build finished: the SDK's servers, stopped between runs.</summary>
    private static Task StopBuildServersAsync(string clone) => RunToEndAsync(clone, ["build-server", "shutdown"]);

    /// <summary>200 orders through the orders sidecar (8 at a time), then polled until terminal; the tree's peak RSS meanwhile.</summary>
    private static async Task<(double PeakRssMb, int Completed)> LoadAsync(int runnerPid, int orders)
    {
        using var http = new HttpClient { BaseAddress = new Uri("http://127.0.0.1:3500/v1.0/invoke/orders/method/") };
        var peak = 0.0;
        using var sampling = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                peak = Math.Max(peak, Tree(runnerPid).Values.Sum(p => p.RssMb));
                await Task.Delay(250);
            }
        });
        var ids = Enumerable.Range(0, orders).Select(i => $"bench-{Guid.NewGuid():N}").ToList();
        await Parallel.ForEachAsync(ids, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (id, ct) =>
        {
            using var placed = await http.PostAsJsonAsync("orders", new
            {
                orderId = id, customerId = "bench", items = new[] { new { sku = "keyboard", quantity = 1 } }, amount = 10m,
                shipTo = new { street = "1 Canal St", city = "Utrecht", country = "NL" },
            }, ct);
            placed.EnsureSuccessStatusCode();
        });
        var completed = 0;
        foreach (var id in ids)
        {
            await Wait.UntilAsync(async () =>
            {
                var order = await http.GetFromJsonAsync<JsonElement>($"orders/{id}");
                return order.GetProperty("status").GetString() is "Completed" or "Cancelled";
            }, $"order {id} to end", TimeSpan.FromMinutes(2), TimeSpan.FromMilliseconds(100));
            completed++;
        }
        await sampling.CancelAsync();
        await sampler;
        return (peak, completed);
    }

    private sealed record ProcessInfo(int Pid, int ParentPid, string Name, double RssMb);

    /// <summary>The process and everything under it, by pid.</summary>
    private static Dictionary<int, ProcessInfo> Tree(int root)
    {
        var all = Processes();
        var tree = new Dictionary<int, ProcessInfo>();
        var queue = new Queue<int>([root]);
        while (queue.TryDequeue(out var pid))
        {
            if (!all.TryGetValue(pid, out var p) || !tree.TryAdd(pid, p)) continue;
            foreach (var child in all.Values.Where(c => c.ParentPid == pid)) queue.Enqueue(child.Pid);
        }
        return tree;
    }

    /// <summary>MSBuild nodes, compiler and Razor servers, and `dotnet run` wrappers started since <paramref name="before"/> and still running.</summary>
    private static List<string> ResidentBuildTools(HashSet<int> before, IEnumerable<int> suite)
    {
        var suitePids = suite.ToHashSet();
        return Processes().Values
            .Where(p => !before.Contains(p.Pid))
            .Select(p => (p, Args: CommandLine(p.Pid)))
            .Where(x => x.Args.Contains("MSBuild.dll") || x.Args.Contains("VBCSCompiler") || x.Args.Contains("rzc.dll")
                        || (suitePids.Contains(x.p.Pid) && x.Args.Contains("dotnet run")))
            .Select(x => $"{x.Args[..Math.Min(x.Args.Length, 80)]} ({x.p.RssMb:0} MB)")
            .ToList();
    }

    private static Dictionary<int, ProcessInfo> Processes()
    {
        var result = new Dictionary<int, ProcessInfo>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            try
            {
                var stat = File.ReadAllText($"{dir}/stat");
                // pid (comm) state ppid …: comm may hold spaces and parentheses, so read after the last ')'.
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                result[pid] = new ProcessInfo(pid, int.Parse(fields[1]), Name(pid), MemoryBench.RssMb(pid));
            }
            catch (IOException) { } // it exited meanwhile
            catch (UnauthorizedAccessException) { }
        }
        return result;
    }

    private static string CommandLine(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ').Trim(); }
        catch (IOException) { return ""; }
    }

    /// <summary>A short name for the breakdown: the dll a `dotnet` process runs, `dotnet run`, or the program.</summary>
    private static string Name(int pid)
    {
        var args = CommandLine(pid).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (args.Length == 0) return "?";
        if (args.Length > 1 && args[1] == "run") return "dotnet run (wrapper)";
        return args.FirstOrDefault(a => a.EndsWith(".dll", StringComparison.Ordinal)) is { } dll ? Path.GetFileName(dll) : Path.GetFileName(args[0]);
    }
}
