using System.Net;
using System.Net.Http.Json;
using Microsoft.Playwright;
using OrderFlow.Contracts;
using OrderFlow.Orders;
using OrderFlow.ServiceDefaults;
using static Microsoft.Playwright.Assertions;

namespace OrderFlow.Tests.EndToEnd;

/// <summary>
/// The monitor's flow page in a real browser: Debian's chromium, headless, driven by Playwright (no browser download).
/// The page is opened before the orders are placed, so everything it shows after arrived through its live updates.
/// </summary>
public sealed class FlowPageTests(LossyChoreographyCluster cluster) : IClassFixture<LossyChoreographyCluster>, IAsyncLifetime
{
    /// <summary>Long enough for a dropped event's flow to pass the monitor's deadline and be reported stalled.</summary>
    private static readonly float UpdateTimeoutMs = (float)(OrderFlowCluster.MonitorDeadline + Wait.EndToEndTimeout).TotalMilliseconds;

    private readonly FlowClient _flow = new(cluster);
    private IPlaywright _playwright = null!;
    private IBrowser _browser = null!;

    public async Task InitializeAsync()
    {
        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Chromium.LaunchAsync(new() { ExecutablePath = BrokerBinary.Require("chromium"), Headless = true });
    }

    public async Task DisposeAsync()
    {
        await _browser.DisposeAsync();
        _playwright.Dispose();
    }

    [BrokerFact("chromium")]
    public async Task The_page_draws_each_order_live_marks_compensation_and_redrives_a_stalled_flow_to_completion()
    {
        // A phone's width: the page must work there.
        var page = await _browser.NewPageAsync(new() { ViewportSize = new() { Width = 390, Height = 844 } });
        await page.GotoAsync(cluster.AppUrl(AppIds.Monitor).ToString());
        await Expect(page.Locator("#live-mode")).ToHaveTextAsync("server-sent events");

        var sku = await _flow.StockAsync(10);
        var customer = FlowClient.Unique("customer");
        var completed = await _flow.PlaceAsync(customer, sku, quantity: 1, amount: 10m, country: "NL");
        var declined = await _flow.PlaceAsync(customer, sku, quantity: 1, amount: OrderFlowCluster.CreditLimit + 1, country: "NL");

        // The completed order: its row says so, and its timeline lists the steps in flow order with their apps.
        await Expect(Row(page, completed).Locator(".status")).ToHaveTextAsync("✓ Completed", new() { Timeout = UpdateTimeoutMs });
        await Expect(Row(page, completed).GetByRole(AriaRole.Cell).Nth(1)).ToHaveTextAsync("choreography");
        await Row(page, completed).GetByRole(AriaRole.Button, new() { Name = $"Show the timeline of order {completed}" }).ClickAsync();
        await Expect(page.Locator("#detail-id")).ToHaveTextAsync(completed);
        await Expect(page.Locator("#timeline tbody .step"))
            .ToHaveTextAsync([Topics.OrderPlaced, Topics.StockReserved, Topics.PaymentCharged, Topics.ShipmentDispatched, Topics.OrderCompleted]);
        await Expect(page.Locator($"#timeline tbody tr[data-step='{Topics.PaymentCharged}'] td").Nth(2)).ToHaveTextAsync(AppIds.Payments);

        // The declined order: cancelled, the stock release marked as compensation (in text, not by style alone).
        await Expect(Row(page, declined).Locator(".status")).ToHaveTextAsync("✕ Cancelled", new() { Timeout = UpdateTimeoutMs });
        await Row(page, declined).GetByRole(AriaRole.Button, new() { Name = $"Show the timeline of order {declined}" }).ClickAsync();
        await Expect(page.Locator("#timeline tbody .step"))
            .ToHaveTextAsync([Topics.OrderPlaced, Topics.StockReserved, Topics.PaymentDeclined, $"{Topics.StockReleased} (compensation)", Topics.OrderCancelled]);

        // Payments never hears of the next order's reservation: the flow stalls, and the page says so.
        var payments = cluster.SidecarOf(AppIds.Payments);
        (await payments.PostAsJsonAsync("v1.0-devsidecar/faults/drop", new { topic = Topics.StockReserved, count = 1 }))
            .StatusCode.Should().Be(HttpStatusCode.NoContent);
        var stalled = await _flow.PlaceAsync(customer, sku, quantity: 1, amount: 10m, country: "NL");
        await Expect(Row(page, stalled).Locator(".status")).ToHaveTextAsync("⚠ STALLED", new() { Timeout = UpdateTimeoutMs });
        await Expect(page.GetByRole(AriaRole.Status)).ToContainTextAsync($"Order {stalled} is ⚠ STALLED after {Topics.StockReserved}");
        await page.Locator("#filter").SelectOptionAsync("stalled");
        await Expect(page.Locator("#flows tbody tr")).ToHaveCountAsync(1);
        await Expect(Row(page, completed)).ToHaveCountAsync(0);

        // Redrive from the page: the last good event is published again and the order completes.
        (await payments.DeleteAsync("v1.0-devsidecar/faults")).EnsureSuccessStatusCode();
        await page.Locator("#filter").SelectOptionAsync("all");
        await Row(page, stalled).GetByRole(AriaRole.Button, new() { Name = $"Redrive order {stalled}" }).ClickAsync();
        await Expect(Row(page, stalled).Locator(".status")).ToHaveTextAsync("✓ Completed", new() { Timeout = UpdateTimeoutMs });
        (await _flow.TerminalAsync(stalled)).Status.Should().Be(OrderStatus.Completed);
    }

    private static ILocator Row(IPage page, string orderId) => page.Locator($"#flows tbody tr[data-order-id='{orderId}']");
}
