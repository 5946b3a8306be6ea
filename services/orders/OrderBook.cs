using System.Text.Json;
using Dapr;
using Dapr.Client;
using OrderFlow.Contracts;
using OrderFlow.ServiceDefaults;

namespace OrderFlow.Orders;

/// <summary>How a placement ended.</summary>
public enum Placement { Placed, Duplicate }

/// <summary>
/// Orders kept in <see cref="Components.OrderStore"/>, one key per order, plus an index in the shared state store (state
/// stores cannot list keys). A placement stores the order and announces order-placed in ONE outbox transaction, so a
/// crash cannot leave an order that nobody announced.
/// </summary>
public sealed class OrderBook(DaprClient dapr, TimeProvider clock, ILogger<OrderBook> logger)
{
    private const string IndexKey = "orders-index";

    private static string Key(string orderId) => $"order-{orderId}";
    private static string ClaimKey(string orderId) => $"order-claim-{orderId}";

    public Task<Order?> GetAsync(string orderId, CancellationToken ct) =>
        dapr.GetStateAsync<Order?>(Components.OrderStore, Key(orderId), cancellationToken: ct);

    public async Task<IReadOnlyList<Order>> ListAsync(CancellationToken ct)
    {
        var ids = await dapr.ReadIndexAsync(IndexKey, ct);
        if (ids.Count == 0) return [];
        var items = await dapr.GetBulkStateAsync<Order>(Components.OrderStore, ids.Select(Key).ToList(), parallelism: 8, cancellationToken: ct);
        return items.Select(i => i.Value).Where(o => o is not null).OrderBy(o => o.History[0].At).ToList();
    }

    /// <summary>
    /// Stores a new order as Pending and announces it; Duplicate if an order with that id exists or is being placed with
    /// other details. Why it takes three steps, each safe to repeat:
    /// <list type="number">
    /// <item>A claim key saved with first-write decides which details an id gets. A single first-write save is atomic on
    /// every store (on state.redis its script marks the key, and a later write without ETag fails), while first-write
    /// inside a transaction is not enforced by state.redis (components-contrib v1.17.6 Multi).</item>
    /// <item>The index entry (idempotent; an id whose order is missing is skipped when listing).</item>
    /// <item>One transaction on the outbox store: the order, and as its projection the order-placed event. Only the claim's
    /// details are ever written, so two placements racing past the claim (a retry taking over one that crashed) write
    /// and announce the same order: a duplicate event, which consumers take as a redelivery. On state.redis the
    /// transaction's first-write is not enforced, so the later of two such racers rewrites the order as placed; that only
    /// matters if the flow recorded a step in between, which daprd's 1 s outbox delay before announcing makes unlikely.</item>
    /// </list>
    /// </summary>
    public async Task<Placement> PlaceAsync(OrderDetails details, CancellationToken ct)
    {
        // The claim is tried first: a new order (the common case) costs no read. A lost claim means the id is taken,
        // unless its placement crashed before storing the order with these very details (then this one finishes it).
        if (!await dapr.TryCreateStateAsync(ClaimKey(details.OrderId), details, ct, Components.OrderStore))
        {
            if (await GetAsync(details.OrderId, ct) is not null) return Placement.Duplicate;
            var claimed = await dapr.GetStateAsync<OrderDetails?>(Components.OrderStore, ClaimKey(details.OrderId), cancellationToken: ct)
                ?? throw new InvalidOperationException($"the claim of order '{details.OrderId}' was taken, yet is not there");
            if (!SameDetails(claimed, details)) return Placement.Duplicate;
        }
        await dapr.AddToIndexAsync(IndexKey, details.OrderId, ct);

        var order = Order.Place(details, clock.GetUtcNow());
        var json = new Dictionary<string, string> { ["contentType"] = "application/json" };
        try
        {
            await dapr.ExecuteStateTransactionAsync(Components.OrderStore,
            [
                // The outbox copies this operation's metadata into the event it announces: the trace goes on with it.
                new StateTransactionRequest(Key(details.OrderId), JsonSerializer.SerializeToUtf8Bytes(order, dapr.JsonSerializerOptions),
                    StateOperationType.Upsert, metadata: Tracing.OutboxTraceMetadata(), options: new StateOptions { Concurrency = ConcurrencyMode.FirstWrite }),
                // Not stored: the outbox announces this instead of the order (outbox.projection, daprd 1.17 pkg/runtime/pubsub/outbox.go).
                new StateTransactionRequest(Key(details.OrderId), JsonSerializer.SerializeToUtf8Bytes(new OrderPlaced(details), dapr.JsonSerializerOptions),
                    StateOperationType.Upsert, metadata: new Dictionary<string, string>(json) { ["outbox.projection"] = "true" }),
            ], cancellationToken: ct);
        }
        catch (DaprException)
        {
            // A racing placement of the same claim may have stored it first (first-write in the transaction, where enforced).
            if (await GetAsync(details.OrderId, ct) is not { } placed || !SameDetails(placed.Details, details)) throw;
        }
        return Placement.Placed;
    }

    private bool SameDetails(OrderDetails a, OrderDetails b) =>
        JsonSerializer.Serialize(a, dapr.JsonSerializerOptions) == JsonSerializer.Serialize(b, dapr.JsonSerializerOptions);

    /// <summary>Records steps in one write; returns the order after them (unchanged if they were already recorded).</summary>
    public Task<Order?> RecordAsync(string orderId, IReadOnlyList<OrdersApi.StepReport> steps, CancellationToken ct) =>
        ApplyAsync(orderId, steps, end: null, decide: false, ct);

    /// <summary>
    /// Records <paramref name="steps"/> and, if asked, ends the order, in ONE read-modify-write of the order; the end
    /// is <paramref name="end"/> (a command), or with <paramref name="decide"/> the ending that the recorded steps
    /// complete (<see cref="Order.Ending"/>, choreography). A terminal order is announced, again on a redelivery or a
    /// repeated command: consumers are idempotent. Null for an unknown order.
    /// </summary>
    public async Task<Order?> ApplyAsync(string orderId, IReadOnlyList<OrdersApi.StepReport> steps, (bool Completed, string? Reason)? end,
        bool decide, CancellationToken ct)
    {
        var order = await dapr.UpdateStateAsync<Order>(Key(orderId), current =>
        {
            if (current is null) return null;
            var now = clock.GetUtcNow();
            var next = current;
            foreach (var step in steps) next = next.With(step.Step, now, step.Detail) ?? next;
            if ((end ?? (decide ? next.Ending : null)) is var (completed, reason))
                next = next.With(completed ? Topics.OrderCompleted : Topics.OrderCancelled, now, completed ? null : reason ?? "cancelled") ?? next;
            return ReferenceEquals(next, current) ? null : next;
        }, ct, Components.OrderStore);
        if (order is null)
        {
            logger.LogWarning("steps {Steps} for unknown order {OrderId} ignored", string.Join(", ", steps.Select(s => s.Step)), orderId);
            return null;
        }
        if (end is null && !decide) return order;
        // A command announces only the end it asks for (completing a cancelled order announces nothing).
        if (end is { } asked && order.Status != (asked.Completed ? OrderStatus.Completed : OrderStatus.Cancelled)) return order;
        if (order.Status == OrderStatus.Completed)
        {
            await dapr.PublishEventAsync(Components.PubSub, Topics.OrderCompleted, new OrderCompleted(order.Details), ct);
            logger.LogInformation("order {OrderId} completed", orderId);
        }
        else if (order.Status == OrderStatus.Cancelled)
        {
            await dapr.PublishEventAsync(Components.PubSub, Topics.OrderCancelled, new OrderCancelled(order.Details, order.Reason ?? "cancelled"), ct);
            logger.LogInformation("order {OrderId} cancelled: {Reason}", orderId, order.Reason);
        }
        return order;
    }
}
