using System.Net.Http.Json;
using System.Text.Json;
using OrderFlow.Contracts;
using OrderFlow.Patterns;

namespace Patterns.Tests.Harness;

/// <summary>The apps the pattern tests start, with short timings so tests run in seconds: instances of the patterns app,
/// and the order flow in choreography style with orders in-process or as a child process (for SIGTERM).</summary>
public static class PatternsApps
{
    public const string AppId = "patterns";

    public static readonly HostedApp Patterns = new(AppId, PatternsApp.Build, "services/patterns", "Patterns");

    public static Task<Member> StartPatternsAsync(this Cluster cluster, string instanceId, params string[] args) =>
        cluster.StartAsync(Patterns,
        [
            $"--Patterns:InstanceId={instanceId}",
            "--Patterns:JobStepTime=00:00:00.100",
            "--Patterns:WorkItemProcessingTime=00:00:00.020",
            "--Patterns:Prices:apple=1.25",
            "--Patterns:Prices:pear=0.80",
            "--Patterns:Prices:plum=2.10",
            .. args,
        ]);

    /// <summary>Starts the order flow (no monitor) and returns the orders member and the inventory member.</summary>
    public static async Task<(Member Orders, Member Inventory)> StartOrderFlowAsync(this Cluster cluster, TimeSpan dispatchDelay,
        bool ordersAsChildProcess = false, string? ordersGracePeriod = null)
    {
        var others = OrderFlowApps.Of("choreography", monitor: false).Where(app => app != OrderFlowApps.Orders);
        var members = await cluster.StartAllAsync(others, new OrderFlowSettings { DispatchDelay = dispatchDelay, CreditLimit = 1000m }.Args());
        var progress = new Dictionary<string, string> { ["Orders__Progress__PollInterval"] = "00:00:00.050" };
        if (ordersGracePeriod is not null) progress["Shutdown__GracePeriod"] = ordersGracePeriod;
        var orders = ordersAsChildProcess
            ? await cluster.StartChildAsync(AppIds.Orders, OrderFlowApps.Orders.BuiltDll, progress)
            : await cluster.StartAsync(OrderFlowApps.Orders, "--Orders:Progress:PollInterval=00:00:00.050");
        return (orders, members[AppIds.Inventory]);
    }

    /// <summary>Stocks a fresh sku and places an order for it that will complete; returns the order id.</summary>
    public static async Task<string> PlaceCompletingOrderAsync(Member orders, Member inventory)
    {
        var sku = $"sku-{Guid.NewGuid():N}";
        (await inventory.Invoke.PutAsJsonAsync($"stock/{sku}", new { available = 10 })).EnsureSuccessStatusCode();
        var placed = await orders.Invoke.PostAsJsonAsync("orders", new
        {
            customerId = "ada",
            items = new[] { new { sku, quantity = 1 } },
            amount = 20m,
            shipTo = new { street = "1 Canal St", city = "Utrecht", country = "NL" },
        });
        placed.EnsureSuccessStatusCode();
        return (await placed.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("orderId").GetString()!;
    }
}
