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
        events.MapPost("/stock-reserved", (StockReserved e, OrderBook book, CancellationToken ct) =>
            RecordAndDecideAsync(book, e.Order, Topics.StockReserved, null, ct));
        events.MapPost("/stock-rejected", (StockRejected e, OrderBook book, CancellationToken ct) =>
            RecordAndDecideAsync(book, e.Order, Topics.StockRejected, e.Reason, ct));
        events.MapPost("/payment-charged", (PaymentCharged e, OrderBook book, CancellationToken ct) =>
            RecordAndDecideAsync(book, e.Order, Topics.PaymentCharged, e.PaymentId, ct));
        events.MapPost("/payment-declined", (PaymentDeclined e, OrderBook book, CancellationToken ct) =>
            RecordAndDecideAsync(book, e.Order, Topics.PaymentDeclined, e.Reason, ct));
        events.MapPost("/shipment-dispatched", (ShipmentDispatched e, OrderBook book, CancellationToken ct) =>
            RecordAndDecideAsync(book, e.Order, Topics.ShipmentDispatched, e.TrackingNumber, ct));
        events.MapPost("/shipment-failed", (ShipmentFailed e, OrderBook book, CancellationToken ct) =>
            RecordAndDecideAsync(book, e.Order, Topics.ShipmentFailed, e.Reason, ct));
        events.MapPost("/payment-refunded", (PaymentRefunded e, OrderBook book, CancellationToken ct) =>
            RecordAndDecideAsync(book, e.Order, Topics.PaymentRefunded, e.Reason, ct));
        events.MapPost("/stock-released", (StockReleased e, OrderBook book, CancellationToken ct) =>
            RecordAndDecideAsync(book, e.Order, Topics.StockReleased, e.Reason, ct));
        return app;
    }

    /// <summary>
    /// Records the step; if that completes one of the flow's paths (see <see cref="Order.Ending"/>), ends the order and
    /// announces it. A redelivered event finds the order ended already and announces it again, which consumers ignore.
    /// </summary>
    private static async Task<IResult> RecordAndDecideAsync(OrderBook book, OrderDetails order, string step, string? detail, CancellationToken ct)
    {
        // The step and the end it completes are one write of the order.
        await book.ApplyAsync(order.OrderId, [new(step, detail)], end: null, decide: true, ct);
        return Results.Ok();
    }
}
