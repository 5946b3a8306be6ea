using System.Globalization;
using TestHosting;

namespace OrderFlow.Bench;

public sealed record GoalResult(string Goal, string Measured, bool Met);

public static class Goals
{
    public static List<GoalResult> Evaluate(BenchReport r)
    {
        var goals = new List<GoalResult>();
        if (r.Invocation is { } i)
        {
            goals.Add(new("sidecar hop adds p50 <= 0.3 ms at 1000/s", $"+{F(i.AddedP50Ms)} ms", i.AddedP50Ms <= 0.3));
            goals.Add(new("sidecar hop adds p99 <= 1.5 ms at 1000/s", $"+{F(i.AddedP99Ms)} ms", i.AddedP99Ms <= 1.5));
        }
        if (r.OrderFlow is { } f && f.Runs.FirstOrDefault(x => x.Store == "local" && x.Style == "choreography" && x.Skipped is null) is { } c)
            goals.Add(new("choreography on the embedded default >= 300 orders/s", $"{F(c.OrdersPerSecond)} orders/s", c.OrdersPerSecond >= 300));
        if (r.OrderFlow is { } g && g.Runs.FirstOrDefault(x => x.Store == "local" && x.Style == "orchestration" && x.Skipped is null) is { } o)
            goals.Add(new("orchestration on the embedded default >= 200 orders/s", $"{F(o.OrdersPerSecond)} orders/s", o.OrdersPerSecond >= 200));
        foreach (var (store, ratio) in r.OrderFlow?.OrchestrationOverChoreography ?? [])
            goals.Add(new($"orchestration >= 0.8 x choreography on {store}", $"{F(ratio)} x", ratio >= 0.8));
        foreach (var run in r.Calls?.Where(c => c.Store == "local" && c.PerOrder.Count > 0) ?? [])
        {
            var limit = run.Style == "choreography" ? 25 : 30;
            goals.Add(new($"{run.Style}: <= {limit} sidecar calls per order", $"{F(run.AppCallsPerOrder)} calls, {F(run.DeliveriesPerOrder)} deliveries", run.AppCallsPerOrder <= limit));
        }
        if (r.Startup?.FirstOrDefault(s => s.Way == StartupWay.Now.Name) is { } now)
        {
            goals.Add(new("warm start (nothing changed) to all apps ready <= 10 s", $"{F(now.WarmMedianSeconds)} s", now.WarmMedianSeconds <= 10));
            goals.Add(new("fresh clone to all apps ready <= 60 s plus the restore", $"{F(now.FreshSeconds)} s + {F(now.RestoreSeconds)} s", now.FreshSeconds <= 60));
            goals.Add(new("whole running suite <= 1.2 GB resident", $"{F(now.LoadPeakRssMb)} MB peak under load", now.LoadPeakRssMb <= 1200));
            goals.Add(new("no build-tool process resident for the run", $"{now.ResidentBuildTools.Count}", now.ResidentBuildTools.Count == 0));
        }
        foreach (var m in r.Memory?.Where(m => m.Skipped is null) ?? [])
            goals.Add(new($"dev sidecar ({m.Build}) <= 60 MB under load", $"{F(m.LoadPeakRssMb)} MB peak", m.LoadPeakRssMb <= 60));
        return goals;
    }

    public static string F(double v) => double.IsFinite(v) ? v.ToString("0.###", CultureInfo.InvariantCulture) : "-";
}

/// <summary>Markdown tables on stdout, one per section.</summary>
public static class Report
{
    private static string F(double v) => Goals.F(v);

    private static void Table(string title, string[] header, IEnumerable<string[]> rows)
    {
        Console.WriteLine();
        Console.WriteLine($"## {title}");
        Console.WriteLine();
        Console.WriteLine("| " + string.Join(" | ", header) + " |");
        Console.WriteLine("|" + string.Join("|", header.Select(h => "---")) + "|");
        foreach (var row in rows) Console.WriteLine("| " + string.Join(" | ", row) + " |");
    }

    public static void PrintInvocation(InvocationResult r)
    {
        Table($"1. Service invocation: {r.PayloadBytes} B POST echo, {r.Rate}/s fixed rate (open loop), {r.Connections} connections, {r.SecondsPerCase} s per path (ms)",
            ["path", "p50", "p90", "p99", "p99.9", "max", "requests", "errors", "max rps (closed loop)"],
            [
                Row(r.Direct, r.DirectMaxRps),
                Row(r.Sidecars, r.SidecarsMaxRps),
                ["added by the sidecars", "+" + F(r.AddedP50Ms), "+" + F(r.AddedP90Ms), "+" + F(r.AddedP99Ms), "", "", "", "", ""],
                ["ratio sidecars / direct", F(r.RatioP50) + "x", "", F(r.RatioP99) + "x", "", "", "", "", F(r.SidecarsMaxRps / r.DirectMaxRps) + "x"],
            ]);
        Table($"1b. Streamed response: GET, {r.StreamChunks} chunks flushed one by one with a 1 ms timer gap between them, {r.StreamRate}/s (ms from the scheduled send)",
            ["path", "first chunk p50", "first chunk p99", "last chunk p50", "last chunk p99", "errors"],
            [
                [r.StreamDirect.Name, F(r.StreamDirect.FirstChunk.P50), F(r.StreamDirect.FirstChunk.P99), F(r.StreamDirect.LastChunk.P50), F(r.StreamDirect.LastChunk.P99), r.StreamDirect.LastChunk.Errors.ToString()],
                [r.StreamSidecars.Name, F(r.StreamSidecars.FirstChunk.P50), F(r.StreamSidecars.FirstChunk.P99), F(r.StreamSidecars.LastChunk.P50), F(r.StreamSidecars.LastChunk.P99), r.StreamSidecars.LastChunk.Errors.ToString()],
                ["added by the sidecars", "+" + F(r.StreamAddedFirstP50Ms), "", "+" + F(r.StreamAddedLastP50Ms), "", ""],
            ]);
        foreach (var c in new[] { r.Direct, r.Sidecars })
            if (c.FirstError is not null) Console.WriteLine($"First error ({c.Name}): {c.FirstError}");
    }

    private static string[] Row(InvocationCase c, double maxRps) =>
        [c.Name, F(c.Latency.P50), F(c.Latency.P90), F(c.Latency.P99), F(c.Latency.P999), F(c.Latency.Max), c.Latency.Count.ToString(), c.Latency.Errors.ToString(), F(maxRps)];

    public static void PrintPubSub(PubSubResult r)
    {
        var first = r.Brokers.FirstOrDefault(b => b.Skipped is null);
        Table($"2. Pub/sub end to end (publish via the sidecar's HTTP API -> handler reached), per broker folder",
            ["folder", "type", $"latency p50 @{first?.LatencyRate ?? 500}/s", "p90", "p99", "lost", $"throughput ({first?.Publishers ?? 16} publishers), events/s", "p50 at saturation", "p99 at saturation", "CPU us per event (this process; brokers' own excluded)", "note"],
            r.Brokers.Select(b => b.Skipped is not null
                ? new[] { b.Folder, b.Type, "", "", "", "", "", "", "", "", "skipped: " + b.Skipped }
                : [b.Folder, b.Type, F(b.Latency!.P50), F(b.Latency.P90), F(b.Latency.P99), b.LatencyLost.ToString(), F(b.ThroughputPerSecond),
                    F(b.SaturationLatency!.P50), F(b.SaturationLatency.P99), F(b.CpuUsPerEvent), $"{b.SaturationDelivered}/{b.SaturationPublished} delivered" + (b.FirstError is null ? "" : "; " + b.FirstError)]));
    }

    public static void PrintOrderFlow(OrderFlowResult r)
    {
        Table("3a. CPU and allocations per call, official client -> dev sidecar on loopback (the calls the order flow makes)",
            ["call", "CPU us, 1 at a time", "CPU us, 16 at a time", "KB allocated"],
            r.CallCosts.GroupBy(c => c.Call).Select(g => new[]
            {
                g.Key, F(g.FirstOrDefault(c => c.Concurrency == 1)?.CpuUsPerCall ?? double.NaN),
                F(g.FirstOrDefault(c => c.Concurrency == 16)?.CpuUsPerCall ?? double.NaN), F(g.Last().KbPerCall),
            }));

        Table($"3. Order flow: orders placed through the orders sidecar ({r.Concurrency} at a time) until terminal; latency placed -> terminal (ms)",
            ["store", "style", "orders", "completed", "cancelled", "not terminal (or not placed)", "orders/s", "p50", "p99", "note"],
            r.Runs.Select(x => x.Skipped is not null
                ? new[] { x.Store, x.Style, "", "", "", "", "", "", "", "skipped: " + x.Skipped }
                : [x.Store, x.Style, x.Orders.ToString(), x.Completed.ToString(), x.Cancelled.ToString(), x.NotTerminal.ToString(), F(x.OrdersPerSecond),
                    F(x.Latency!.P50), F(x.Latency.P99), $"placing took {F(x.PlaceSeconds)} s, span {F(x.SpanSeconds)} s" + (x.FirstError is null ? "" : "; first error: " + x.FirstError)]));
        foreach (var x in r.Runs.Where(x => x.Profile is not null))
        {
            var p = x.Profile!;
            Console.WriteLine();
            Console.WriteLine($"Profile {x.Store}/{x.Style}: {F(p.CpuMsPerUnit)} CPU ms per order (all apps and sidecars of the process; 2 cores = {F(2000 / p.CpuMsPerUnit)} orders/s if CPU-bound), {F(p.AllocatedKbPerUnit)} KB allocated per order, GCs gen0/1/2 {p.Gen0}/{p.Gen1}/{p.Gen2}. Requests served per order, by route:");
            foreach (var c in p.Routes.Take(14)) Console.WriteLine($"  {F(c.PerUnit),6} x {c.Route}  (mean {F(c.MeanMs)} ms)");
            if (x.Stages is { Count: > 0 } stages)
                Console.WriteLine("  Where orders queue: when they passed each step (s after the first was placed; orders/s up to the last): " +
                    string.Join("; ", stages.Select(st => $"{st.Step} +{F(st.FirstSeconds)}..+{F(st.LastSeconds)} ({F(st.OrdersPerSecond)}/s)")));
            var floor = CallCostBench.Explain(p, r.CallCosts, concurrency: 16);
            var ceiling = CallCostBench.Explain(p, r.CallCosts, concurrency: 1);
            Console.WriteLine("  Where the CPU goes: the calls an order makes, priced at section 3a's cost per call (16 at a time .. one at a time): " +
                string.Join("; ", floor.Zip(ceiling, (f, c) => $"{F(f.Calls)} {f.Kind} = {F(f.CpuMs)} .. {F(c.CpuMs)} ms")) +
                $"; together {F(floor.Sum(e => e.CpuMs))} .. {F(ceiling.Sum(e => e.CpuMs))} of {F(p.CpuMsPerUnit)} ms. Not priced: event deliveries to the apps (see section 2's CPU per event), the apps' own work.");
        }
        foreach (var (store, ratio) in r.OrchestrationOverChoreography)
            Console.WriteLine($"Orchestration / choreography throughput on {store}: {F(ratio)}");
    }

    public static void PrintMemory(List<MemoryResult> builds)
    {
        var measured = builds.Where(m => m.Skipped is null).ToList();
        Table("4. Resident memory (VmRSS) of one dev sidecar in its own process (MB)",
            ["build", "idle (ready, no traffic)", "under load: 1000/s invocations through it, peak", "at the end of the load", "after the load", "note"],
            builds.Select(m => m.Skipped is null
                ? new[] { m.Build, F(m.IdleRssMb), F(m.LoadPeakRssMb), F(m.LoadEndRssMb), F(m.AfterLoadRssMb), "" }
                : [m.Build, "-", "-", "-", "-", $"skipped: {m.Skipped}"]));
        foreach (var m in measured)
        {
            if (m.LoadBreakdownMb is { } b)
                Console.WriteLine($"{m.Build}, under load: " + string.Join(", ", b.Select(kv => $"{kv.Key} {F(kv.Value)}")) + "; largest mappings: " + string.Join("; ", m.TopMappings ?? []));
            Console.WriteLine($"{m.Build}: `{m.Command}`; latency through it p50 {F(m.LoadLatency.P50)} ms, p99 {F(m.LoadLatency.P99)} ms, errors {m.LoadLatency.Errors}");
        }
    }

    /// <summary>Prints section 5 and returns it as markdown, for <see cref="WriteIntoDocs"/>.</summary>
    public static string PrintStartup(List<StartupResult> ways, Machine machine)
    {
        static string S(double seconds) => seconds.ToString("0.0", CultureInfo.InvariantCulture);
        static string M(double mb) => mb.ToString("0", CultureInfo.InvariantCulture);
        var text = new System.Text.StringBuilder();
        text.AppendLine($"Measured {DateTime.UtcNow:yyyy-MM-dd} by `dotnet run -c Release --project bench/OrderFlow.Bench -- --only startup`: "
            + $"{machine.Cores} cores, load average {machine.LoadAverageBefore} before the run, {machine.Runtime}.");
        text.AppendLine();
        text.AppendLine("| | " + string.Join(" | ", ways.Select(w => w.Way)) + " |");
        text.AppendLine("| --- | " + string.Join(" | ", ways.Select(_ => "---")) + " |");
        void Row(string name, Func<StartupResult, string> value) => text.AppendLine($"| {name} | " + string.Join(" | ", ways.Select(value)) + " |");
        Row("command", w => $"`{w.Command}`");
        Row("package restore (apart)", w => $"{S(w.RestoreSeconds)} s");
        Row("fresh clone → all apps ready", w => $"{S(w.FreshSeconds)} s (build {S(w.FreshBuildSeconds)} s)");
        Row("warm start → all apps ready (median)", w => $"{S(w.WarmMedianSeconds)} s (build {S(w.WarmBuildSeconds)} s; runs {string.Join(", ", w.WarmSeconds.Select(S))})");
        Row("resident, idle (processes)", w => $"{M(w.IdleRssMb)} MB ({w.Processes})");
        Row($"resident, peak while {ways[0].OrdersCompleted} orders run", w => $"{M(w.LoadPeakRssMb)} MB");
        Row("build tools left resident", w => w.ResidentBuildTools.Count == 0 ? "none" : string.Join("; ", w.ResidentBuildTools));
        Row("idle resident by process (MB)", w => string.Join(", ", w.RssByProcessMb.OrderByDescending(kv => kv.Value).Select(kv => $"{kv.Key} {M(kv.Value)}")));
        var now = ways.First(w => w.Way == StartupWay.Now.Name);
        var before = ways.First(w => w.Way == StartupWay.Before.Name);
        text.AppendLine();
        text.AppendLine($"Now / before: warm start {now.WarmMedianSeconds / before.WarmMedianSeconds:0.00}×, fresh clone {now.FreshSeconds / before.FreshSeconds:0.00}×, "
            + $"resident memory under load {now.LoadPeakRssMb / before.LoadPeakRssMb:0.00}×.");
        var markdown = text.ToString();
        Console.WriteLine();
        Console.WriteLine("## 5. Start-up and memory of the whole suite (dapr.yaml on the dev sidecar)");
        Console.WriteLine(markdown);
        return markdown;
    }

    /// <summary>Replaces what docs/benchmarks.md holds between <c>&lt;!-- bench:{section} --&gt;</c> and <c>&lt;!-- /bench:{section} --&gt;</c>.</summary>
    public static string WriteIntoDocs(string section, string markdown)
    {
        var path = Repo.Path("docs", "benchmarks.md");
        var doc = File.ReadAllText(path);
        string begin = $"<!-- bench:{section} -->", end = $"<!-- /bench:{section} -->";
        int from = doc.IndexOf(begin, StringComparison.Ordinal), to = doc.IndexOf(end, StringComparison.Ordinal);
        if (from < 0 || to < from) throw new InvalidOperationException($"{path} has no {begin} … {end} block");
        File.WriteAllText(path, doc[..(from + begin.Length)] + "\n" + markdown + doc[to..]);
        return path;
    }

    public static void PrintCalls(List<CallCountRun> runs)
    {
        var kinds = runs.SelectMany(r => r.PerOrder.Keys).Distinct().OrderBy(k => k == DevSidecar.Hosting.CallCounts.Kinds.Delivery).ThenBy(k => k, StringComparer.Ordinal).ToList();
        var columns = runs.Select(r => $"{r.Style} ({r.Store})").ToList();
        Table("Sidecar calls per order (dev sidecars' counters)", ["kind", .. columns],
            [
                .. kinds.Select(k => (string[])[k, .. runs.Select(r => r.PerOrder.TryGetValue(k, out var row) ? F(row[CallCountBench.Total]) : "")]),
                ["**calls (all but deliveries)**", .. runs.Select(r => "**" + F(r.AppCallsPerOrder) + "**")],
                ["orders completed / cancelled", .. runs.Select(r => $"{r.Completed} / {r.Cancelled} of {r.Orders}" + (r.Error is null ? "" : $" ({r.Error})"))],
            ]);
        foreach (var run in runs.Where(r => r.PerOrder.Count > 0))
        {
            var apps = run.PerOrder.Values.SelectMany(v => v.Keys).Where(a => a != CallCountBench.Total).Distinct().OrderBy(a => a, StringComparer.Ordinal).ToList();
            Table($"Sidecar calls per order by app, {run.Style} ({run.Store}, {run.Orders} orders)", ["kind", .. apps, CallCountBench.Total],
                kinds.Where(run.PerOrder.ContainsKey).Select(k => (string[])[k, .. apps.Select(a => run.PerOrder[k].TryGetValue(a, out var v) ? F(v) : ""), F(run.PerOrder[k][CallCountBench.Total])]));
        }
    }

    public static void PrintGoals(BenchReport r)
    {
        Table("Goals", ["goal", "measured", "met"], r.Goals.Select(g => new[] { g.Goal, g.Measured, g.Met ? "yes" : "NO" }));
    }
}
