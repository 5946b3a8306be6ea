using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using OrderFlow.Contracts;
using OrderFlow.Inventory;
using OrderFlow.Monitor;
using OrderFlow.Notifications;
using OrderFlow.Orders;
using OrderFlow.Payments;
using OrderFlow.Shipping;

namespace OrderFlow.Tests.EndToEnd;

/// <summary>
/// The order flow's outcomes, written once and run against every style: for the same input each style must end
/// with the same order status, stock, ledger, shipments and notifications. Every test uses its own SKUs, customers
/// and orders, so the tests of one class can share a cluster.
/// </summary>
public abstract class OrderFlowScenarios(OrderFlowCluster cluster)
{
    private static readonly JsonSerializerOptions Json = FlowClient.Json;
    private readonly FlowClient _flow = new(cluster);
    private readonly HttpClient _orders = cluster.Invoke(AppIds.Orders);
    private readonly HttpClient _shipping = cluster.Invoke(AppIds.Shipping);
    private readonly HttpClient _notifications = cluster.Invoke(AppIds.Notifications);
    private readonly HttpClient _monitor = cluster.Invoke(AppIds.Monitor);

    private static string Unique(string prefix) => FlowClient.Unique(prefix);

    [BrokerFact]
    public async Task A_good_order_is_reserved_charged_shipped_and_announced()
    {
        var sku = await _flow.StockAsync(10);
        var customer = Unique("customer");
        var orderId = await _flow.PlaceAsync(customer, sku, quantity: 2, amount: 120m, country: "NL");

        var order = await _flow.TerminalAsync(orderId);
        order.Status.Should().Be(OrderStatus.Completed);
        order.Reason.Should().BeNull();
        order.History.Select(h => h.Step).Should().ContainInOrder(Topics.OrderPlaced, Topics.OrderCompleted)
            .And.Contain([Topics.StockReserved, Topics.PaymentCharged, Topics.ShipmentDispatched]);

        (await _flow.StockOfAsync(sku)).Should().Be(new StockLevel(sku, 8, 2));
        (await _flow.LedgerAsync(customer)).Select(e => (e.OrderId, e.Kind, e.Amount)).Should().Equal((orderId, LedgerEntryKind.Charge, 120m));
        var shipment = await _flow.ShipmentAsync(orderId);
        shipment!.Status.Should().Be(ShipmentStatus.Dispatched);
        shipment.TrackingNumber.Should().NotBeNullOrEmpty();
        (await _flow.NotificationAsync(orderId)).Kind.Should().Be(NotificationKind.OrderCompleted);
    }

    /// <summary>
    /// The W3C trace context goes from POST /orders through every sidecar hop (invocation, the outbox, each delivery)
    /// to the notification: every app's spans of the order are in the test's trace, and they form one tree.
    /// </summary>
    [BrokerFact]
    public async Task One_order_is_one_trace_from_POST_orders_to_the_notification()
    {
        var sku = await _flow.StockAsync(10);
        using var spans = new TraceCollector();
        ActivityTraceId traceId;
        string orderId;
        using (var root = spans.StartRoot("place an order"))
        {
            traceId = root.TraceId;
            orderId = await _flow.PlaceAsync(Unique("customer"), sku, quantity: 1, amount: 10m, country: "NL");
        }
        await _flow.NotificationAsync(orderId);

        string[] apps = [AppIds.Orders, AppIds.Inventory, AppIds.Payments, AppIds.Shipping, AppIds.Notifications];
        var appOfPort = apps.ToDictionary(cluster.AppPortOf);
        string? AppOf(Activity span) =>
            span.Kind == ActivityKind.Server && span.GetTagItem("server.port") is int port ? appOfPort.GetValueOrDefault(port) : null;
        static List<Activity> Orphans(IReadOnlyList<Activity> trace)
        {
            var ids = trace.Select(s => s.SpanId).ToHashSet();
            return [.. trace.Where(s => s.ParentSpanId != default && !ids.Contains(s.ParentSpanId))];
        }

        var trace = await Wait.ForAsync(() => Task.FromResult(spans.Of(traceId)),
            t => apps.All(app => t.Any(s => AppOf(s) == app)) && Orphans(t).Count == 0 && t.Count(s => s.ParentSpanId == default) == 1,
            $"the spans of order {orderId} in every app, in one tree", Wait.EndToEndTimeout,
            t => $"apps: [{string.Join(", ", t.Select(AppOf).OfType<string>().Distinct())}]; "
                + $"orphans: [{string.Join(", ", Orphans(t).Select(s => $"{s.Kind} {s.DisplayName} {s.GetTagItem("url.full") ?? s.GetTagItem("url.path")} (parent {s.ParentSpanId})"))}]");

        trace.Where(s => AppOf(s) == AppIds.Notifications).Should().Contain(s => s.Kind == ActivityKind.Server && s.DisplayName.StartsWith("POST"),
            "the notification's delivery is in the order's trace");

        // As daprd's: every request into an app is the child of its own sidecar's span (a delivery's pubsub/{topic}, an
        // invocation's CallLocal/{appId}/{method}), and every call of an app to its sidecar is a sidecar span whose
        // parent is the app's. (The HttpClient spans in between are the sidecars' own client calls, seen only because
        // this test instruments HttpClient process-wide.)
        var byId = trace.ToDictionary(s => s.SpanId);
        Activity? Above(Activity span)
        {
            var parent = byId.GetValueOrDefault(span.ParentSpanId);
            while (parent is not null && parent.Source.Name == "System.Net.Http") parent = byId.GetValueOrDefault(parent.ParentSpanId);
            return parent;
        }
        var tree = TraceCollector.Tree(trace);
        foreach (var entry in trace.Where(s => AppOf(s) is not null))
        {
            var app = AppOf(entry)!;
            Above(entry).Should().Match<Activity>(p => p != null && p.Source.Name.StartsWith($"DevSidecar.{app}.")
                && (p.DisplayName.StartsWith("pubsub/") || p.DisplayName.StartsWith($"CallLocal/{app}/")),
                $"{app}'s {entry.DisplayName} comes from its sidecar's delivery or invocation span:\n{tree}");
        }
        var apiSpans = trace.Where(s => TraceCollector.IsSidecar(s) && s.Kind == ActivityKind.Client && s.GetTagItem("dapr.api") is not null).ToList();
        apiSpans.Should().NotBeEmpty();
        foreach (var api in apiSpans)
            Above(api).Should().Match<Activity>(p => p != null && !TraceCollector.IsSidecar(p), $"{api.DisplayName} is a call of an app's, not of {Above(api)?.DisplayName} [{Above(api)?.Source.Name}]:\n{tree}");
        foreach (var app in apps)
            apiSpans.Should().Contain(s => s.Source.Name.StartsWith($"DevSidecar.{app}."), $"{app} calls its sidecar in the order's trace");

        var save = apiSpans.First(s => s.DisplayName == "/dapr.proto.runtime.v1.Dapr/SaveState");
        save.Kind.Should().Be(ActivityKind.Client);
        save.GetTagItem("db.system").Should().Be("state");
        save.GetTagItem("db.name").Should().NotBeNull();
        save.GetTagItem("dapr.api").Should().Be("/dapr.proto.runtime.v1.Dapr/SaveState");
        save.GetTagItem("dapr.protocol").Should().Be("grpc");
        var delivery = trace.First(s => TraceCollector.IsSidecar(s) && s.DisplayName == $"pubsub/{Topics.OrderCompleted}");
        delivery.GetTagItem("messaging.destination.name").Should().Be(Topics.OrderCompleted);
        if (cluster.Style == "orchestration")
        {
            // The workflow's activities invoke the services: the caller's sidecar span and the target's, both CallLocal.
            var callee = trace.First(s => s.Kind == ActivityKind.Server && s.DisplayName == $"CallLocal/{AppIds.Payments}/payments");
            Above(callee)!.DisplayName.Should().Be(callee.DisplayName);
            Above(callee)!.Source.Name.Should().StartWith($"DevSidecar.{AppIds.Orchestrator}.");
            Above(callee)!.GetTagItem("net.peer.name").Should().Be(AppIds.Payments);
            callee.GetTagItem("dapr.api").Should().Be("/dapr.proto.internals.v1.ServiceInvocation/CallLocalStream");

            // The orchestrator's sidecar makes daprd's workflow engine spans (durabletask-go's) in the order's trace; the
            // orchestration span comes when the workflow ends, and the trace is still one tree.
            var withEngine = await Wait.ForAsync(() => Task.FromResult(spans.Of(traceId)),
                t => t.Any(s => s.DisplayName == "orchestration||OrderWorkflow") && Orphans(t).Count == 0,
                $"the workflow's orchestration span in the trace of order {orderId}", Wait.EndToEndTimeout);
            var engine = withEngine.Where(s => s.Source.Name.StartsWith($"DevSidecar.{AppIds.Orchestrator}.")).ToDictionary(s => s.SpanId);
            var orchestration = engine.Values.Single(s => s.DisplayName == "orchestration||OrderWorkflow");
            engine[orchestration.ParentSpanId].DisplayName.Should().Be("create_orchestration||OrderWorkflow");
            engine.Values.Should().Contain(s => s.DisplayName.StartsWith("activity||") && s.ParentSpanId == orchestration.SpanId);
        }
    }

    [BrokerFact]
    public async Task An_order_without_enough_stock_is_cancelled_and_nothing_is_charged()
    {
        var sku = await _flow.StockAsync(1);
        var customer = Unique("customer");
        var orderId = await _flow.PlaceAsync(customer, sku, quantity: 2, amount: 50m, country: "NL");

        var order = await _flow.TerminalAsync(orderId);
        order.Status.Should().Be(OrderStatus.Cancelled);
        order.Reason.Should().Be($"out of stock: {sku} (wanted 2, available 1)");

        (await _flow.StockOfAsync(sku)).Should().Be(new StockLevel(sku, 1, 0));
        (await _flow.LedgerAsync(customer)).Should().BeEmpty();
        (await _flow.ShipmentAsync(orderId)).Should().BeNull();
        (await _flow.NotificationAsync(orderId)).Kind.Should().Be(NotificationKind.OrderCancelled);
    }

    [BrokerFact]
    public async Task An_order_over_the_credit_limit_is_declined_and_its_stock_released()
    {
        var sku = await _flow.StockAsync(10);
        var customer = Unique("customer");
        var orderId = await _flow.PlaceAsync(customer, sku, quantity: 3, amount: OrderFlowCluster.CreditLimit + 1, country: "NL");

        var order = await _flow.TerminalAsync(orderId);
        order.Status.Should().Be(OrderStatus.Cancelled);
        order.Reason.Should().StartWith("payment declined: amount 1001.00 exceeds the limit 1000.00");
        order.History.Select(h => h.Step).Should().ContainInOrder(Topics.StockReserved, Topics.PaymentDeclined, Topics.StockReleased, Topics.OrderCancelled);

        (await _flow.StockOfAsync(sku)).Should().Be(new StockLevel(sku, 10, 0));
        (await _flow.LedgerAsync(customer)).Should().BeEmpty();
        (await _flow.ShipmentAsync(orderId)).Should().BeNull();
        (await _flow.NotificationAsync(orderId)).Kind.Should().Be(NotificationKind.OrderCancelled);
    }

    [BrokerFact]
    public async Task An_undeliverable_order_is_refunded_then_released_in_reverse_order()
    {
        var sku = await _flow.StockAsync(10);
        var customer = Unique("customer");
        var orderId = await _flow.PlaceAsync(customer, sku, quantity: 1, amount: 80m, country: "AQ");

        var order = await _flow.TerminalAsync(orderId);
        order.Status.Should().Be(OrderStatus.Cancelled);
        order.Reason.Should().Be("undeliverable destination: AQ");
        order.History.Select(h => h.Step).Should().ContainInOrder(
            Topics.PaymentCharged, Topics.ShipmentFailed, Topics.PaymentRefunded, Topics.StockReleased, Topics.OrderCancelled);

        (await _flow.StockOfAsync(sku)).Should().Be(new StockLevel(sku, 10, 0));
        var ledger = await _flow.LedgerAsync(customer);
        ledger.Select(e => (e.Kind, e.Amount)).Should().Equal((LedgerEntryKind.Charge, 80m), (LedgerEntryKind.Refund, -80m));
        // Reverse order as it happened at the services, not as orders heard of it: the refund, then the release.
        var reservation = await _flow.ReservationAsync(orderId);
        reservation.Status.Should().Be(ReservationStatus.Released);
        reservation.ReleasedAt.Should().BeOnOrAfter(ledger.Single(e => e.Kind == LedgerEntryKind.Refund).At);
        (await _flow.ShipmentAsync(orderId))!.Status.Should().Be(ShipmentStatus.Failed);
        (await _flow.NotificationAsync(orderId)).Kind.Should().Be(NotificationKind.OrderCancelled);
    }

    [BrokerFact]
    public async Task A_bad_order_is_answered_with_problem_details_and_nothing_is_stored()
    {
        var customer = Unique("customer");
        var response = await _orders.PostAsJsonAsync("orders", new { customerId = customer, items = Array.Empty<object>(), amount = -1 });

        response.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        response.Content.Headers.ContentType!.MediaType.Should().Be("application/problem+json");
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        problem.GetProperty("errors").EnumerateObject().Select(p => p.Name).Should().BeEquivalentTo("items", "amount", "shipTo");
        var all = await _orders.GetFromJsonAsync<List<OrdersApi.OrderView>>("orders", Json);
        all!.Should().NotContain(o => o.CustomerId == customer);
    }

    [BrokerFact]
    public async Task An_unreadable_order_is_answered_with_problem_details_naming_what_is_wrong_and_nothing_is_stored()
    {
        var customer = Unique("customer");
        async Task<string> DetailOfAsync(string body)
        {
            using var response = await _orders.PostAsync("orders", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
            response.StatusCode.Should().Be(HttpStatusCode.BadRequest, body);
            response.Content.Headers.ContentType!.MediaType.Should().Be("application/problem+json");
            return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetString()!;
        }

        (await DetailOfAsync("{\"customerId\":\"" + customer + "\",\"items\":[{\"sku\":\"a\",\"quantity\":1}],\"amount\":\"abc\"}"))
            .Should().Contain("$.amount").And.Contain("Decimal");
        (await DetailOfAsync("{\"customerId\":\"" + customer + "\",")).Should().Contain("JSON");
        (await DetailOfAsync("")).Should().NotBeNullOrWhiteSpace();
        var all = await _orders.GetFromJsonAsync<List<OrdersApi.OrderView>>("orders", Json);
        all!.Should().NotContain(o => o.CustomerId == customer);
    }

    [BrokerFact]
    public async Task The_steps_command_takes_one_step_or_several_and_refuses_an_end_or_nothing()
    {
        var missing = Unique("missing");
        async Task<HttpStatusCode> StatusOfAsync(string body)
        {
            using var response = await _orders.PostAsync($"orders/{missing}/steps", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
            return response.StatusCode;
        }

        (await StatusOfAsync("""{"step":"stock-reserved"}""")).Should().Be(HttpStatusCode.NotFound, "one step, for an order that does not exist");
        (await StatusOfAsync("""{"steps":[{"step":"stock-reserved"},{"step":"payment-charged"}]}""")).Should().Be(HttpStatusCode.NotFound);
        (await StatusOfAsync("""{"steps":[{"step":"stock-reserved"},{"step":"order-completed"}]}""")).Should().Be(HttpStatusCode.BadRequest, "an end goes through complete");
        (await StatusOfAsync("""{"steps":[]}""")).Should().Be(HttpStatusCode.BadRequest);
        (await StatusOfAsync("{}")).Should().Be(HttpStatusCode.BadRequest);
    }

    [BrokerFact]
    public async Task Every_service_answers_what_it_cannot_find_with_problem_details_naming_it()
    {
        var missing = Unique("missing");
        var lookups = new List<(string App, string Path)>
        {
            (AppIds.Orders, $"orders/{missing}"), (AppIds.Orders, $"orders/{missing}/progress"),
            (AppIds.Inventory, $"stock/{missing}"), (AppIds.Inventory, $"reservations/{missing}"),
            (AppIds.Payments, $"payments/{missing}"), (AppIds.Shipping, $"shipments/{missing}"),
            (AppIds.Notifications, $"notifications/{missing}"), (AppIds.Monitor, $"flows/{missing}"),
            (AppIds.Monitor, $"flows/{missing}/redrive"),
        };
        if (cluster.Style == "orchestration") lookups.Add((AppIds.Orchestrator, $"workflows/{missing}"));

        foreach (var (app, path) in lookups)
        {
            using var response = path.EndsWith("/redrive")
                ? await cluster.Invoke(app).PostAsync(path, null)
                : await cluster.Invoke(app).GetAsync(path);
            response.StatusCode.Should().Be(HttpStatusCode.NotFound, $"{app} {path}");
            response.Content.Headers.ContentType!.MediaType.Should().Be("application/problem+json", $"{app} {path}");
            var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
            problem.GetProperty("status").GetInt32().Should().Be(404);
            problem.GetProperty("detail").GetString().Should().Contain(missing, $"{app} {path} says what it did not find");
        }

        // A path no service maps gets problem details too, not an empty 404.
        using var unmapped = await _orders.GetAsync("no-such-resource");
        unmapped.StatusCode.Should().Be(HttpStatusCode.NotFound);
        unmapped.Content.Headers.ContentType!.MediaType.Should().Be("application/problem+json");
    }

    [BrokerFact]
    public async Task Events_delivered_twice_change_nothing_twice()
    {
        var sku = await _flow.StockAsync(10);
        var customer = Unique("customer");
        var orderId = await _flow.PlaceAsync(customer, sku, quantity: 2, amount: 100m, country: "NL");
        var order = await _flow.TerminalAsync(orderId);
        order.Status.Should().Be(OrderStatus.Completed);
        var workflowBefore = await WorkflowRunAsync(orderId);

        // Redeliver the flow's events, as an at-least-once broker may.
        var details = new OrderDetails(orderId, customer, [new OrderItem(sku, 2)], 100m, order.ShipTo);
        await _flow.RepublishAsync(Topics.OrderPlaced, new OrderPlaced(details));
        await _flow.RepublishAsync(Topics.StockReserved, new StockReserved(details));
        await _flow.RepublishAsync(Topics.PaymentCharged, new PaymentCharged(details, "duplicate"));
        await _flow.RepublishAsync(Topics.ShipmentDispatched, new ShipmentDispatched(details, "duplicate"));

        // Each subscriber takes its topic's events one at a time, so once an order placed afterwards is done,
        // the duplicates before it have been handled.
        var barrier = await _flow.PlaceAsync(customer, sku, quantity: 1, amount: 10m, country: "NL");
        (await _flow.TerminalAsync(barrier)).Status.Should().Be(OrderStatus.Completed);
        await _flow.NotificationAsync(barrier);

        (await _flow.StockOfAsync(sku)).Should().Be(new StockLevel(sku, 7, 3));
        (await _flow.LedgerAsync(customer)).Select(e => (e.OrderId, e.Amount)).Should().Equal((orderId, 100m), (barrier, 10m));
        (await _shipping.GetFromJsonAsync<List<Shipment>>("shipments", Json))!.Count(s => s.Order.OrderId == orderId).Should().Be(1);
        // The list is an index written just after each notification record: wait until it names the barrier too.
        var notified = await Wait.ForAsync(() => _notifications.GetFromJsonAsync<List<Notification>>($"notifications?customerId={customer}", Json),
            list => list!.Any(n => n.OrderId == barrier), "the barrier's notification to be listed", Wait.EndToEndTimeout);
        notified!.Select(n => n.OrderId).Should().Equal(orderId, barrier);
        var after = await _orders.GetFromJsonAsync<OrdersApi.OrderView>($"orders/{orderId}", Json);
        after!.History.Should().BeEquivalentTo(order.History);
        // daprd re-creates a finished workflow whose id is started again: the order's workflow must not have been.
        (await WorkflowRunAsync(orderId)).Should().Be(workflowBefore, "a redelivered order-placed starts no second run of a finished order's workflow");
    }

    /// <summary>
    /// In orchestration style, when the order's finished workflow instance was created, from daprd's workflow API; else
    /// null. The order is completed by the workflow's last activity, so the workflow itself may finish a turn later.
    /// </summary>
    private async Task<string?> WorkflowRunAsync(string orderId)
    {
        if (cluster.Style != "orchestration") return null;
        using var sidecar = cluster.SidecarOf(AppIds.Orchestrator);
        var workflow = await Wait.ForAsync(
            () => sidecar.GetFromJsonAsync<JsonElement>($"v1.0/workflows/dapr/{orderId}"),
            w => w.GetProperty("runtimeStatus").GetString() == "COMPLETED", $"the workflow of order {orderId} to complete", Wait.EndToEndTimeout);
        return workflow.GetProperty("createdAt").GetString();
    }

    /// <summary>The retries of components/resiliency's delivery policy, as the file says (so the test follows an edit of it).</summary>
    private static readonly long DeliveryRetries = DevSidecar.Resources.ResourceLoader
        .Load([Repo.Components("resiliency")], AppIds.Inventory, new HashSet<string>()).Resiliencies.Single().Retries["eventDelivery"].MaxRetries;

    /// <summary>The subscriber of order-placed that moves the flow: inventory in choreography, the orchestrator otherwise.</summary>
    private string FirstSubscriber => cluster.Style == "choreography" ? AppIds.Inventory : AppIds.Orchestrator;

    private async Task<MonitorApi.FlowView> DeadLetteredFlowAsync(string orderId) =>
        (await Wait.ForAsync(
            async () => (await _monitor.GetFromJsonAsync<List<MonitorApi.FlowView>>("flows?status=DeadLettered", Json))!,
            flows => flows.Any(f => f.OrderId == orderId), $"the monitor to report order {orderId} dead-lettered", Wait.EndToEndTimeout))
        .Single(f => f.OrderId == orderId);

    // daprd v1.17.9 pkg/runtime/subscription/subscription.go: a delivery failing with 500 is retried only under the
    // component's inbound Resiliency policy, then published to the subscription's deadLetterTopic and acknowledged.
    [BrokerFact]
    public async Task A_poison_event_is_retried_as_the_resiliency_policy_says_then_dead_lettered_and_reported_by_the_monitor()
    {
        var sku = await _flow.StockAsync(10);
        string orderId;
        await using (var poisoned = await cluster.StandInForAsync(FirstSubscriber, 500))
        {
            orderId = await _flow.PlaceAsync(Unique("customer"), sku, quantity: 1, amount: 10m, country: "NL");
            var flow = await DeadLetteredFlowAsync(orderId);
            flow.DeadLetter!.Topic.Should().Be(Topics.OrderPlaced);
            poisoned.Attempts(orderId).Should().Be((int)(1 + DeliveryRetries), "one attempt and the policy's retries, no more");
            await Wait.StaysAsync(() => poisoned.Attempts(orderId) == 1 + DeliveryRetries, "dead-lettered events are acknowledged: no broker redelivery");
        }
        (await _flow.StockOfAsync(sku)).Should().Be(new StockLevel(sku, 10, 0), "nothing was reserved for the poisoned order");
    }

    // daprd v1.17.9 pkg/runtime/subscription/postman/http/http.go: a 404 is not retriable; the event is dropped to the
    // dead-letter topic at once, whatever the retry policy.
    [BrokerFact]
    public async Task A_404_from_the_subscriber_drops_the_event_to_the_dead_letter_topic_without_retries()
    {
        var sku = await _flow.StockAsync(10);
        await using var missing = await cluster.StandInForAsync(FirstSubscriber, 404);
        var orderId = await _flow.PlaceAsync(Unique("customer"), sku, quantity: 1, amount: 10m, country: "NL");
        (await DeadLetteredFlowAsync(orderId)).DeadLetter!.Topic.Should().Be(Topics.OrderPlaced);
        missing.Attempts(orderId).Should().Be(1);
        await Wait.StaysAsync(() => missing.Attempts(orderId) == 1, "a dropped event is not delivered again");
    }

    // #17: the monitor batches its bookkeeping (one bulk read and one guarded write per event; its indexes join a write
    // only when a flow starts or ends) and asks the orchestrator for a style only when someone reads the flow.
    [BrokerFact]
    public async Task The_monitor_records_an_order_without_calling_another_app()
    {
        const int Orders = 5, EventsPerOrder = 5;
        var sku = await _flow.StockAsync(10);
        var customer = Unique("customer");
        var sidecar = cluster.SidecarOf(AppIds.Monitor);
        async Task<(long Writes, long Invocations)> CountsAsync()
        {
            var counts = (await sidecar.GetFromJsonAsync<Dictionary<string, long>>("v1.0-devsidecar/calls"))!;
            return (counts.GetValueOrDefault("state.save") + counts.GetValueOrDefault("state.transaction"), counts.GetValueOrDefault("invoke"));
        }
        // The monitor may still be recording an earlier test's events: count from when its writes have settled.
        var before = await CountsAsync();
        await Wait.UntilAsync(async () =>
        {
            var now = await CountsAsync();
            var quiet = now == before;
            before = now;
            return quiet;
        }, "the monitor to finish recording earlier events", Wait.EndToEndTimeout, interval: TimeSpan.FromMilliseconds(500));

        var ids = await Task.WhenAll(Enumerable.Range(0, Orders).Select(_ => _flow.PlaceAsync(customer, sku, quantity: 1, amount: 10m, country: "NL")));
        foreach (var id in ids) (await _flow.TerminalAsync(id)).Status.Should().Be(OrderStatus.Completed);
        // Read from the store through the sidecar (not the monitor's API, which would ask for the style): every event recorded.
        await Wait.UntilAsync(async () =>
        {
            foreach (var id in ids)
            {
                using var response = await sidecar.GetAsync($"v1.0/state/{Components.StateStore}/flow-{id}");
                if (response.StatusCode != HttpStatusCode.OK || (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("steps").GetArrayLength() < EventsPerOrder)
                    return false;
            }
            return true;
        }, "the monitor to record every event of the orders", Wait.EndToEndTimeout);

        var after = await CountsAsync();
        // 6 per order: 4 flow writes and 2 transactions (flow and open index at the end, both indexes before the start);
        // the first entry of a new index shard and each ETag conflict (an order's events arrive concurrently, orders
        // share index shards) cost one more: up to 9.4 seen. Indexes written with every event would make 15 and more.
        ((double)(after.Writes - before.Writes) / Orders).Should().BeLessThan(12, "the monitor writes each event once, its indexes only with the start and the end");
        (after.Invocations - before.Invocations).Should().Be(0, "recording events asks no other app");
    }

    [BrokerFact]
    public async Task Two_hundred_concurrent_orders_never_oversell_limited_stock()
    {
        const int Orders = 200, Stock = 50;
        var sku = await _flow.StockAsync(Stock);
        var customer = Unique("customer");

        var ids = await Task.WhenAll(Enumerable.Range(0, Orders).Select(_ => _flow.PlaceAsync(customer, sku, quantity: 1, amount: 5m, country: "NL")));
        var finals = await Task.WhenAll(ids.Select(id => _flow.TerminalAsync(id, TimeSpan.FromSeconds(90))));

        finals.Count(o => o.Status == OrderStatus.Completed).Should().Be(Stock);
        finals.Where(o => o.Status == OrderStatus.Cancelled).Should().HaveCount(Orders - Stock)
            .And.OnlyContain(o => o.Reason!.StartsWith($"out of stock: {sku}"));
        var level = await _flow.StockOfAsync(sku);
        level.Should().Be(new StockLevel(sku, 0, Stock));
        (level.Available + level.Reserved).Should().Be(Stock);
        (await _flow.LedgerAsync(customer)).Should().HaveCount(Stock).And.OnlyContain(e => e.Kind == LedgerEntryKind.Charge);
    }
}

public sealed class ChoreographyOrderFlowTests(ChoreographyCluster cluster)
    : OrderFlowScenarios(cluster), IClassFixture<ChoreographyCluster>;

public sealed class OrchestrationOrderFlowTests(OrchestrationCluster cluster)
    : OrderFlowScenarios(cluster), IClassFixture<OrchestrationCluster>;

[RequiresBroker("redis-server")]
public sealed class RedisChoreographyOrderFlowTests(RedisChoreographyCluster cluster)
    : OrderFlowScenarios(cluster), IClassFixture<RedisChoreographyCluster>;

[RequiresBroker("redis-server")]
public sealed class RedisOrchestrationOrderFlowTests(RedisOrchestrationCluster cluster)
    : OrderFlowScenarios(cluster), IClassFixture<RedisOrchestrationCluster>;

[RequiresBroker("nats-server")]
public sealed class JetStreamChoreographyOrderFlowTests(JetStreamChoreographyCluster cluster)
    : OrderFlowScenarios(cluster), IClassFixture<JetStreamChoreographyCluster>;

[RequiresBroker("nats-server")]
public sealed class JetStreamOrchestrationOrderFlowTests(JetStreamOrchestrationCluster cluster)
    : OrderFlowScenarios(cluster), IClassFixture<JetStreamOrchestrationCluster>;

[RequiresBroker("rabbitmq-server")]
public sealed class RabbitMqChoreographyOrderFlowTests(RabbitMqChoreographyCluster cluster)
    : OrderFlowScenarios(cluster), IClassFixture<RabbitMqChoreographyCluster>;

[RequiresBroker("rabbitmq-server")]
public sealed class RabbitMqOrchestrationOrderFlowTests(RabbitMqOrchestrationCluster cluster)
    : OrderFlowScenarios(cluster), IClassFixture<RabbitMqOrchestrationCluster>;
