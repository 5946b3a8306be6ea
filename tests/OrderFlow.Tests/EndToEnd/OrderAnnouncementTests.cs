using System.Net;
using System.Net.Http.Json;
using OrderFlow.Contracts;
using OrderFlow.Orders;
using TestHosting.Brokers;

namespace OrderFlow.Tests.EndToEnd;

/// <summary>
/// orders dies as on SIGKILL right after an order is stored (the Orders:Faults:KillAfterStoring drill): the order is still
/// announced, because it was stored and announced in one outbox transaction (daprd v1.17.9 pkg/runtime/pubsub/outbox.go)
/// and the sidecar, not the app, publishes order-placed. Save-then-publish lost it here.
/// </summary>
public sealed class OrderAnnouncementTests
{
    [Fact]
    public Task An_order_stored_just_before_orders_is_killed_is_announced_and_kept_after_the_restart_on_local() => KilledAfterStoringAsync("local");

    [BrokerFact("redis-server")]
    public Task An_order_stored_just_before_orders_is_killed_is_announced_and_kept_after_the_restart_on_redis() => KilledAfterStoringAsync("redis");

    [BrokerFact("nats-server")]
    public Task An_order_stored_just_before_orders_is_killed_is_announced_and_kept_after_the_restart_on_jetstream() => KilledAfterStoringAsync("jetstream");

    [BrokerFact("rabbitmq-server")]
    public Task An_order_stored_just_before_orders_is_killed_is_announced_and_kept_after_the_restart_on_rabbitmq() => KilledAfterStoringAsync("rabbitmq");

    private static async Task KilledAfterStoringAsync(string broker)
    {
        using var workDir = new TempFolder("killed-");
        await using var components = await BrokerComponents.StartAsync(broker, workDir.Path);
        await using var cluster = new Cluster(components.Folder);
        var sink = cluster.Own(await EventSinkApp.StartAsync(Topics.OrderPlaced));
        await cluster.StartReadySidecarAsync("order-watcher", sink.Port);
        var orders = await cluster.StartChildAsync(AppIds.Orders, OrderFlowApps.Orders.BuiltDll,
            new Dictionary<string, string> { ["Orders__Faults__KillAfterStoring"] = "true" });

        var orderId = FlowClient.Unique("order");
        using (var placed = await PostOrderAsync(orders.Invoke, orderId, 20m))
            placed.StatusCode.Should().NotBe(HttpStatusCode.Accepted, "the process dies before it answers");
        await orders.Child!.WaitForExitAsync(TimeSpan.FromSeconds(20));

        var announced = await Wait.ForAsync(() => sink.Handled.FirstOrDefault(e => (string?)e.Envelope["data"]?["order"]?["orderId"] == orderId),
            $"order-placed for {orderId}", Wait.EndToEndTimeout);
        ((string?)announced.Envelope["source"]).Should().Be(AppIds.Orders);

        await cluster.RestartChildAsync(orders);
        var order = await orders.Invoke.GetFromJsonAsync<OrdersApi.OrderView>($"orders/{orderId}", FlowClient.Json);
        order!.Status.Should().Be(OrderStatus.Pending);
        sink.Handled.Count(e => (string?)e.Envelope["data"]?["order"]?["orderId"] == orderId).Should().Be(1);
    }

    [Fact]
    public Task Racing_placements_of_one_id_with_different_details_place_and_announce_one_on_sqlite() => RacingPlacementsAsync("local");

    [BrokerFact("redis-server")]
    public Task Racing_placements_of_one_id_with_different_details_place_and_announce_one_on_redis() => RacingPlacementsAsync("redis");

    /// <summary>First-write inside a transaction is not enforced by state.redis; the claim (a single first-write save) is.</summary>
    private static async Task RacingPlacementsAsync(string broker)
    {
        using var workDir = new TempFolder("announce-");
        await using var components = await BrokerComponents.StartAsync(broker, workDir.Path);
        await using var cluster = new Cluster(components.Folder);
        var sink = cluster.Own(await EventSinkApp.StartAsync(Topics.OrderPlaced));
        await cluster.StartReadySidecarAsync("order-watcher", sink.Port);
        var orders = await cluster.StartAsync(OrderFlowApps.Orders);

        var orderId = FlowClient.Unique("order");
        var statuses = await Task.WhenAll(Enumerable.Range(1, 8).Select(async amount =>
        {
            using var response = await PostOrderAsync(orders.Invoke, orderId, amount);
            return response.StatusCode;
        }));
        statuses.Count(s => s == HttpStatusCode.Accepted).Should().Be(1);
        statuses.Count(s => s == HttpStatusCode.Conflict).Should().Be(7);

        var stored = await orders.Invoke.GetFromJsonAsync<OrdersApi.OrderView>($"orders/{orderId}", FlowClient.Json);
        var announced = await Wait.ForAsync(() => sink.Handled.FirstOrDefault(e => (string?)e.Envelope["data"]?["order"]?["orderId"] == orderId),
            $"order-placed for {orderId}", Wait.EndToEndTimeout);
        ((decimal?)announced.Envelope["data"]!["order"]!["amount"]).Should().Be(stored!.Amount, "the stored order is the announced one");
        await Wait.StaysAsync(() => sink.Handled.Count(e => (string?)e.Envelope["data"]?["order"]?["orderId"] == orderId) == 1,
            "announced once", TimeSpan.FromSeconds(2));
    }

    private static Task<HttpResponseMessage> PostOrderAsync(HttpClient orders, string orderId, decimal amount) =>
        orders.PostAsJsonAsync("orders", new
        {
            orderId,
            customerId = "ada",
            items = new[] { new { sku = "sku-1", quantity = 1 } },
            amount,
            shipTo = new { street = "1 Canal St", city = "Utrecht", country = "NL" },
        });
}
