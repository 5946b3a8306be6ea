using Microsoft.AspNetCore.Http.HttpResults;
using OrderFlow.Contracts;
using OrderFlow.ServiceDefaults;

namespace OrderFlow.Payments;

public static class PaymentsApi
{
    public static IEndpointRouteBuilder MapPaymentsApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/ledger", async (string? customerId, Cashier c, CancellationToken ct) => TypedResults.Ok(await c.LedgerAsync(customerId, ct)));

        // Commands, called by service invocation in the orchestration style.
        var payments = app.MapGroup("/payments");
        payments.MapPost("/", (OrderDetails order, Cashier c, CancellationToken ct) => c.ChargeAsync(order, ct));
        payments.MapPost("/{orderId}/refund", (string orderId, Compensate request, Cashier c, CancellationToken ct) =>
            c.RefundAsync(request.Order, request.Reason, ct));
        payments.MapGet("/{orderId}", async Task<Results<Ok<Payment>, ProblemHttpResult>> (string orderId, Cashier c, CancellationToken ct) =>
            await c.GetAsync(orderId, ct) is { } p ? TypedResults.Ok(p) : Problems.NotFound("Payment not found", $"There is no payment for order '{orderId}'."));

        // Pub/sub handlers, wired by the choreography's Subscription resources.
        var events = app.MapGroup("/events");
        events.MapPost("/stock-reserved", async (StockReserved e, Cashier c, CancellationToken ct) =>
        {
            await c.ChargeAsync(e.Order, ct);
            return Results.Ok();
        });
        events.MapPost("/shipment-failed", async (ShipmentFailed e, Cashier c, CancellationToken ct) =>
        {
            await c.RefundAsync(e.Order, e.Reason, ct);
            return Results.Ok();
        });
        return app;
    }
}
