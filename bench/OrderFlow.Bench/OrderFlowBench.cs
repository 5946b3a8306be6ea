using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using OrderFlow.Contracts;
using OrderFlow.Orders;
using TestHosting;

namespace OrderFlow.Bench;

public sealed record FlowRun(
    string Store, string Style, string? Skipped, int Orders, int Completed, int Cancelled, int NotTerminal,
    double OrdersPerSecond, LatencyStats? Latency, double PlaceSeconds, double SpanSeconds, string? FirstError, ProfileResult? Profile = null,
    List<StageSpan>? Stages = null);

/// <summary>
/// When the orders passed one step of the flow, from their own histories, in seconds after the first order was placed.
/// The throughput is that of the slowest stage: the first stage whose last order comes much later than the step
/// before's is where orders queue.
/// </summary>
public sealed record StageSpan(string Step, int Orders, double FirstSeconds, double LastSeconds)
{
    public double OrdersPerSecond => LastSeconds > 0 ? Math.Round(Orders / LastSeconds, 1) : 0;
}

public sealed record OrderFlowResult(int Concurrency, List<FlowRun> Runs, Dictionary<string, double> OrchestrationOverChoreography, List<CallCost> CallCosts);

/// <summary>
/// The order flow end to end: every app of the style with its own dev sidecar in this process, N orders placed through
/// the orders sidecar with bounded concurrency, then polled until every order is terminal. Figures come from the orders'
/// own history timestamps: orders/s = N / (last terminal step − first placed step); latency = placed → terminal.
/// </summary>
public static class OrderFlowBench
{
    private const int Concurrency = 32;
    private const int Skus = 20;

    public static async Task<OrderFlowResult> RunAsync(BenchOptions o, string workDir)
    {
        var costs = await CallCostBench.RunAsync(o);
        var runs = new List<FlowRun>();
        var stores = new List<BrokerFolder>();
        foreach (var folder in BrokerFolder.Discover().Where(f => o.Stores.Contains(f.Name)))
        {
            if (folder.Unsupported(withState: true) is { } reason)
            {
                Console.Error.WriteLine($"[orderflow] {folder.Name}: skipped, {reason}");
                runs.Add(new FlowRun(folder.Name, "both", reason, 0, 0, 0, 0, 0, null, 0, 0, null));
            }
            else stores.Add(folder);
        }
        foreach (var store in stores)
        {
            foreach (var style in o.Styles)
            {
                try
                {
                    runs.Add(await RunOneAsync(store, style, o, workDir));
                }
                catch (Exception e)
                {
                    Console.Error.WriteLine($"[orderflow] {store.Name}/{style}: failed, {e.GetType().Name}: {e.Message}");
                    runs.Add(new FlowRun(store.Name, style, $"failed: {e.Message}", o.Orders, 0, 0, 0, 0, null, 0, 0, null));
                }
            }
        }
        var ratios = new Dictionary<string, double>();
        foreach (var g in runs.Where(r => r.Skipped is null).GroupBy(r => r.Store))
        {
            var choreo = g.FirstOrDefault(r => r.Style == "choreography");
            var orch = g.FirstOrDefault(r => r.Style == "orchestration");
            if (choreo is { OrdersPerSecond: > 0 } && orch is not null) ratios[g.Key] = Math.Round(orch.OrdersPerSecond / choreo.OrdersPerSecond, 3);
        }
        return new OrderFlowResult(Concurrency, runs, ratios, costs);
    }

    private static async Task<FlowRun> RunOneAsync(BrokerFolder store, string style, BenchOptions o, string workDir)
    {
        Console.Error.WriteLine($"[orderflow] {store.Name}/{style}: starting the cluster");
        await using var components = await store.StartAsync(Path.Combine(workDir, $"flow-{store.Name}-{style}"), withState: true);
        await using var cluster = Hosting.Cluster(components.Folder, style, "monitor");
        await cluster.StartAllAsync(OrderFlowApps.Of(style), new OrderFlowSettings
        {
            DispatchDelay = TimeSpan.Zero,
            CreditLimit = 1_000_000m,
            MonitorCheckInterval = TimeSpan.FromSeconds(1),
            MonitorDeadline = TimeSpan.FromMinutes(1),
        }.Args());

        using var orders = Hosting.InvokeClient(cluster[AppIds.Orders], AppIds.Orders, Concurrency);
        using var inventory = Hosting.InvokeClient(cluster[AppIds.Inventory], AppIds.Inventory, 4);
        var skus = new List<string>();
        for (var i = 0; i < Skus; i++)
        {
            var sku = $"bench-{i}-{Guid.NewGuid().ToString("N")[..6]}";
            (await inventory.PutAsJsonAsync($"stock/{sku}", new { available = 10_000_000 })).EnsureSuccessStatusCode();
            skus.Add(sku);
        }

        // Warm up until the JIT is done: seven apps and their sidecars in one process keep tiering methods up for
        // thousands of orders, and a short warm-up measured the JIT (15% of the CPU) rather than the flow.
        var warm = await WarmUpAsync(orders, skus, o);
        Console.Error.WriteLine($"[orderflow] {store.Name}/{style}: warmed up with {warm.Orders} orders; {warm.LastBatchMethods} methods compiled during the last batch");

        Console.Error.WriteLine($"[orderflow] {store.Name}/{style}: placing {o.Orders} orders, {Concurrency} at a time");
        var profile = new Profile();
        var placing = Stopwatch.StartNew();
        // A time box per run keeps the whole bench under ten minutes: orders not placed or not terminal by then are reported as such.
        var budget = TimeSpan.FromSeconds(o.Quick ? 45 : 100);
        using var placeDeadline = new CancellationTokenSource(budget);
        var (ids, errors, firstError) = await PlaceAllAsync(orders, skus, o.Orders, "bench", deadline: placeDeadline.Token);
        var placeSeconds = placing.Elapsed.TotalSeconds;
        var remaining = budget - placing.Elapsed;
        var views = await WaitTerminalAsync(orders, ids.Count, remaining > TimeSpan.FromSeconds(15) ? remaining : TimeSpan.FromSeconds(15), ids.ToHashSet());
        var profiled = profile.Stop(Math.Max(1, ids.Count));

        var mine = views.Where(v => ids.Contains(v.OrderId)).ToList();
        var terminal = mine.Where(v => v.Status is OrderStatus.Completed or OrderStatus.Cancelled).ToList();
        var firstPlaced = mine.Min(v => v.History[0].At);
        var lastTerminal = terminal.Count > 0 ? terminal.Max(v => v.History[^1].At) : firstPlaced;
        var span = (lastTerminal - firstPlaced).TotalSeconds;
        var stages = mine.SelectMany(v => v.History).GroupBy(h => h.Step)
            .Select(g => new StageSpan(g.Key, g.Count(), Math.Round((g.Min(h => h.At) - firstPlaced).TotalSeconds, 2), Math.Round((g.Max(h => h.At) - firstPlaced).TotalSeconds, 2)))
            .OrderBy(st => st.FirstSeconds).ThenBy(st => st.LastSeconds).ToList();
        var latency = LatencyStats.Of(terminal.Select(v => (v.History[^1].At - v.History[0].At).TotalMilliseconds), errors);
        var run = new FlowRun(store.Name, style, null, o.Orders, terminal.Count(v => v.Status == OrderStatus.Completed),
            terminal.Count(v => v.Status == OrderStatus.Cancelled), o.Orders - terminal.Count,
            span > 0 ? Math.Round(terminal.Count / span, 1) : 0, latency, Math.Round(placeSeconds, 2), Math.Round(span, 2), firstError, profiled, stages);
        Console.Error.WriteLine($"[orderflow] {store.Name}/{style}: {run.OrdersPerSecond} orders/s, p50 {latency.P50} ms, p99 {latency.P99} ms, {run.NotTerminal} not terminal; {profiled.CpuMsPerUnit} CPU ms and {profiled.AllocatedKbPerUnit} KB allocated per order");
        return run;
    }

    private static async Task<(int Orders, long LastBatchMethods)> WarmUpAsync(HttpClient orders, List<string> skus, BenchOptions o)
    {
        var batch = o.Quick ? 50 : 200;
        var placed = 0;
        long compiled;
        do
        {
            var before = System.Runtime.JitInfo.GetCompiledMethodCount();
            var (ids, _, _) = await PlaceAllAsync(orders, skus, batch, "warm");
            await WaitTerminalAsync(orders, ids.Count, TimeSpan.FromSeconds(60), ids.ToHashSet());
            placed += batch;
            compiled = System.Runtime.JitInfo.GetCompiledMethodCount() - before;
        } while (compiled > 100 && placed < (o.Quick ? 200 : 1000));
        return (placed, compiled);
    }

    /// <summary>Places <paramref name="count"/> orders of one item each (the SKUs in turn), <paramref name="concurrency"/> at a
    /// time; returns the accepted ids, the failures and the first failure's message.</summary>
    internal static async Task<(List<string> Ids, int Errors, string? FirstError)> PlaceAllAsync(HttpClient orders, List<string> skus, int count, string prefix,
        int concurrency = Concurrency, CancellationToken deadline = default)
    {
        var ids = new List<string>();
        var errors = 0;
        string? firstError = null;
        var run = Guid.NewGuid().ToString("N")[..6];
        try
        {
            await Parallel.ForAsync(0, count, new ParallelOptions { MaxDegreeOfParallelism = concurrency, CancellationToken = deadline }, async (i, ct) =>
            {
                try
                {
                    using var response = await orders.PostAsJsonAsync("orders", new
                    {
                        customerId = $"{prefix}-{run}-{i}",
                        items = new[] { new { sku = skus[i % skus.Count], quantity = 1 } },
                        amount = 10m,
                        shipTo = new { street = "1 Canal St", city = "Utrecht", country = "NL" },
                    }, ct);
                    if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(ct)}");
                    var accepted = await response.Content.ReadFromJsonAsync<OrdersApi.OrderAccepted>(Json, ct);
                    lock (ids) ids.Add(accepted!.OrderId);
                }
                catch (Exception e) when (!ct.IsCancellationRequested)
                {
                    if (Interlocked.Increment(ref errors) == 1) firstError = e.Message;
                }
            });
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            firstError ??= $"time box reached: {ids.Count} of {count} orders placed";
        }
        return (ids, errors, firstError);
    }

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>Polls the order list once a second (a larger load on the flow than its orders) until <paramref name="count"/>
    /// orders (of <paramref name="known"/>, if given) are terminal; returns the last list, terminal or not.</summary>
    private static async Task<List<OrdersApi.OrderView>> WaitTerminalAsync(HttpClient orders, int count, TimeSpan timeout, HashSet<string>? known)
    {
        List<OrdersApi.OrderView> views = [];
        try
        {
            await Wait.UntilAsync(async () =>
            {
                views = (await orders.GetFromJsonAsync<List<OrdersApi.OrderView>>("orders", Json))!;
                var done = views.Count(v => (known is null || known.Contains(v.OrderId)) && v.Status is OrderStatus.Completed or OrderStatus.Cancelled);
                return known is null ? done >= count && views.All(v => v.Status is OrderStatus.Completed or OrderStatus.Cancelled) : done >= count;
            }, $"{count} orders to be completed or cancelled", timeout, interval: TimeSpan.FromSeconds(1));
        }
        catch (TimeoutException)
        {
            // the orders not terminal by then are reported as such
        }
        return views;
    }
}
