using System.Net.Http.Json;
using System.Text.Json;
using DevSidecar.Hosting;
using OrderFlow.Contracts;
using OrderFlow.Orders;
using TestHosting;

namespace OrderFlow.Bench;

/// <summary>Calls per order of one style: kind → app id → calls per order (the column "total" sums the apps).</summary>
public sealed record CallCountRun(string Store, string Style, int Orders, int Completed, int Cancelled,
    Dictionary<string, Dictionary<string, double>> PerOrder, double AppCallsPerOrder, double DeliveriesPerOrder, string? Error = null);

/// <summary>
/// Counts, per order and per style, every call the apps make to their sidecars and every delivery the sidecars make to
/// the apps, from the dev sidecars' own counters (<see cref="CallCounts"/>): a count, so it does not depend on the
/// machine. Orders are placed on the orders app directly and nothing polls during the count (the orders' list is read
/// once after it), so only the flow's own calls are counted; the monitor's periodic check is set to an hour so that
/// the count does not depend on how long the run takes (its event-driven bookkeeping is counted).
/// </summary>
public static class CallCountBench
{
    public const string Total = "total";
    private const int Concurrency = 8;
    private const int WarmUpOrders = 80;

    public static async Task<List<CallCountRun>> RunAsync(BenchOptions o, string workDir)
    {
        var runs = new List<CallCountRun>();
        var stores = o.StoresGiven ? o.Stores : ["local"];
        foreach (var folder in BrokerFolder.Discover().Where(f => stores.Contains(f.Name) && f.Unsupported(withState: true) is null))
        {
            foreach (var style in o.Styles)
            {
                try
                {
                    runs.Add(await RunOneAsync(folder, style, o.CountOrders, workDir));
                }
                catch (Exception e)
                {
                    Console.Error.WriteLine($"[calls] {folder.Name}/{style}: failed, {e.GetType().Name}: {e.Message}");
                    runs.Add(new CallCountRun(folder.Name, style, o.CountOrders, 0, 0, [], 0, 0, e.Message));
                }
            }
        }
        return runs;
    }

    private static async Task<CallCountRun> RunOneAsync(BrokerFolder store, string style, int orders, string workDir)
    {
        Console.Error.WriteLine($"[calls] {store.Name}/{style}: starting the cluster");
        await using var components = await store.StartAsync(Path.Combine(workDir, $"calls-{store.Name}-{style}"), withState: true);
        await using var cluster = Hosting.Cluster(components.Folder, style, "monitor");
        var apps = OrderFlowApps.Of(style);
        await cluster.StartAllAsync(apps, new OrderFlowSettings
        {
            DispatchDelay = TimeSpan.Zero,
            CreditLimit = 1_000_000m,
            MonitorCheckInterval = TimeSpan.FromHours(1),
            MonitorDeadline = TimeSpan.FromHours(1),
        }.Args());
        var members = apps.Select(a => cluster[a.AppId]).ToList();

        using var ordersApp = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{cluster[AppIds.Orders].AppPort}/"), Timeout = TimeSpan.FromSeconds(30) };
        using var inventory = Hosting.InvokeClient(cluster[AppIds.Inventory], AppIds.Inventory, 2);
        // 20 SKUs, as in the order-flow section, so that concurrent orders seldom write the same stock level (a lost
        // ETag race costs a retry, which would make the count depend on timing).
        var skus = new List<string>();
        for (var i = 0; i < 20; i++)
        {
            var sku = $"calls-{i}-{Guid.NewGuid().ToString("N")[..6]}";
            (await inventory.PutAsJsonAsync($"stock/{sku}", new { available = 10_000_000 })).EnsureSuccessStatusCode();
            skus.Add(sku);
        }

        // Orders first that are not counted: one-time work (the workflow worker's connection, the first entry of each
        // index shard, which takes the single-key path) is not what an order costs in a running system.
        await PlaceAsync(ordersApp, skus, WarmUpOrders, "warm");
        await QuietAsync(members);
        var before = Snapshot(members);

        var ids = await PlaceAsync(ordersApp, skus, orders, "count");
        await QuietAsync(members);
        var after = Snapshot(members);

        var views = (await ordersApp.GetFromJsonAsync<List<OrdersApi.OrderView>>("orders", Json))!.Where(v => ids.Contains(v.OrderId)).ToList();
        var completed = views.Count(v => v.Status == OrderStatus.Completed);
        var cancelled = views.Count(v => v.Status == OrderStatus.Cancelled);

        var perOrder = new Dictionary<string, Dictionary<string, double>>(StringComparer.Ordinal);
        foreach (var (app, counts) in after)
        {
            foreach (var (kind, count) in counts)
            {
                var delta = count - before[app].GetValueOrDefault(kind);
                if (delta == 0) continue;
                var row = perOrder.TryGetValue(kind, out var r) ? r : perOrder[kind] = new(StringComparer.Ordinal);
                row[app] = Math.Round(delta / (double)orders, 2);
                row[Total] = Math.Round(row.GetValueOrDefault(Total) + delta / (double)orders, 2);
            }
        }
        var calls = perOrder.Where(kv => kv.Key != CallCounts.Kinds.Delivery).Sum(kv => kv.Value[Total]);
        var deliveries = perOrder.TryGetValue(CallCounts.Kinds.Delivery, out var d) ? d[Total] : 0;
        var run = new CallCountRun(store.Name, style, orders, completed, cancelled, perOrder, Math.Round(calls, 2), deliveries,
            completed + cancelled < orders ? $"{orders - completed - cancelled} of {orders} orders not terminal when the sidecars went quiet" : null);
        Console.Error.WriteLine($"[calls] {store.Name}/{style}: {run.AppCallsPerOrder} sidecar calls and {run.DeliveriesPerOrder} deliveries per order; {completed} completed, {cancelled} cancelled");
        return run;
    }

    private static Dictionary<string, IReadOnlyDictionary<string, long>> Snapshot(List<Member> members) =>
        members.ToDictionary(m => m.AppId, m => m.Sidecar.Calls.Snapshot());

    /// <summary>Waits until no sidecar has counted anything for 3 s: longer than daprd's 1 s outbox wait, so a flow still
    /// in progress is not taken for a quiet one.</summary>
    private static async Task QuietAsync(List<Member> members)
    {
        var last = Sum(members);
        var quietSince = DateTime.UtcNow;
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        while (DateTime.UtcNow - quietSince < TimeSpan.FromSeconds(3))
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("the sidecars did not go quiet within 2 minutes");
            await Task.Delay(250);
            var now = Sum(members);
            if (now != last) (last, quietSince) = (now, DateTime.UtcNow);
        }
    }

    private static long Sum(List<Member> members) => members.Sum(m => m.Sidecar.Calls.Snapshot().Values.Sum());

    private static async Task<HashSet<string>> PlaceAsync(HttpClient ordersApp, List<string> skus, int count, string prefix)
    {
        var (ids, errors, firstError) = await OrderFlowBench.PlaceAllAsync(ordersApp, skus, count, prefix, Concurrency);
        if (errors > 0) throw new InvalidOperationException($"{errors} of {count} orders were refused; the first: {firstError}");
        return [.. ids];
    }

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
}
