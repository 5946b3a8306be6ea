using System.Text.Json;
using OrderFlow.ServiceDefaults;

namespace OrderFlow.Orders;

/// <summary>
/// RPC + server-side stream: GET /orders/{orderId}/progress answers one request with several NDJSON messages —
/// accepted, one per step as the order reaches it, the result, then a terminal "end" line. A client that sees no
/// "end" knows the stream was cut. The stream registers with <see cref="InFlightWork"/>, so SIGTERM lets it finish.
/// </summary>
public static class OrderProgress
{
    /// <summary>One line of the stream. <c>Type</c> is accepted | step | result | end; <c>At</c> is when the server wrote it.</summary>
    public sealed record ProgressMessage(string Type, DateTimeOffset At, string? Step = null, string? Detail = null,
        OrderStatus? Status = null, string? Reason = null, bool? Complete = null);

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() },
    };

    public static IEndpointRouteBuilder MapOrderProgress(this IEndpointRouteBuilder app)
    {
        app.MapGet("/orders/{orderId}/progress", StreamAsync);
        return app;
    }

    private static async Task<IResult> StreamAsync(string orderId, HttpContext http, OrderBook book, InFlightWork work,
        IConfiguration config, TimeProvider clock, CancellationToken ct)
    {
        if (await book.GetAsync(orderId, ct) is not { } order)
            return Problems.NotFound("Order not found", $"There is no order '{orderId}'.");
        var lease = work.TryBegin();
        if (lease is null)
            return TypedResults.Problem("This instance is shutting down.", title: "Shutting down", statusCode: StatusCodes.Status503ServiceUnavailable);

        using (lease)
        {
            var options = config.GetSection("Orders:Progress").Get<OrderProgressOptions>() ?? new OrderProgressOptions();
            http.Response.ContentType = "application/x-ndjson";
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(work.GraceExpired);
            deadline.CancelAfter(options.MaxDuration);

            await WriteAsync(http, new ProgressMessage("accepted", clock.GetUtcNow(), Status: order.Status), ct);
            var sent = 0;
            try
            {
                while (true)
                {
                    foreach (var step in order.History.Skip(sent))
                        await WriteAsync(http, new ProgressMessage("step", clock.GetUtcNow(), step.Step, step.Detail), ct);
                    sent = order.History.Count;
                    if (order.IsTerminal) break;
                    await Task.Delay(options.PollInterval, deadline.Token);
                    order = await book.GetAsync(orderId, ct) ?? order;
                }
            }
            catch (OperationCanceledException) when (deadline.IsCancellationRequested && !ct.IsCancellationRequested)
            {
                var why = work.GraceExpired.IsCancellationRequested ? "the server is shutting down" : "the stream reached its maximum duration";
                await WriteAsync(http, new ProgressMessage("end", clock.GetUtcNow(), Reason: $"{why}; reconnect to resume", Complete: false), ct);
                return Results.Empty;
            }
            await WriteAsync(http, new ProgressMessage("result", clock.GetUtcNow(), Status: order.Status, Reason: order.Reason), ct);
            await WriteAsync(http, new ProgressMessage("end", clock.GetUtcNow(), Complete: true), ct);
            return Results.Empty;
        }
    }

    /// <summary>One JSON line, flushed at once so it reaches the client before the next one is produced.</summary>
    private static async Task WriteAsync(HttpContext http, ProgressMessage message, CancellationToken ct)
    {
        await http.Response.WriteAsync(JsonSerializer.Serialize(message, Json) + "\n", ct);
        await http.Response.Body.FlushAsync(ct);
    }
}
