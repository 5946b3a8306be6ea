using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using OrderFlow.Bench;
using TestHosting;

var options = BenchOptions.Parse(args);
if (options is null) return 2;

var started = Stopwatch.StartNew();
var machine = Machine.Describe();
Console.Error.WriteLine($"[bench] {machine.Cores} cores, {machine.MemoryTotalMb} MB, load average {machine.LoadAverageBefore}; {(options.Quick ? "quick run" : "full run")}; sections {string.Join(",", options.Sections)}");
using var work = new TempFolder("orderflow-bench-");
var workDir = work.Path;
var report = new BenchReport { Machine = machine, Quick = options.Quick, StartedAt = DateTimeOffset.UtcNow };
if (options.Runs("invoke"))
{
    report.Invocation = await InvocationBench.RunAsync(options);
    Report.PrintInvocation(report.Invocation);
}
if (options.Runs("pubsub"))
{
    report.PubSub = await PubSubBench.RunAsync(options, workDir);
    Report.PrintPubSub(report.PubSub);
}
if (options.Runs("calls"))
{
    report.Calls = await CallCountBench.RunAsync(options, workDir);
    Report.PrintCalls(report.Calls);
}
if (options.Runs("orderflow"))
{
    report.OrderFlow = await OrderFlowBench.RunAsync(options, workDir);
    Report.PrintOrderFlow(report.OrderFlow);
}
if (options.Runs("memory"))
{
    report.Memory = await MemoryBench.RunAsync(options, workDir);
    Report.PrintMemory(report.Memory);
}
if (options.Runs("startup"))
{
    report.Startup = await StartupBench.RunAsync(options, workDir);
    var table = Report.PrintStartup(report.Startup, machine);
    if (!options.Quick) Console.WriteLine($"Section 5 written to {Report.WriteIntoDocs("startup", table)}");
}

machine.LoadAverageAfter = Machine.LoadAverage();
report.Seconds = Math.Round(started.Elapsed.TotalSeconds, 1);
report.Goals = Goals.Evaluate(report);
Report.PrintGoals(report);
Console.WriteLine($"Machine: {machine.Cores} cores, {machine.MemoryTotalMb} MB; load average before {machine.LoadAverageBefore}, after {machine.LoadAverageAfter}; run took {report.Seconds} s.");

var output = options.Output ?? Repo.Path("bench", "results", "latest.json");
Directory.CreateDirectory(Path.GetDirectoryName(output)!);
await File.WriteAllTextAsync(output, JsonSerializer.Serialize(report, new JsonSerializerOptions(JsonSerializerDefaults.Web)
{
    WriteIndented = true,
    NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
}));
Console.WriteLine($"JSON written to {output}");
return 0;

namespace OrderFlow.Bench
{
    public sealed class BenchOptions
    {
        public bool Quick { get; init; }
        public string[] Sections { get; init; } = ["invoke", "pubsub", "calls", "orderflow", "memory", "startup"];
        public string? Output { get; init; }
        /// <summary>Order flow only: the component folders and styles to run (default local and redis, both styles).</summary>
        public string[] Stores { get; init; } = ["local", "redis"];
        public string[] Styles { get; init; } = ["choreography", "orchestration"];
        /// <summary>Whether --stores was given (the call count runs on local only unless it is).</summary>
        public bool StoresGiven { get; init; }
        /// <summary>Orders per style for the call count (section calls).</summary>
        public int CountOrders { get; init; } = 50;
        public TimeSpan Warmup => TimeSpan.FromSeconds(Quick ? 1 : 3);
        public int Rounds => Quick ? 1 : 3;
        public TimeSpan InvocationSeconds => TimeSpan.FromSeconds(Quick ? 3 : 15);
        public TimeSpan StreamSeconds => TimeSpan.FromSeconds(Quick ? 2 : 9);
        public TimeSpan SaturationSeconds => TimeSpan.FromSeconds(Quick ? 2 : 5);
        public TimeSpan PubSubLatencySeconds => TimeSpan.FromSeconds(Quick ? 2 : 8);
        public TimeSpan PubSubSaturationSeconds => TimeSpan.FromSeconds(Quick ? 2 : 6);
        public int Orders => Quick ? 100 : 1000;
        public TimeSpan MemoryLoadSeconds => TimeSpan.FromSeconds(Quick ? 3 : 15);

        public bool Runs(string section) => Sections.Contains(section);

        public static BenchOptions? Parse(string[] args)
        {
            var quick = false;
            string? output = null;
            string[]? sections = null, stores = null, styles = null;
            var countOrders = 50;
            for (var i = 0; i < args.Length; i++)
            {
                switch (args[i])
                {
                    case "--quick": quick = true; break;
                    case "--out" when i + 1 < args.Length: output = Path.GetFullPath(args[++i]); break;
                    case "--only" when i + 1 < args.Length: sections = List(args[++i]); break;
                    case "--stores" when i + 1 < args.Length: stores = List(args[++i]); break;
                    case "--styles" when i + 1 < args.Length: styles = List(args[++i]); break;
                    case "--orders" when i + 1 < args.Length && int.TryParse(args[i + 1], out var n) && n > 0: countOrders = n; i++; break;
                    default:
                        Console.Error.WriteLine("""
                            Usage: dotnet run -c Release --project bench/OrderFlow.Bench -- [--quick] [--only invoke,pubsub,calls,orderflow,memory,startup] [--stores local,redis] [--styles choreography,orchestration] [--orders N] [--out file.json]
                              --quick   short runs (about a minute) for trying changes; the README's figures come from a full run
                              --only    run only these sections
                              --stores  order flow: only these component folders (default local,redis)
                              --styles  order flow: only these styles (default choreography,orchestration)
                              --orders  calls: orders per style for the sidecar call count (default 50; the count runs on local unless --stores is given)
                              --out     where to write the JSON (default bench/results/latest.json)
                            """);
                        return null;
                }
            }
            var defaults = new BenchOptions();
            return new BenchOptions
            {
                Quick = quick, Output = output, Sections = sections ?? defaults.Sections,
                Stores = stores ?? defaults.Stores, Styles = styles ?? defaults.Styles, StoresGiven = stores is not null, CountOrders = countOrders,
            };
        }

        private static string[] List(string value) => value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    }

    public sealed class BenchReport
    {
        public DateTimeOffset StartedAt { get; init; }
        public bool Quick { get; init; }
        public double Seconds { get; set; }
        public required Machine Machine { get; init; }
        public InvocationResult? Invocation { get; set; }
        public PubSubResult? PubSub { get; set; }
        public List<CallCountRun>? Calls { get; set; }
        public OrderFlowResult? OrderFlow { get; set; }
        public List<MemoryResult>? Memory { get; set; }
        public List<StartupResult>? Startup { get; set; }
        public List<GoalResult> Goals { get; set; } = [];
    }

    public sealed class Machine
    {
        public int Cores { get; init; }
        public long MemoryTotalMb { get; init; }
        public string Os { get; init; } = "";
        public string Runtime { get; init; } = "";
        public string LoadAverageBefore { get; init; } = "";
        public string LoadAverageAfter { get; set; } = "";

        public static Machine Describe() => new()
        {
            Cores = Environment.ProcessorCount,
            MemoryTotalMb = MemTotalMb(),
            Os = System.Runtime.InteropServices.RuntimeInformation.OSDescription,
            Runtime = System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription,
            LoadAverageBefore = LoadAverage(),
        };

        public static string LoadAverage() =>
            File.Exists("/proc/loadavg") ? string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";

        private static long MemTotalMb()
        {
            if (!File.Exists("/proc/meminfo")) return 0;
            var line = File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemTotal:", StringComparison.Ordinal));
            return line is null ? 0 : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024;
        }
    }
}
