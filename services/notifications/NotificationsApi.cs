using Microsoft.AspNetCore.Http.HttpResults;
using OrderFlow.Contracts;
using OrderFlow.ServiceDefaults;

namespace OrderFlow.Notifications;

public static class NotificationsApi
{
    public static IEndpointRouteBuilder MapNotificationsApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/notifications", async (string? customerId, NotificationLog log, CancellationToken ct) => TypedResults.Ok(await log.ListAsync(customerId, ct)));
        app.MapGet("/notifications/{orderId}", async Task<Results<Ok<Notification>, ProblemHttpResult>> (string orderId, NotificationLog log, CancellationToken ct) =>
            await log.GetAsync(orderId, ct) is { } n ? TypedResults.Ok(n) : Problems.NotFound("Notification not found", $"No notification was sent for order '{orderId}'."));

        // Pub/sub handlers: the terminal events are the same in both styles.
        var events = app.MapGroup("/events");
        events.MapPost("/order-completed", async (OrderCompleted e, NotificationLog log, CancellationToken ct) =>
        {
            await log.SendAsync(e.Order, NotificationKind.OrderCompleted, Messages.Completed(e.Order), ct);
            return Results.Ok();
        });
        events.MapPost("/order-cancelled", async (OrderCancelled e, NotificationLog log, CancellationToken ct) =>
        {
            await log.SendAsync(e.Order, NotificationKind.OrderCancelled, Messages.Cancelled(e.Order, e.Reason), ct);
            return Results.Ok();
        });
        return app;
    }
}
