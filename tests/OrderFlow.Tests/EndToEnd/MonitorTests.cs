using System.Net;
using System.Net.Http.Json;
using OrderFlow.Contracts;
using OrderFlow.Inventory;
using OrderFlow.Monitor;
using OrderFlow.Orders;
using OrderFlow.ServiceDefaults;
using Xunit.Abstractions;

namespace OrderFlow.Tests.EndToEnd;

/// <summary>
/// The monitor catches what choreography alone does not: orders whose next event was lost or dead-lettered. Events are
/// lost on purpose by the dev sidecar's fault injection, and dead-lettered by killing a subscriber while they arrive.
/// </summary>
public sealed class MonitorTests(LossyChoreographyCluster cluster, ITestOutputHelper output) : IClassFixture<LossyChoreographyCluster>
{
    private readonly FlowClient _flow = new(cluster);
    private readonly HttpClient _orders = cluster.Invoke(AppIds.Orders);
    private readonly HttpClient _monitor = cluster.Invoke(AppIds.Monitor);

    [Fact]
    public async Task Every_order_whose_event_was_dropped_is_reported_stalled_none_else_and_redrive_completes_them()
    {
        const int Orders = 200;
        var sku = await _flow.StockAsync(1000);
        var customer = FlowClient.Unique("customer");
        var payments = cluster.SidecarOf(AppIds.Payments);
        (await payments.PostAsJsonAsync("v1.0-devsidecar/faults/drop", new { topic = Topics.StockReserved, rate = 0.1, seed = 7 }))
            .StatusCode.Should().Be(HttpStatusCode.NoContent);

        var ids = await Task.WhenAll(Enumerable.Range(0, Orders).Select(_ => _flow.PlaceAsync(customer, sku, quantity: 1, amount: 10m, country: "NL")));

        // Every order ends up either done or reported stalled.
        var (done, stalled) = await Wait.ForAsync(async () =>
            {
                var orders = await OrdersOfAsync(customer);
                var flows = await StalledAsync();
                return (Done: orders.Where(o => o.Status is OrderStatus.Completed).Select(o => o.OrderId).ToHashSet(),
                        Stalled: flows.Where(f => ids.Contains(f.OrderId)).ToList());
            },
            s => s.Done.Count + s.Stalled.Count == Orders, "every order to complete or be reported stalled", TimeSpan.FromSeconds(120));

        var dropped = await DroppedAsync(payments);
        dropped.Should().BeGreaterThan(0, "the fault must have dropped something for this test to mean anything");
        stalled.Should().HaveCount(dropped, "exactly the orders whose event was dropped stall");
        stalled.Should().OnlyContain(f => f.LastStep == Topics.StockReserved && !done.Contains(f.OrderId), "no healthy order is reported");
        var delays = stalled.Select(f => (f.StalledAt!.Value - f.DueAt).TotalMilliseconds).ToList();
        // One check interval after the deadline, plus slack for a check that runs late: CI runs the test assemblies in
        // parallel on 2 cores (run alone, the worst delay seen was 238 ms; under a load average of 12, 1980 ms).
        delays.Should().OnlyContain(d => d >= 0 && d <= (OrderFlowCluster.MonitorCheckInterval + TimeSpan.FromSeconds(3)).TotalMilliseconds,
            "a stall is reported within one check interval after its deadline (plus scheduling slack)");
        output.WriteLine($"{Orders} orders, {dropped} events dropped, {stalled.Count} reported stalled, 0 false positives; " +
                         $"detection delay after the deadline: avg {delays.Average():0} ms, max {delays.Max():0} ms (check interval {OrderFlowCluster.MonitorCheckInterval.TotalMilliseconds} ms)");

        (await payments.DeleteAsync("v1.0-devsidecar/faults")).EnsureSuccessStatusCode();
        foreach (var flow in stalled)
            (await _monitor.PostAsync($"flows/{flow.OrderId}/redrive", null)).StatusCode.Should().Be(HttpStatusCode.Accepted);
        // A second redrive of the same flow does nothing: it is no longer stalled.
        (await _monitor.PostAsync($"flows/{stalled[0].OrderId}/redrive", null)).StatusCode.Should().Be(HttpStatusCode.Conflict);

        var finals = await Task.WhenAll(ids.Select(id => _flow.TerminalAsync(id, TimeSpan.FromSeconds(60))));
        finals.Should().OnlyContain(o => o.Status == OrderStatus.Completed);
        (await _flow.StockOfAsync(sku)).Should().Be(new StockLevel(sku, 1000 - Orders, Orders));
        (await _flow.LedgerAsync(customer)).Should().HaveCount(Orders, "redriven orders are charged once, like the others");
        // Ended flows leave the list the stall detector reads each interval, so its work does not grow with history.
        // The monitor hears order-completed after orders has written it, so the last flows leave the list moments later.
        await Wait.UntilAsync(async () => !(await OpenFlowIdsAsync()).Intersect(ids).Any(), "the ended flows to leave the open list",
            TimeSpan.FromSeconds(15));
    }

    [Fact]
    public async Task Orders_dead_lettered_while_a_subscriber_was_down_are_reported_and_complete_after_redrive()
    {
        var sku = await _flow.StockAsync(10);
        var customer = FlowClient.Unique("customer");
        await cluster.KillAsync(AppIds.Shipping);
        var ids = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => _flow.PlaceAsync(customer, sku, quantity: 1, amount: 10m, country: "NL")));

        // Shipping's sidecar retries payment-charged as components/resiliency says, then sends it to the dead-letter
        // topic: the monitor reports the orders dead-lettered after payment.
        var deadLettered = await Wait.ForAsync(DeadLetteredAsync, flows => ids.All(id => flows.Any(f => f.OrderId == id)),
            "the three orders to be reported dead-lettered", TimeSpan.FromSeconds(60));
        deadLettered.Where(f => ids.Contains(f.OrderId)).Should()
            .OnlyContain(f => f.LastStep == Topics.PaymentCharged && f.DeadLetter!.Topic == Topics.PaymentCharged);

        await cluster.StartAsync(AppIds.Shipping);
        foreach (var id in ids) (await _monitor.PostAsync($"flows/{id}/redrive", null)).StatusCode.Should().Be(HttpStatusCode.Accepted);

        var finals = await Task.WhenAll(ids.Select(id => _flow.TerminalAsync(id)));
        finals.Should().OnlyContain(o => o.Status == OrderStatus.Completed);
        (await _flow.LedgerAsync(customer)).Should().HaveCount(3);
        // The monitor hears order-completed after orders has written it: it is read until it has (or the wait ends).
        var timeline = await Wait.ForAsync(() => _monitor.GetFromJsonAsync<MonitorApi.FlowView>($"flows/{ids[0]}", FlowClient.Json),
            t => t!.Status == FlowStatus.Completed, "the monitor to see the order completed", TimeSpan.FromSeconds(15));
        timeline!.Status.Should().Be(FlowStatus.Completed);
        timeline.Redrives.Should().Be(1);
        timeline.Timeline.Should().Contain(s => s.Step == Topics.ShipmentDispatched && s.App == AppIds.Shipping && s.TraceId != null);
    }

    private async Task<List<OrdersApi.OrderView>> OrdersOfAsync(string customer) =>
        (await _orders.GetFromJsonAsync<List<OrdersApi.OrderView>>("orders", FlowClient.Json))!.Where(o => o.CustomerId == customer).ToList();

    private async Task<List<MonitorApi.FlowView>> StalledAsync() =>
        (await _monitor.GetFromJsonAsync<List<MonitorApi.FlowView>>("flows?status=Stalled", FlowClient.Json))!;

    private async Task<List<MonitorApi.FlowView>> DeadLetteredAsync() =>
        (await _monitor.GetFromJsonAsync<List<MonitorApi.FlowView>>("flows?status=DeadLettered", FlowClient.Json))!;

    /// <summary>The monitor's index of open flows, read from its state store through its sidecar.</summary>
    private async Task<List<string>> OpenFlowIdsAsync()
    {
        var monitorSidecar = cluster.SidecarOf(AppIds.Monitor);
        var ids = new List<string>();
        for (var shard = 0; shard < StateExtensions.IndexShards; shard++)
        {
            using var response = await monitorSidecar.GetAsync($"v1.0/state/{Components.StateStore}/{StateExtensions.IndexShardKey(FlowBook.OpenIndexKey, shard)}");
            response.EnsureSuccessStatusCode();
            if (response.StatusCode == HttpStatusCode.OK) ids.AddRange((await response.Content.ReadFromJsonAsync<List<string>>())!);
        }
        return ids;
    }

    private static async Task<int> DroppedAsync(HttpClient sidecar)
    {
        var faults = await sidecar.GetFromJsonAsync<System.Text.Json.JsonElement>("v1.0-devsidecar/faults");
        return faults.GetProperty("dropped").GetArrayLength();
    }
}
