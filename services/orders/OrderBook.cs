using Dapr.Client;
using OrderFlow.Contracts;
using OrderFlow.ServiceDefaults;

namespace OrderFlow.Orders;

/// <summary>Orders kept in the Dapr state store, one key per order plus an index (state stores cannot list keys).</summary>
public sealed class OrderBook(DaprClient dapr, TimeProvider clock, ILogger<OrderBook> logger)
{
    private const string IndexKey = "orders-index";

    private static string Key(string orderId) => $"order-{orderId}";

    public Task<Order?> GetAsync(string orderId, CancellationToken ct) =>
        dapr.GetStateAsync<Order?>(Components.StateStore, Key(orderId), cancellationToken: ct);

    public async Task<IReadOnlyList<Order>> ListAsync(CancellationToken ct) =>
        (await dapr.ReadIndexedAsync<Order>(IndexKey, Key, ct)).OrderBy(o => o.History[0].At).ToList();

    /// <summary>Stores a new order as Pending; false if one with that id exists.</summary>
    public async Task<bool> TryCreateAsync(OrderDetails details, CancellationToken ct)
    {
        var order = Order.Place(details, clock.GetUtcNow());
        var created = await dapr.TrySaveStateAsync(Components.StateStore, Key(details.OrderId), order, "",
            new StateOptions { Concurrency = ConcurrencyMode.FirstWrite }, cancellationToken: ct);
        if (created) await dapr.AddToIndexAsync(IndexKey, details.OrderId, ct);
        return created;
    }

    /// <summary>Records a step; returns the order after it (unchanged if the step was already recorded).</summary>
    public async Task<Order?> RecordAsync(string orderId, string step, string? detail, CancellationToken ct)
    {
        var order = await dapr.UpdateStateAsync<Order>(Key(orderId), current => current?.With(step, clock.GetUtcNow(), detail), ct);
        if (order is null) logger.LogWarning("step {Step} for unknown order {OrderId} ignored", step, orderId);
        return order;
    }

    /// <summary>Completes the order and announces it. Announced again on a redelivery: consumers are idempotent.</summary>
    public async Task<Order?> CompleteAsync(OrderDetails details, CancellationToken ct)
    {
        var order = await RecordAsync(details.OrderId, Topics.OrderCompleted, null, ct);
        if (order?.Status != OrderStatus.Completed) return order;
        await dapr.PublishEventAsync(Components.PubSub, Topics.OrderCompleted, new OrderCompleted(details), ct);
        logger.LogInformation("order {OrderId} completed", details.OrderId);
        return order;
    }

    /// <summary>Cancels the order with a reason and announces it.</summary>
    public async Task<Order?> CancelAsync(OrderDetails details, string reason, CancellationToken ct)
    {
        var order = await RecordAsync(details.OrderId, Topics.OrderCancelled, reason, ct);
        if (order?.Status != OrderStatus.Cancelled) return order;
        await dapr.PublishEventAsync(Components.PubSub, Topics.OrderCancelled, new OrderCancelled(details, order.Reason ?? reason), ct);
        logger.LogInformation("order {OrderId} cancelled: {Reason}", details.OrderId, order.Reason);
        return order;
    }
}
