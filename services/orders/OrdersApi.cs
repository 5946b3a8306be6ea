using Dapr.Client;
using Microsoft.AspNetCore.Http.HttpResults;
using OrderFlow.Contracts;
using OrderFlow.ServiceDefaults;

namespace OrderFlow.Orders;

public static class OrdersApi
{
    public sealed record OrderAccepted(string OrderId, OrderStatus Status);

    public sealed record OrderView(string OrderId, string CustomerId, IReadOnlyList<OrderItem> Items, decimal Amount, Address ShipTo,
        OrderStatus Status, string? Reason, IReadOnlyList<OrderStep> History)
    {
        public static OrderView Of(Order o) =>
            new(o.Details.OrderId, o.Details.CustomerId, o.Details.Items, o.Details.Amount, o.Details.ShipTo, o.Status, o.Reason, o.History);
    }

    public sealed record CancelRequest(string? Reason, IReadOnlyList<StepReport>? Steps = null);

    /// <summary>The optional body of complete: steps to record with the end, in the same write.</summary>
    public sealed record CompleteRequest(IReadOnlyList<StepReport>? Steps);

    /// <summary>A step the orchestration reports, named like the event it corresponds to (e.g. "stock-reserved").</summary>
    public sealed record StepReport(string Step, string? Detail);

    /// <summary>The body of steps: one step (<c>{"step": …, "detail": …}</c>) or several in order (<c>{"steps": [...]}</c>).</summary>
    public sealed record StepsRequest(string? Step, string? Detail, IReadOnlyList<StepReport>? Steps)
    {
        public IReadOnlyList<StepReport> All => Steps ?? (Step is null ? [] : [new StepReport(Step, Detail)]);
    }

    public static IEndpointRouteBuilder MapOrdersApi(this IEndpointRouteBuilder app)
    {
        var orders = app.MapGroup("/orders");
        orders.MapPost("/", PlaceAsync);
        orders.MapGet("/", ListAsync);
        orders.MapGet("/{orderId}", GetAsync);
        // Commands for the orchestration style: the workflow reports each step, decides the outcome and tells orders.
        orders.MapPost("/{orderId}/steps", RecordStepsAsync);
        orders.MapPost("/{orderId}/complete", CompleteAsync);
        orders.MapPost("/{orderId}/cancel", CancelAsync);
        return app;
    }

    private static async Task<Results<Accepted<OrderAccepted>, ValidationProblem, ProblemHttpResult>> PlaceAsync(
        PlaceOrder request, OrderBook book, IConfiguration config, ILogger<OrderBook> logger, CancellationToken ct)
    {
        var errors = request.Validate();
        if (errors.Count > 0) return TypedResults.ValidationProblem(errors, title: "The order is not valid.");

        var details = request.ToDetails();
        // Stored and announced (order-placed) in one outbox transaction: nothing to publish here.
        if (await book.PlaceAsync(details, ct) == Placement.Duplicate)
            return Problems.Conflict("Order exists", $"An order with id '{details.OrderId}' exists already.");
        // Fault drill, off unless configured: the process dies here as on SIGKILL, after the order is stored and before
        // anything else; the outbox still announces it (OrderFlow.Tests OrderAnnouncementTests).
        if (config.GetValue<bool>("Orders:Faults:KillAfterStoring")) System.Diagnostics.Process.GetCurrentProcess().Kill();
        logger.LogInformation("order {OrderId} placed by {CustomerId}: {Count} item(s), amount {Amount}",
            details.OrderId, details.CustomerId, details.Items.Count, details.Amount);
        return TypedResults.Accepted($"/orders/{details.OrderId}", new OrderAccepted(details.OrderId, OrderStatus.Pending));
    }

    private static async Task<Ok<List<OrderView>>> ListAsync(OrderStatus? status, OrderBook book, CancellationToken ct)
    {
        var all = await book.ListAsync(ct);
        return TypedResults.Ok(all.Where(o => status is null || o.Status == status).Select(OrderView.Of).ToList());
    }

    private static async Task<Results<Ok<OrderView>, ProblemHttpResult>> GetAsync(string orderId, OrderBook book, CancellationToken ct) =>
        await book.GetAsync(orderId, ct) is { } order
            ? TypedResults.Ok(OrderView.Of(order))
            : NotFound(orderId);

    private static async Task<Results<Ok<OrderView>, ProblemHttpResult, ValidationProblem>> RecordStepsAsync(
        string orderId, StepsRequest request, OrderBook book, CancellationToken ct)
    {
        var steps = request.All;
        if (steps.Count == 0 || steps.Any(s => string.IsNullOrWhiteSpace(s.Step) || s.Step is Topics.OrderCompleted or Topics.OrderCancelled))
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["step"] = ["must name a flow step; use complete or cancel to end the order"] });
        return await book.RecordAsync(orderId, steps, ct) is { } order ? TypedResults.Ok(OrderView.Of(order)) : NotFound(orderId);
    }

    private static async Task<Results<Ok<OrderView>, ProblemHttpResult>> CompleteAsync(string orderId, CompleteRequest? request, OrderBook book, CancellationToken ct) =>
        await book.ApplyAsync(orderId, request?.Steps ?? [], (true, null), decide: false, ct) is { } order ? TypedResults.Ok(OrderView.Of(order)) : NotFound(orderId);

    private static async Task<Results<Ok<OrderView>, ProblemHttpResult>> CancelAsync(string orderId, CancelRequest request, OrderBook book, CancellationToken ct) =>
        await book.ApplyAsync(orderId, request.Steps ?? [], (false, request.Reason ?? "cancelled"), decide: false, ct) is { } order
            ? TypedResults.Ok(OrderView.Of(order))
            : NotFound(orderId);

    private static ProblemHttpResult NotFound(string orderId) => Problems.NotFound("Order not found", $"There is no order '{orderId}'.");
}
