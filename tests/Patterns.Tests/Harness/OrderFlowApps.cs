using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using OrderFlow.Contracts;

namespace Patterns.Tests.Harness;

/// <summary>The order-flow apps in choreography style, with orders in-process or as a child process (for SIGTERM).</summary>
public static class OrderFlowApps
{
    private static readonly (string AppId, Func<string[], WebApplication> Build)[] Others =
    [
        (AppIds.Inventory, OrderFlow.Inventory.InventoryApp.Build),
        (AppIds.Payments, OrderFlow.Payments.PaymentsApp.Build),
        (AppIds.Shipping, OrderFlow.Shipping.ShippingApp.Build),
        (AppIds.Notifications, OrderFlow.Notifications.NotificationsApp.Build),
    ];

    /// <summary>Starts the flow and returns the orders member and the inventory member.</summary>
    public static async Task<(Member Orders, Member Inventory)> StartOrderFlowAsync(this Cluster cluster, TimeSpan dispatchDelay,
        bool ordersAsChildProcess = false, string? ordersGracePeriod = null)
    {
        var members = new Dictionary<string, Member>();
        foreach (var (appId, build) in Others)
            members[appId] = await cluster.StartAsync(appId, build, $"--Shipping:DispatchDelay={dispatchDelay}", "--Payments:DefaultLimit=1000");
        var progress = new Dictionary<string, string> { ["Orders__Progress__PollInterval"] = "00:00:00.050" };
        if (ordersGracePeriod is not null) progress["Shutdown__GracePeriod"] = ordersGracePeriod;
        var orders = ordersAsChildProcess
            ? await cluster.StartChildAsync(AppIds.Orders, ChildApp.BuiltDll("orders", "Orders"), progress)
            : await cluster.StartAsync(AppIds.Orders, OrderFlow.Orders.OrdersApp.Build, "--Orders:Progress:PollInterval=00:00:00.050");
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
