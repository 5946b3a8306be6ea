namespace OrderFlow.Contracts;

/// <summary>Names of the Dapr components every service uses; the YAML in components/ defines them.</summary>
public static class Components
{
    public const string PubSub = "pubsub";
    public const string StateStore = "statestore";

    /// <summary>
    /// The orders app's own state store, with the transactional outbox (outboxPublishTopic: order-placed). daprd applies
    /// a store's outbox to every transaction on it by any app, so it is a component of its own, scoped to orders: on the
    /// shared statestore, inventory's transactions would announce order-placed too.
    /// </summary>
    public const string OrderStore = "orderstore";
}

/// <summary>App ids, as in dapr.yaml.</summary>
public static class AppIds
{
    public const string Orders = "orders";
    public const string Inventory = "inventory";
    public const string Payments = "payments";
    public const string Shipping = "shipping";
    public const string Notifications = "notifications";

    /// <summary>Runs OrderWorkflow; it has work only when components/orchestration is loaded.</summary>
    public const string Orchestrator = "orchestrator";

    /// <summary>Watches every flow event of both styles and reports stalled orders.</summary>
    public const string Monitor = "monitor";
}

/// <summary>
/// The flow's topics. Every service publishes the outcome of its step whatever the style;
/// which services react to which topic is wired by the Subscription resources of the chosen style.
/// </summary>
public static class Topics
{
    public const string OrderPlaced = "order-placed";
    public const string StockReserved = "stock-reserved";
    public const string StockRejected = "stock-rejected";
    public const string PaymentCharged = "payment-charged";
    public const string PaymentDeclined = "payment-declined";
    public const string ShipmentDispatched = "shipment-dispatched";
    public const string ShipmentFailed = "shipment-failed";
    public const string PaymentRefunded = "payment-refunded";
    public const string StockReleased = "stock-released";
    public const string OrderCompleted = "order-completed";
    public const string OrderCancelled = "order-cancelled";

    /// <summary>Published by the monitor when an order misses the deadline of its next step.</summary>
    public const string FlowStalled = "flow-stalled";

    /// <summary>
    /// Where every flow subscription sends an event its subscriber failed beyond the resiliency policy's retries, or
    /// dropped (deadLetterTopic in components/choreography and components/orchestration); the monitor reports them.
    /// </summary>
    public const string FlowDeadLetter = "flow-deadletter";

    /// <summary>
    /// The flow's steps in causal order, alternatives side by side. Events of different topics may arrive out of this
    /// order; histories and timelines are kept in it.
    /// </summary>
    public static readonly string[][] InFlowOrder =
    [
        [OrderPlaced],
        [StockReserved, StockRejected],
        [PaymentCharged, PaymentDeclined],
        [ShipmentDispatched, ShipmentFailed],
        [PaymentRefunded],
        [StockReleased],
        [OrderCompleted, OrderCancelled],
    ];

    /// <summary>The position of a step in <see cref="InFlowOrder"/>; -1 for a topic that is not a flow step.</summary>
    public static int Rank(string step) => Array.FindIndex(InFlowOrder, alternatives => alternatives.Contains(step));
}
