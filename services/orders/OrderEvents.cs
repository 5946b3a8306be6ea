using OrderFlow.Contracts;

namespace OrderFlow.Orders;

/// <summary>
/// Pub/sub handlers (wired by Subscription resources, not attributes). Every flow event is recorded in the order's
/// history; in the choreography style orders also decides the end: completed on dispatch, cancelled on a
/// rejection or once compensation is done (stock released, and the payment refunded if it had been charged).
/// </summary>
public static class OrderEvents
{
    public static IEndpointRouteBuilder MapOrderEvents(this IEndpointRouteBuilder app)
    {
        var events = app.MapGroup("/events");
        events.MapPost("/stock-reserved", (StockReserved e, OrderBook book, CancellationToken ct) =>
            Record(book, e.Order, Topics.StockReserved, null, ct));
        events.MapPost("/payment-charged", (PaymentCharged e, OrderBook book, CancellationToken ct) =>
            Record(book, e.Order, Topics.PaymentCharged, e.PaymentId, ct));
        events.MapPost("/payment-declined", (PaymentDeclined e, OrderBook book, CancellationToken ct) =>
            CancelOnceCompensatedAsync(book, e.Order, Topics.PaymentDeclined, e.Reason, ct));
        events.MapPost("/shipment-failed", (ShipmentFailed e, OrderBook book, CancellationToken ct) =>
            CancelOnceCompensatedAsync(book, e.Order, Topics.ShipmentFailed, e.Reason, ct));
        events.MapPost("/payment-refunded", (PaymentRefunded e, OrderBook book, CancellationToken ct) =>
            CancelOnceCompensatedAsync(book, e.Order, Topics.PaymentRefunded, e.Reason, ct));

        events.MapPost("/stock-rejected", async (StockRejected e, OrderBook book, CancellationToken ct) =>
        {
            await book.RecordAsync(e.Order.OrderId, Topics.StockRejected, e.Reason, ct);
            await book.CancelAsync(e.Order, e.Reason, ct);
            return Results.Ok();
        });
        events.MapPost("/shipment-dispatched", async (ShipmentDispatched e, OrderBook book, CancellationToken ct) =>
        {
            await book.RecordAsync(e.Order.OrderId, Topics.ShipmentDispatched, e.TrackingNumber, ct);
            await book.CompleteAsync(e.Order, ct);
            return Results.Ok();
        });
        events.MapPost("/stock-released", (StockReleased e, OrderBook book, CancellationToken ct) =>
            CancelOnceCompensatedAsync(book, e.Order, Topics.StockReleased, e.Reason, ct));
        return app;
    }

    /// <summary>
    /// The failure, the refund and the release travel on different topics, so any may arrive first: whichever completes
    /// the set cancels the order (and so tells the customer), never before every compensation it needs is known done.
    /// </summary>
    private static async Task<IResult> CancelOnceCompensatedAsync(OrderBook book, OrderDetails order, string step, string reason, CancellationToken ct)
    {
        if (await book.RecordAsync(order.OrderId, step, reason, ct) is { IsCompensated: true })
            await book.CancelAsync(order, reason, ct);
        return Results.Ok();
    }

    private static async Task<IResult> Record(OrderBook book, OrderDetails order, string step, string? detail, CancellationToken ct)
    {
        await book.RecordAsync(order.OrderId, step, detail, ct);
        return Results.Ok();
    }
}
