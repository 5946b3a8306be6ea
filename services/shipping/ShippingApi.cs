using Microsoft.AspNetCore.Http.HttpResults;
using OrderFlow.Contracts;
using OrderFlow.ServiceDefaults;

namespace OrderFlow.Shipping;

public static class ShippingApi
{
    public static IEndpointRouteBuilder MapShippingApi(this IEndpointRouteBuilder app)
    {
        var shipments = app.MapGroup("/shipments");
        shipments.MapGet("/", async (ShipmentDesk d, CancellationToken ct) => TypedResults.Ok(await d.ListAsync(ct)));
        shipments.MapGet("/{orderId}", async Task<Results<Ok<Shipment>, ProblemHttpResult>> (string orderId, ShipmentDesk d, CancellationToken ct) =>
            await d.GetAsync(orderId, ct) is { } s ? TypedResults.Ok(s) : Problems.NotFound("Shipment not found", $"There is no shipment for order '{orderId}'."));
        // Command: accepted at once (202); the outcome arrives later as shipment-dispatched or shipment-failed.
        shipments.MapPost("/", async (OrderDetails order, ShipmentDesk d, Dispatcher dispatcher, CancellationToken ct) =>
        {
            var shipment = await AcceptAsync(order, d, dispatcher, ct);
            return TypedResults.Accepted($"/shipments/{order.OrderId}", shipment);
        });

        // Pub/sub handler, wired by the choreography's Subscription resources.
        app.MapPost("/events/payment-charged", async (PaymentCharged e, ShipmentDesk d, Dispatcher dispatcher, CancellationToken ct) =>
        {
            await AcceptAsync(e.Order, d, dispatcher, ct);
            return Results.Ok();
        });
        return app;
    }

    /// <summary>Schedules a new shipment; for one already settled, announces the outcome again (the request may be a redrive).</summary>
    private static async Task<Shipment> AcceptAsync(OrderDetails order, ShipmentDesk desk, Dispatcher dispatcher, CancellationToken ct)
    {
        var shipment = await desk.AcceptAsync(order, ct);
        if (shipment.Status == ShipmentStatus.Scheduled) dispatcher.Schedule(shipment);
        else await desk.SettleAsync(order.OrderId, ct);
        return shipment;
    }
}
