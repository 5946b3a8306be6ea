using System.Diagnostics;
using OrderFlow.Contracts;
using TestHosting;

namespace OrderFlow.Bench;

public sealed record CallCost(string Call, int Concurrency, double CpuUsPerCall, double KbPerCall);

/// <summary>
/// What one call of each kind the order flow makes costs the process in CPU and allocations, with the official client
/// against a dev sidecar on loopback, one at a time and 16 at a time. Section 3's profile multiplies these by the calls
/// an order makes, to say where its CPU goes.
/// </summary>
public static class CallCostBench
{
    public const string GetState = "GetState (gRPC, Dapr.Client)";
    public const string SaveState = "SaveState (gRPC, Dapr.Client)";
    public const string Publish = "PublishEvent (gRPC, Dapr.Client, no subscriber)";
    public const string InvokeDirect = "HTTP POST 1 KB, app to app (no sidecar)";
    public const string InvokeSidecars = "HTTP POST 1 KB through two sidecars";

    private sealed record StoredOrder(string OrderId, string CustomerId, List<string> History, decimal Amount);

    public static async Task<List<CallCost>> RunAsync(BenchOptions o)
    {
        await using var local = Hosting.Cluster("local");
        var sidecar = await local.StartReadySidecarAsync("calls", appPort: null);
        await using var echo = await EchoTarget.StartAppAsync();
        var callerPort = await echo.StartSidecarsAsync();
        using var dapr = SidecarClients.Dapr(sidecar);
        // About the size of an order in the flow.
        var order = new StoredOrder("0123456789abcdef0123456789abcdef", "customer-1",
            ["order-placed", "stock-reserved", "payment-charged", "shipment-dispatched", "order-completed"], 10m);
        await dapr.SaveStateAsync(Components.StateStore, "order", order);
        using var client = Hosting.LoadClient(16);
        var direct = EchoTarget.EchoCall(client, $"http://127.0.0.1:{echo.AppPort}/echo");
        var throughSidecars = EchoTarget.EchoCall(client, $"http://127.0.0.1:{callerPort}/v1.0/invoke/echo/method/echo");
        var calls = new (string Name, Func<int, Task> Call)[]
        {
            (GetState, _ => dapr.GetStateAsync<StoredOrder>(Components.StateStore, "order")),
            (SaveState, i => dapr.SaveStateAsync(Components.StateStore, $"order-{i % 64}", order)),
            (Publish, _ => dapr.PublishEventAsync(Components.PubSub, "nobody-listens", order)),
            (InvokeDirect, i => direct(i)),
            (InvokeSidecars, i => throughSidecars(i)),
        };
        var results = new List<CallCost>();
        foreach (var concurrency in new[] { 1, 16 })
        {
            foreach (var (name, call) in calls)
            {
                var cost = await MeasureAsync(name, concurrency, o.Quick ? 2000 : 6000, call);
                Console.Error.WriteLine($"[calls] {name}, {concurrency} at a time: {cost.CpuUsPerCall} us CPU, {cost.KbPerCall} KB per call");
                results.Add(cost);
            }
        }
        return results;
    }

    private static async Task<CallCost> MeasureAsync(string name, int concurrency, int count, Func<int, Task> call)
    {
        var options = new ParallelOptions { MaxDegreeOfParallelism = concurrency };
        await Parallel.ForAsync(0, count / 4, options, async (i, _) => await call(i)); // warm-up
        var process = Process.GetCurrentProcess();
        var cpu0 = process.TotalProcessorTime;
        var allocated0 = GC.GetTotalAllocatedBytes();
        await Parallel.ForAsync(0, count, options, async (i, _) => await call(i));
        process.Refresh();
        var cpuUs = (process.TotalProcessorTime - cpu0).TotalMilliseconds * 1000 / count;
        return new CallCost(name, concurrency, Math.Round(cpuUs, 1), Math.Round((GC.GetTotalAllocatedBytes() - allocated0) / 1024.0 / count, 1));
    }

    /// <summary>The CPU the calls of one unit of work would cost at <paramref name="concurrency"/>, by kind of call.</summary>
    public static List<(string Kind, double Calls, double CpuMs)> Explain(ProfileResult profile, List<CallCost> costs, int concurrency)
    {
        double Cost(string call) => costs.FirstOrDefault(c => c.Call == call && c.Concurrency == concurrency)?.CpuUsPerCall / 1000 ?? double.NaN;
        double Calls(Func<string, bool> route) => profile.Routes.Where(r => route(r.Route)).Sum(r => r.PerUnit);
        var state = Calls(r => r.Contains("Dapr/GetState") || r.Contains("Dapr/SaveState") || r.Contains("Dapr/ExecuteStateTransaction") || r.Contains("Dapr/GetBulkState"));
        var publishes = Calls(r => r.Contains("Dapr/PublishEvent"));
        var invocations = Calls(r => r.StartsWith("POST /v1.0/invoke/", StringComparison.Ordinal));
        return
        [
            ("state calls", state, state * (Cost(GetState) + Cost(SaveState)) / 2),
            ("publishes", publishes, publishes * Cost(Publish)),
            ("invocations through two sidecars (incl. the app's minimal handler)", invocations, invocations * Cost(InvokeSidecars)),
        ];
    }
}
