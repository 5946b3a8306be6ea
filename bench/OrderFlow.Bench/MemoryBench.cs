using System.Diagnostics;
using DevSidecar.Hosting;
using TestHosting;

namespace OrderFlow.Bench;

public sealed record MemoryResult(
    string Build, string Command, double IdleRssMb, double LoadPeakRssMb, double LoadEndRssMb, double AfterLoadRssMb,
    int LoadRate, LatencyStats LoadLatency, string? Skipped,
    Dictionary<string, double>? IdleBreakdownMb = null, Dictionary<string, double>? LoadBreakdownMb = null, List<string>? TopMappings = null);

/// <summary>
/// Resident memory of one dev sidecar in its own process (the runner's `run --app-id echo --app-port …`, no app command),
/// idle and under the invocation load of section 1 routed through it (caller sidecar in the bench → it → the echo app);
/// for the JIT build (`dotnet DevCli.dll`, what `dotnet run` starts) and for the native AOT build, if published.
/// </summary>
public static class MemoryBench
{
    /// <summary>The command that publishes the native sidecar where this bench looks for it (the publish default).</summary>
    public const string NativePublishCommand = "dotnet publish tools/DevCli -c Release -r linux-x64 -p:PublishAot=true";

    public static async Task<List<MemoryResult>> RunAsync(BenchOptions o, string workDir)
    {
        var results = new List<MemoryResult>();
        var dll = new[] { "Release", "Debug" }.Select(c => Repo.Path("tools", "DevCli", "bin", c, "net10.0", "DevCli.dll")).FirstOrDefault(File.Exists);
        results.Add(dll is null
            ? Skipped("jit", "tools/DevCli/bin/Release/net10.0/DevCli.dll not built")
            : await MeasureAsync("jit", "dotnet", [dll], o, workDir));
        var native = Repo.Path("tools", "DevCli", "bin", "Release", "net10.0", "linux-x64", "publish", "DevCli");
        results.Add(!File.Exists(native)
            ? Skipped("native AOT", $"not published; run `{NativePublishCommand}` first")
            : File.GetLastWriteTimeUtc(native) < NewestSource()
                ? Skipped("native AOT", $"older than the sidecar's sources; run `{NativePublishCommand}` again")
                : await MeasureAsync("native AOT", native, [], o, workDir));
        return results;
    }

    private static DateTime NewestSource() =>
        Directory.EnumerateFiles(Repo.Path("tools"), "*", SearchOption.AllDirectories)
            .Where(f => f.EndsWith(".cs", StringComparison.Ordinal) || f.EndsWith("proj", StringComparison.Ordinal) || f.EndsWith(".props", StringComparison.Ordinal))
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}") && !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}"))
            .Select(File.GetLastWriteTimeUtc).DefaultIfEmpty(DateTime.MinValue).Max();

    private static MemoryResult Skipped(string build, string reason) => new(build, "", 0, 0, 0, 0, 0, LatencyStats.Of([]), reason);

    private static async Task<MemoryResult> MeasureAsync(string build, string program, string[] programArgs, BenchOptions o, string workDir)
    {
        await using var target = await EchoTarget.StartAppAsync();
        var resources = Directory.CreateDirectory(Path.Combine(workDir, "memory-resources")).FullName; // no components: a bare sidecar
        var httpPort = FreePorts.Pick();
        string[] arguments = [.. programArgs, "run", "--app-id", "echo", "--app-port", target.AppPort.ToString(), "--dapr-http-port", httpPort.ToString(),
            "--resources-path", resources, "--log-level", "warn"];
        var command = string.Join(" ", new[] { program }.Concat(arguments).Select(a => File.Exists(a) ? Path.GetRelativePath(Repo.Root, a) : a));
        Console.Error.WriteLine($"[memory] {command}");
        // The sidecar registers where the caller sidecar of the echo target looks it up.
        await using var process = ChildProcess.Start(program, arguments, new Dictionary<string, string> { ["DEVSIDECAR_REGISTRY"] = target.Registry },
            onLine: line => { if (line.Length > 0) Console.Error.WriteLine($"[memory] sidecar: {line}"); });
        using (var probe = new HttpClient())
        {
            await process.WaitWhileRunningAsync(async () =>
            {
                try
                {
                    return (await probe.GetAsync($"http://127.0.0.1:{httpPort}/v1.0/healthz")).IsSuccessStatusCode;
                }
                catch (HttpRequestException)
                {
                    return false;
                }
            }, "the sidecar to be ready", TimeSpan.FromSeconds(60), interval: TimeSpan.FromMilliseconds(200));
        }
        await Task.Delay(TimeSpan.FromSeconds(o.Quick ? 2 : 5)); // settle
        var idle = RssMb(process.Id);
        var idleBreakdown = Breakdown(process.Id);

        var callerPort = await target.StartSidecarsAsync(echoSidecarInProcess: false);
        using var client = Hosting.LoadClient(16);
        var call = EchoTarget.EchoCall(client, $"http://127.0.0.1:{callerPort}/v1.0/invoke/echo/method/echo");
        await Load.FixedRateAsync(call, 1000, o.Warmup);
        double peak = 0;
        using var sampling = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                peak = Math.Max(peak, RssMb(process.Id));
                try { await Task.Delay(250, sampling.Token); } catch (OperationCanceledException) { }
            }
        });
        Console.Error.WriteLine($"[memory] {o.MemoryLoadSeconds.TotalSeconds} s at 1000/s through it");
        var run = await Load.FixedRateAsync(call, 1000, o.MemoryLoadSeconds);
        var end = RssMb(process.Id);
        var loadBreakdown = Breakdown(process.Id);
        var top = TopMappings(process.Id, 10);
        await sampling.CancelAsync();
        await sampler;
        await Task.Delay(TimeSpan.FromSeconds(o.Quick ? 1 : 3));
        var after = RssMb(process.Id);
        return new MemoryResult(build, command, idle, Math.Max(peak, end), end, after, 1000, LatencyStats.Of(run.Latency, run.Errors), null,
            idleBreakdown, loadBreakdown, top);
    }

    /// <summary>Where the resident memory is: anonymous (GC heap, JIT code, runtime) vs file-backed (mapped assemblies, native libraries).</summary>
    public static Dictionary<string, double> Breakdown(int pid)
    {
        var result = new Dictionary<string, double>();
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            var parts = line.Split(new[] { ' ', '\t', ':' }, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length >= 2 && parts[0] is "VmRSS" or "RssAnon" or "RssFile" or "RssShmem" or "VmHWM" or "Threads")
                result[parts[0]] = parts[0] == "Threads" ? double.Parse(parts[1]) : Math.Round(long.Parse(parts[1]) / 1024.0, 1);
        }
        return result;
    }

    /// <summary>The largest resident mappings by file (anonymous ones together), from /proc/pid/smaps.</summary>
    public static List<string> TopMappings(int pid, int count)
    {
        var byName = new Dictionary<string, long>();
        string current = "[anon]";
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/smaps"))
            {
                if (line.Length > 0 && char.IsAsciiHexDigit(line[0]) && line.Contains('-'))
                {
                    var fields = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
                    current = fields.Length >= 6 ? Path.GetFileName(fields[5].Trim()) is { Length: > 0 } f ? f : fields[5].Trim() : "[anon]";
                }
                else if (line.StartsWith("Rss:", StringComparison.Ordinal))
                {
                    var kb = long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
                    byName[current] = byName.GetValueOrDefault(current) + kb;
                }
            }
        }
        catch (IOException) { }
        return [.. byName.OrderByDescending(kv => kv.Value).Take(count).Select(kv => $"{kv.Key}: {kv.Value / 1024.0:0.0} MB")];
    }

    /// <summary>VmRSS of a process, in MB.</summary>
    public static double RssMb(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return line is null ? double.NaN : Math.Round(long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024.0, 1);
    }
}
