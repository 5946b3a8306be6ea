using System.Text.Json.Serialization;
using OrderFlow.Contracts;

namespace OrderFlow.Orders;

[JsonConverter(typeof(JsonStringEnumConverter<OrderStatus>))]
public enum OrderStatus { Pending, StockReserved, PaymentCharged, Compensating, Completed, Cancelled }

/// <summary>One step the order went through: the event (or command) that reported it and when.</summary>
public sealed record OrderStep(string Step, DateTimeOffset At, string? Detail);

/// <summary>An order as stored: its details, where it stands, and its history.</summary>
public sealed record Order(OrderDetails Details, OrderStatus Status, string? Reason, IReadOnlyList<OrderStep> History)
{
    public bool IsTerminal => Status is OrderStatus.Completed or OrderStatus.Cancelled;

    public static Order Place(OrderDetails details, DateTimeOffset at) =>
        new(details, OrderStatus.Pending, null, [new OrderStep(Topics.OrderPlaced, at, null)]);

    public bool HasStep(string step) => History.Any(h => h.Step == step);

    /// <summary>
    /// The failure and every compensation it needs are known: a declined payment and the released stock, or a failed
    /// shipment, the refund and the released stock. These travel on different topics and may arrive in any order.
    /// </summary>
    public bool IsCompensated => HasStep(Topics.StockReleased)
        && (HasStep(Topics.PaymentDeclined) || (HasStep(Topics.ShipmentFailed) && HasStep(Topics.PaymentRefunded)));

    /// <summary>
    /// The order with <paramref name="step"/> added, or null if it already has it (events arrive at least once).
    /// The status follows from the set of steps, not their order, because events of different topics may arrive
    /// out of order.
    /// </summary>
    public Order? With(string step, DateTimeOffset at, string? detail = null)
    {
        if (HasStep(step) || IsTerminal) return null;
        // Kept in flow order: events of different topics can arrive in another order than they happened.
        var history = History.ToList();
        var rank = Topics.Rank(step);
        var position = history.FindLastIndex(h => Topics.Rank(h.Step) <= rank) + 1;
        history.Insert(position, new OrderStep(step, at, detail));
        var reason = step == Topics.OrderCancelled ? detail : Reason;
        return this with { History = history, Status = StatusOf(history), Reason = reason };
    }

    private static OrderStatus StatusOf(IReadOnlyList<OrderStep> history)
    {
        bool Has(string step) => history.Any(h => h.Step == step);
        if (Has(Topics.OrderCompleted)) return OrderStatus.Completed;
        if (Has(Topics.OrderCancelled)) return OrderStatus.Cancelled;
        if (Has(Topics.StockRejected) || Has(Topics.PaymentDeclined) || Has(Topics.ShipmentFailed)) return OrderStatus.Compensating;
        if (Has(Topics.PaymentCharged)) return OrderStatus.PaymentCharged;
        if (Has(Topics.StockReserved)) return OrderStatus.StockReserved;
        return OrderStatus.Pending;
    }
}
