using OrderFlow.Contracts;

namespace OrderFlow.Orders;

/// <summary>
/// Pub/sub handlers (wired by Subscription resources, not attributes). Every flow event is recorded in the order's
/// history; in the choreography style orders also decides the end, once it has heard every event of one path to it:
/// completed after the dispatch, cancelled after a rejection or once every compensation is done.
/// </summary>
public static class OrderEvents
{
    public static IEndpointRouteBuilder MapOrderEvents(this IEndpointRouteBuilder app)
    {
        var events = app.MapGroup("/events");
        events.MapPost("/stock-rejected", (StockRejected e, OrderBook book, CancellationToken ct) =>
            RecordAndDecideAsync(book, e.Order, ct, (Topics.StockRejected, e.Reason)));
        // Payments acts only on a reservation, so its outcome records stock-reserved too: orders needs no delivery of
        // stock-reserved (the orchestration records both steps in one command as well).
        events.MapPost("/payment-charged", (PaymentCharged e, OrderBook book, CancellationToken ct) =>
            RecordAndDecideAsync(book, e.Order, ct, (Topics.StockReserved, null), (Topics.PaymentCharged, e.PaymentId)));
        events.MapPost("/payment-declined", (PaymentDeclined e, OrderBook book, CancellationToken ct) =>
            RecordAndDecideAsync(book, e.Order, ct, (Topics.StockReserved, null), (Topics.PaymentDeclined, e.Reason)));
        events.MapPost("/shipment-dispatched", (ShipmentDispatched e, OrderBook book, CancellationToken ct) =>
            RecordAndDecideAsync(book, e.Order, ct, (Topics.ShipmentDispatched, e.TrackingNumber)));
        events.MapPost("/shipment-failed", (ShipmentFailed e, OrderBook book, CancellationToken ct) =>
            RecordAndDecideAsync(book, e.Order, ct, (Topics.ShipmentFailed, e.Reason)));
        events.MapPost("/payment-refunded", (PaymentRefunded e, OrderBook book, CancellationToken ct) =>
            RecordAndDecideAsync(book, e.Order, ct, (Topics.PaymentRefunded, e.Reason)));
        events.MapPost("/stock-released", (StockReleased e, OrderBook book, CancellationToken ct) =>
            RecordAndDecideAsync(book, e.Order, ct, (Topics.StockReleased, e.Reason)));
        return app;
    }

    /// <summary>
    /// Records the steps; if that completes one of the flow's paths (see <see cref="Order.Ending"/>), ends the order and
    /// announces it. A redelivered event finds the order ended already and announces it again, which consumers ignore.
    /// </summary>
    private static async Task<IResult> RecordAndDecideAsync(OrderBook book, OrderDetails order, CancellationToken ct,
        params (string Step, string? Detail)[] steps)
    {
        // The steps and the end they complete are one write of the order.
        await book.ApplyAsync(order.OrderId, [.. steps.Select(s => new OrdersApi.StepReport(s.Step, s.Detail))], end: null, decide: true, ct);
        return Results.Ok();
    }
}
