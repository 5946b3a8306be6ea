namespace OrderFlow.Contracts;

public sealed record OrderItem(string Sku, int Quantity);

public sealed record Address(string Street, string City, string Country);

/// <summary>What every step needs to know about the order; carried by each event so no service has to ask another.</summary>
public sealed record OrderDetails(string OrderId, string CustomerId, IReadOnlyList<OrderItem> Items, decimal Amount, Address ShipTo);

// Events, one per topic (see Topics).
public sealed record OrderPlaced(OrderDetails Order);
public sealed record StockReserved(OrderDetails Order);
public sealed record StockRejected(OrderDetails Order, string Reason);
public sealed record PaymentCharged(OrderDetails Order, string PaymentId);
public sealed record PaymentDeclined(OrderDetails Order, string Reason);
public sealed record ShipmentDispatched(OrderDetails Order, string TrackingNumber);
public sealed record ShipmentFailed(OrderDetails Order, string Reason);
public sealed record PaymentRefunded(OrderDetails Order, string Reason);
public sealed record StockReleased(OrderDetails Order, string Reason);
public sealed record OrderCompleted(OrderDetails Order);
public sealed record OrderCancelled(OrderDetails Order, string Reason);

/// <summary>A command's answer: whether the step succeeded, and why not. Commands also publish the matching event.</summary>
public sealed record StepResult(bool Succeeded, string? Reason = null);

/// <summary>An order that did not reach any expected next step by its deadline.</summary>
public sealed record FlowStalled(string OrderId, string LastStep, IReadOnlyList<string> Expected, DateTimeOffset LastStepAt, DateTimeOffset StalledAt);

/// <summary>A compensation command (refund, release) with the reason the flow is being unwound.</summary>
public sealed record Compensate(OrderDetails Order, string Reason);
