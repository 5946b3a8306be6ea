using System.Net.Http.Json;
using OrderFlow.Contracts;
using OrderFlow.Inventory;
using OrderFlow.Orders;
using OrderFlow.Payments;

namespace OrderFlow.Tests.EndToEnd;

/// <summary>The workflow app dies in the middle of an order; after it restarts the order completes and no step runs twice.</summary>
public sealed class OrchestrationRecoveryTests(SlowShippingOrchestrationCluster cluster) : IClassFixture<SlowShippingOrchestrationCluster>
{
    private readonly FlowClient _flow = new(cluster);
    private readonly HttpClient _orders = cluster.Invoke(AppIds.Orders);

    [Fact]
    public async Task An_order_completes_once_after_the_workflow_app_is_killed_mid_flow()
    {
        var sku = await _flow.StockAsync(5);
        var customer = FlowClient.Unique("customer");
        var orderId = await _flow.PlaceAsync(customer, sku, quantity: 1, amount: 30m, country: "NL");

        // Charged, so the workflow is now scheduling the shipment or waiting for it.
        await Wait.ForAsync(GetAsync(orderId), o => o.Status == OrderStatus.PaymentCharged, $"order {orderId} to be charged", Wait.EndToEndTimeout);
        await cluster.KillAndRestartAsync(AppIds.Orchestrator);
        (await GetAsync(orderId)()).Status.Should().Be(OrderStatus.PaymentCharged, "the kill must land before the order is done");

        var order = await _flow.TerminalAsync(orderId);
        order.Status.Should().Be(OrderStatus.Completed);
        order.History.Select(h => h.Step).Should().OnlyHaveUniqueItems().And.Contain(
            [Topics.OrderPlaced, Topics.StockReserved, Topics.PaymentCharged, Topics.ShipmentDispatched, Topics.OrderCompleted]);
        (await _flow.StockOfAsync(sku)).Should().Be(new StockLevel(sku, 4, 1));
        (await _flow.LedgerAsync(customer)).Select(e => (e.Kind, e.Amount)).Should().Equal((LedgerEntryKind.Charge, 30m));
        (await _flow.ShipmentAsync(orderId)).Should().NotBeNull();
        await _flow.NotificationAsync(orderId);
    }

    private Func<Task<OrdersApi.OrderView>> GetAsync(string orderId) =>
        async () => (await _orders.GetFromJsonAsync<OrdersApi.OrderView>($"orders/{orderId}", FlowClient.Json))!;
}
