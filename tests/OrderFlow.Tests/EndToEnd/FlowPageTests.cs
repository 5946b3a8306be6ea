using System.Net;
using System.Net.Http.Json;
using Microsoft.Playwright;
using OrderFlow.Contracts;
using OrderFlow.Monitor;
using OrderFlow.Orders;
using OrderFlow.ServiceDefaults;
using static Microsoft.Playwright.Assertions;

namespace OrderFlow.Tests.EndToEnd;

/// <summary>
/// The monitor's flow page in a real browser: Debian's chromium, headless, driven by Playwright (no browser download).
/// One page per style, at a phone's width, opened before the orders are placed, so everything it shows arrived through
/// its live updates: an order of every branch of the flow, each drawn as a sequence across the services' lanes with
/// the right arrows in the right order; two of them side by side from a linkable address; a dropped event's flow
/// stalled, then redriven from the page to completion.
/// With FLOW_PAGE_SCREENSHOTS=&lt;folder&gt; it also saves the completed order's drawing as flow-{style}.png (the
/// README's pictures: <c>FLOW_PAGE_SCREENSHOTS=$PWD/docs/images dotnet test tests/OrderFlow.Tests --filter FlowPage</c>).
/// </summary>
public abstract class FlowPageTests(OrderFlowCluster cluster) : IAsyncLifetime
{
    /// <summary>Long enough for a dropped event's flow to pass the monitor's deadline and be reported stalled.</summary>
    private static readonly float UpdateTimeoutMs = (float)(OrderFlowCluster.MonitorDeadline + Wait.EndToEndTimeout).TotalMilliseconds;

    private readonly FlowClient _flow = new(cluster);
    private IPlaywright _playwright = null!;
    private IBrowser _browser = null!;

    /// <summary>The lanes of the drawing, left to right.</summary>
    protected abstract string[] Lanes { get; }

    /// <summary>The arrows of each branch, top to bottom, as "step from->to,to via", "(compensation)" where marked.</summary>
    protected abstract string[] Completed { get; }
    protected abstract string[] OutOfStock { get; }
    protected abstract string[] PaymentDeclined { get; }
    protected abstract string[] ShippingFailed { get; }

    /// <summary>The sidecar and topic whose delivery is dropped once, so that the next order stalls.</summary>
    protected abstract (string App, string Topic, string StalledAfter) Drop { get; }

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
    public async Task The_page_draws_every_branch_as_a_sequence_compares_two_orders_and_redrives_a_stalled_flow_to_completion()
    {
        // A phone's width: the page must work there.
        var page = await _browser.NewPageAsync(new() { ViewportSize = new() { Width = 390, Height = 844 } });
        await page.GotoAsync(cluster.AppUrl(AppIds.Monitor).ToString());
        await Expect(page.Locator("#live-mode")).ToHaveTextAsync("server-sent events");

        var sku = await _flow.StockAsync(10);
        var none = await _flow.StockAsync(0);
        var customer = FlowClient.Unique("customer");
        var completed = await _flow.PlaceAsync(customer, sku, quantity: 1, amount: 10m, country: "NL");
        var outOfStock = await _flow.PlaceAsync(customer, none, quantity: 1, amount: 10m, country: "NL");
        var declined = await _flow.PlaceAsync(customer, sku, quantity: 1, amount: OrderFlowCluster.CreditLimit + 1, country: "NL");
        var shippingFailed = await _flow.PlaceAsync(customer, sku, quantity: 1, amount: 10m, country: "AQ");

        foreach (var (orderId, status, arrows) in new[]
                 {
                     (completed, "✓ Completed", Completed), (outOfStock, "✕ Cancelled", OutOfStock),
                     (declined, "✕ Cancelled", PaymentDeclined), (shippingFailed, "✕ Cancelled", ShippingFailed),
                 })
        {
            await Expect(Row(page, orderId).Locator(".status")).ToHaveTextAsync(status, new() { Timeout = UpdateTimeoutMs });
            await Expect(Row(page, orderId).Locator(".style")).ToHaveTextAsync(cluster.Style, new() { Timeout = UpdateTimeoutMs });
            await Row(page, orderId).GetByRole(AriaRole.Button, new() { Name = $"Show the timeline of order {orderId}" }).ClickAsync();
            await ExpectDrawnAsync(page, orderId, arrows);
        }

        // The text form says the same: the table lists the steps in flow order, compensation marked in words.
        await Row(page, shippingFailed).GetByRole(AriaRole.Button, new() { Name = $"Show the timeline of order {shippingFailed}" }).ClickAsync();
        await Expect(Panel(page, shippingFailed).Locator(".timeline tbody .step")).ToHaveTextAsync(
        [
            Topics.OrderPlaced, Topics.StockReserved, Topics.PaymentCharged, Topics.ShipmentFailed,
            $"{Topics.PaymentRefunded} (compensation)", $"{Topics.StockReleased} (compensation)", Topics.OrderCancelled,
        ]);
        await ExpectWorkflowAsync(Panel(page, shippingFailed), "cancelled");

        // The drawing scrolls inside its box; the page itself does not at a phone's width.
        (await page.EvaluateAsync<string[]>("""
            () => [...document.querySelectorAll("body *")]
              .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5 && !e.parentElement.closest(".scroll, .sequence-box"))
              .map(e => `${e.tagName}.${e.className} ${e.textContent.slice(0, 40)}`)
            """)).Should().BeEmpty("nothing sticks out of a phone's width but what scrolls in its box");

        // Two orders side by side (stacked at this width), from an address that can be shared.
        await Row(page, completed).GetByRole(AriaRole.Checkbox, new() { Name = $"Compare order {completed}" }).CheckAsync();
        await Expect(page.Locator(".flow-panel")).ToHaveCountAsync(2);
        page.Url.Should().EndWith($"?orders={shippingFailed}%2C{completed}");
        var linked = await _browser.NewPageAsync(new() { ViewportSize = new() { Width = 390, Height = 844 } });
        await linked.GotoAsync(page.Url);
        await Expect(linked.Locator(".flow-panel .order-id")).ToHaveTextAsync([shippingFailed, completed]);
        var boxes = await Task.WhenAll(linked.Locator(".flow-panel").Nth(0).BoundingBoxAsync(), linked.Locator(".flow-panel").Nth(1).BoundingBoxAsync());
        boxes[1]!.Y.Should().BeGreaterThan(boxes[0]!.Y + boxes[0]!.Height - 1, "at a phone's width the two are stacked");
        await linked.SetViewportSizeAsync(1280, 900);
        boxes = await Task.WhenAll(linked.Locator(".flow-panel").Nth(0).BoundingBoxAsync(), linked.Locator(".flow-panel").Nth(1).BoundingBoxAsync());
        boxes[1]!.Y.Should().Be(boxes[0]!.Y, "on a wide screen they are side by side");
        await linked.CloseAsync();

        if (Environment.GetEnvironmentVariable("FLOW_PAGE_SCREENSHOTS") is { Length: > 0 } folder) await ScreenshotAsync(completed, folder);

        // A dropped delivery: the next order's flow stalls, and the page says so.
        var (app, topic, stalledAfter) = Drop;
        var sidecar = cluster.SidecarOf(app);
        (await sidecar.PostAsJsonAsync("v1.0-devsidecar/faults/drop", new { topic, count = 1 })).StatusCode.Should().Be(HttpStatusCode.NoContent);
        var stalled = await _flow.PlaceAsync(customer, sku, quantity: 1, amount: 10m, country: "NL");
        await Expect(Row(page, stalled).Locator(".status")).ToHaveTextAsync("⚠ STALLED", new() { Timeout = UpdateTimeoutMs });
        await Expect(page.GetByRole(AriaRole.Status)).ToContainTextAsync($"Order {stalled} is ⚠ STALLED after {stalledAfter}");
        await Row(page, stalled).GetByRole(AriaRole.Button, new() { Name = $"Show the timeline of order {stalled}" }).ClickAsync();
        await Expect(Panel(page, stalled).Locator("svg .pending")).ToContainTextAsync(string.Join(" or ", FlowRules.Next(stalledAfter)));
        await page.Locator("#filter").SelectOptionAsync("stalled");
        await Expect(page.Locator("#flows tbody tr")).ToHaveCountAsync(1);
        await Expect(Row(page, completed)).ToHaveCountAsync(0);

        // Redrive from the page: the last good event is published again and the order completes.
        (await sidecar.DeleteAsync("v1.0-devsidecar/faults")).EnsureSuccessStatusCode();
        await page.Locator("#filter").SelectOptionAsync("all");
        await Row(page, stalled).GetByRole(AriaRole.Button, new() { Name = $"Redrive order {stalled}" }).ClickAsync();
        await Expect(Row(page, stalled).Locator(".status")).ToHaveTextAsync("✓ Completed", new() { Timeout = UpdateTimeoutMs });
        (await _flow.TerminalAsync(stalled)).Status.Should().Be(OrderStatus.Completed);
        await Row(page, stalled).GetByRole(AriaRole.Button, new() { Name = $"Show the timeline of order {stalled}" }).ClickAsync();
        await Expect(Panel(page, stalled).Locator(".summary")).ToContainTextAsync("redriven 1×");
        await ExpectDrawnAsync(page, stalled, Completed);
    }

    /// <summary>
    /// The arrows as the drawing shows them: each arrow's sender and receivers are the lanes its lines start and end
    /// on (by position, not by the data the page drew them from), top to bottom, with the compensation mark of its label.
    /// </summary>
    private async Task ExpectDrawnAsync(IPage page, string orderId, string[] arrows)
    {
        var drawing = Panel(page, orderId).Locator("svg.sequence");
        await Expect(drawing.Locator(".lane-name")).ToHaveTextAsync(Lanes);
        await Expect(drawing.Locator("g.arrow")).ToHaveCountAsync(arrows.Length, new() { Timeout = UpdateTimeoutMs });
        var drawn = await drawing.EvaluateAsync<string[]>("""
            svg => {
              const lanes = new Map([...svg.querySelectorAll(".lane")].map(l => [l.querySelector("line").getAttribute("x1"), l.dataset.app]));
              const y = g => Number(g.querySelector("line, circle").getAttribute(g.querySelector("line") ? "y1" : "cy"));
              return [...svg.querySelectorAll("g.arrow")].sort((a, b) => y(a) - y(b)).map(g => {
                const lines = [...g.querySelectorAll("line")];
                const from = lines.length ? lanes.get(lines[0].getAttribute("x1")) : "?";
                const to = lines.map(l => lanes.get(l.getAttribute("x2"))).join(",");
                const marked = g.querySelector("text").textContent.includes("(compensation)") ? " (compensation)" : "";
                return `${g.dataset.step} ${from}->${to} ${g.dataset.via}${marked}`;
              });
            }
            """);
        drawn.Should().Equal(arrows, $"order {orderId} in {cluster.Style}");
    }

    /// <summary>In orchestration, the workflow's runtime status and custom status; nothing in choreography.</summary>
    protected virtual Task ExpectWorkflowAsync(ILocator panel, string customStep) => Expect(panel.Locator(".workflow")).ToHaveCountAsync(0);

    private async Task ScreenshotAsync(string orderId, string folder)
    {
        var page = await _browser.NewPageAsync(new() { ViewportSize = new() { Width = 900, Height = 700 } });
        await page.GotoAsync($"{cluster.AppUrl(AppIds.Monitor)}?orders={orderId}");
        await Expect(Panel(page, orderId).Locator("svg.sequence g.arrow")).ToHaveCountAsync(Completed.Length);
        Directory.CreateDirectory(folder);
        // The heading, the status lines and the drawing; the table below says the same in text.
        var panel = (await Panel(page, orderId).BoundingBoxAsync())!;
        var drawing = (await Panel(page, orderId).Locator(".sequence-box").BoundingBoxAsync())!;
        await page.ScreenshotAsync(new()
        {
            Path = Path.Combine(folder, $"flow-{cluster.Style}.png"),
            FullPage = true, // the panel is below the list, past the window's height
            Clip = new() { X = panel.X, Y = panel.Y, Width = panel.Width, Height = drawing.Y + drawing.Height + 8 - panel.Y },
        });
        await page.CloseAsync();
    }

    private static ILocator Row(IPage page, string orderId) => page.Locator($"#flows tbody tr[data-order-id='{orderId}']");

    private static ILocator Panel(IPage page, string orderId) => page.Locator($".flow-panel[data-order-id='{orderId}']");
}

public sealed class ChoreographyFlowPageTests(LossyChoreographyCluster cluster) : FlowPageTests(cluster), IClassFixture<LossyChoreographyCluster>
{
    protected override string[] Lanes => [AppIds.Orders, AppIds.Inventory, AppIds.Payments, AppIds.Shipping, AppIds.Notifications];

    protected override string[] Completed =>
    [
        "order-placed orders->inventory event", "stock-reserved inventory->payments event",
        "payment-charged payments->shipping,orders event", "shipment-dispatched shipping->orders event",
        "order-completed orders->notifications event",
    ];

    protected override string[] OutOfStock =>
        ["order-placed orders->inventory event", "stock-rejected inventory->orders event", "order-cancelled orders->notifications event"];

    protected override string[] PaymentDeclined =>
    [
        "order-placed orders->inventory event", "stock-reserved inventory->payments event",
        "payment-declined payments->inventory,orders event", "stock-released inventory->orders event (compensation)",
        "order-cancelled orders->notifications event",
    ];

    protected override string[] ShippingFailed =>
    [
        "order-placed orders->inventory event", "stock-reserved inventory->payments event",
        "payment-charged payments->shipping,orders event", "shipment-failed shipping->payments,orders event",
        "payment-refunded payments->inventory,orders event (compensation)", "stock-released inventory->orders event (compensation)",
        "order-cancelled orders->notifications event",
    ];

    /// <summary>Payments never hears of the reservation.</summary>
    protected override (string App, string Topic, string StalledAfter) Drop => (AppIds.Payments, Topics.StockReserved, Topics.StockReserved);
}

public sealed class OrchestrationFlowPageTests(OrchestrationCluster cluster) : FlowPageTests(cluster), IClassFixture<OrchestrationCluster>
{
    protected override string[] Lanes =>
        [AppIds.Orders, AppIds.Orchestrator, AppIds.Inventory, AppIds.Payments, AppIds.Shipping, AppIds.Notifications];

    protected override string[] Completed =>
    [
        "order-placed orders->orchestrator event", "stock-reserved orchestrator->inventory call",
        "payment-charged orchestrator->payments call", "shipment-dispatched shipping->orchestrator event",
        "order-completed orchestrator->orders call", "order-completed orders->notifications event",
    ];

    protected override string[] OutOfStock =>
    [
        "order-placed orders->orchestrator event", "stock-rejected orchestrator->inventory call",
        "order-cancelled orchestrator->orders call", "order-cancelled orders->notifications event",
    ];

    protected override string[] PaymentDeclined =>
    [
        "order-placed orders->orchestrator event", "stock-reserved orchestrator->inventory call",
        "payment-declined orchestrator->payments call", "stock-released orchestrator->inventory call (compensation)",
        "order-cancelled orchestrator->orders call", "order-cancelled orders->notifications event",
    ];

    protected override string[] ShippingFailed =>
    [
        "order-placed orders->orchestrator event", "stock-reserved orchestrator->inventory call",
        "payment-charged orchestrator->payments call", "shipment-failed shipping->orchestrator event",
        "payment-refunded orchestrator->payments call (compensation)", "stock-released orchestrator->inventory call (compensation)",
        "order-cancelled orchestrator->orders call", "order-cancelled orders->notifications event",
    ];

    /// <summary>The orchestrator never hears of the placed order, so no workflow starts; a redrive publishes it again.</summary>
    protected override (string App, string Topic, string StalledAfter) Drop => (AppIds.Orchestrator, Topics.OrderPlaced, Topics.OrderPlaced);

    protected override async Task ExpectWorkflowAsync(ILocator panel, string customStep)
    {
        await Expect(panel.Locator(".workflow")).ToContainTextAsync($"Workflow: Completed; custom status: step: {customStep}");
    }
}
