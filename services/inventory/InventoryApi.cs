using Microsoft.AspNetCore.Http.HttpResults;
using OrderFlow.Contracts;
using OrderFlow.ServiceDefaults;

namespace OrderFlow.Inventory;

public static class InventoryApi
{
    public sealed record SetStock(int Available);

    public static IEndpointRouteBuilder MapInventoryApi(this IEndpointRouteBuilder app)
    {
        var stock = app.MapGroup("/stock");
        stock.MapGet("/", async (Warehouse w, CancellationToken ct) => TypedResults.Ok(await w.ListStockAsync(ct)));
        stock.MapGet("/{sku}", async Task<Results<Ok<StockLevel>, ProblemHttpResult>> (string sku, Warehouse w, CancellationToken ct) =>
            await w.GetStockAsync(sku, ct) is { } level ? TypedResults.Ok(level) : Problems.NotFound("SKU not found", $"There is no stock level for sku '{sku}'."));
        stock.MapPut("/{sku}", async Task<Results<Ok<StockLevel>, ValidationProblem>> (string sku, SetStock body, Warehouse w, CancellationToken ct) =>
            body.Available < 0
                ? TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["available"] = ["must not be negative"] })
                : TypedResults.Ok(await w.SetAvailableAsync(sku, body.Available, ct)));

        // Commands, called by service invocation in the orchestration style.
        var reservations = app.MapGroup("/reservations");
        reservations.MapPost("/", (OrderDetails order, Warehouse w, CancellationToken ct) => w.ReserveAsync(order, ct));
        reservations.MapPost("/{orderId}/release", (string orderId, Compensate request, Warehouse w, CancellationToken ct) =>
            w.ReleaseAsync(request.Order, request.Reason, ct));
        reservations.MapGet("/{orderId}", async Task<Results<Ok<Reservation>, ProblemHttpResult>> (string orderId, Warehouse w, CancellationToken ct) =>
            await w.GetReservationAsync(orderId, ct) is { } r ? TypedResults.Ok(r) : Problems.NotFound("Reservation not found", $"There is no reservation for order '{orderId}'."));

        // Pub/sub handlers, wired by the choreography's Subscription resources.
        var events = app.MapGroup("/events");
        events.MapPost("/order-placed", async (OrderPlaced e, Warehouse w, CancellationToken ct) =>
        {
            await w.ReserveAsync(e.Order, ct);
            return Results.Ok();
        });
        events.MapPost("/payment-declined", async (PaymentDeclined e, Warehouse w, CancellationToken ct) =>
        {
            await w.ReleaseAsync(e.Order, e.Reason, ct);
            return Results.Ok();
        });
        events.MapPost("/payment-refunded", async (PaymentRefunded e, Warehouse w, CancellationToken ct) =>
        {
            await w.ReleaseAsync(e.Order, e.Reason, ct);
            return Results.Ok();
        });
        return app;
    }
}
