using OrderFlow.Contracts;

namespace OrderFlow.Monitor;

/// <summary>How a step travelled: an event published to its subscribers, or a call (service invocation) to one app.</summary>
public static class Via
{
    public const string Event = "event";
    public const string Call = "call";
}

/// <summary>One arrow of a step: from the app that published or called, to the apps that received it.</summary>
public sealed record Hop(string From, IReadOnlyList<string> To, string Via);

/// <summary>
/// Who sends each step of the flow to whom, per style: the page draws the arrows from it. The monitor sees only each
/// event's publisher; the receivers are the flow's wiring, written here once. Choreography: the subscribers of each
/// topic in components/choreography. Orchestration: OrderWorkflow's commands (services/orchestrator Activities.cs) and
/// the subscriptions of components/orchestration. FlowMapTests checks both against those subscription files.
/// The monitor's own subscriptions (to every topic) are left out: it watches, it takes no part.
/// </summary>
public static class FlowMap
{
    public const string Choreography = "choreography";
    public const string Orchestration = "orchestration";

    /// <summary>The lanes of the sequence drawing, left to right.</summary>
    public static IReadOnlyList<string> Lanes(string? style) => style == Orchestration
        ? [AppIds.Orders, AppIds.Orchestrator, AppIds.Inventory, AppIds.Payments, AppIds.Shipping, AppIds.Notifications]
        : [AppIds.Orders, AppIds.Inventory, AppIds.Payments, AppIds.Shipping, AppIds.Notifications];

    /// <summary>The steps that undo an earlier one.</summary>
    public static bool IsCompensation(string step) => step is Topics.PaymentRefunded or Topics.StockReleased;

    private static Hop Event(string from, params string[] to) => new(from, to, Via.Event);
    private static Hop Call(string to) => new(AppIds.Orchestrator, [to], Via.Call);

    /// <summary>Each topic's publisher and subscribers in choreography (components/choreography).</summary>
    private static readonly Dictionary<string, Hop[]> ChoreographyHops = new()
    {
        [Topics.OrderPlaced] = [Event(AppIds.Orders, AppIds.Inventory)],
        [Topics.StockReserved] = [Event(AppIds.Inventory, AppIds.Payments)],
        [Topics.StockRejected] = [Event(AppIds.Inventory, AppIds.Orders)],
        [Topics.PaymentCharged] = [Event(AppIds.Payments, AppIds.Shipping, AppIds.Orders)],
        [Topics.PaymentDeclined] = [Event(AppIds.Payments, AppIds.Inventory, AppIds.Orders)],
        [Topics.ShipmentDispatched] = [Event(AppIds.Shipping, AppIds.Orders)],
        [Topics.ShipmentFailed] = [Event(AppIds.Shipping, AppIds.Payments, AppIds.Orders)],
        [Topics.PaymentRefunded] = [Event(AppIds.Payments, AppIds.Inventory, AppIds.Orders)],
        [Topics.StockReleased] = [Event(AppIds.Inventory, AppIds.Orders)],
        [Topics.OrderCompleted] = [Event(AppIds.Orders, AppIds.Notifications)],
        [Topics.OrderCancelled] = [Event(AppIds.Orders, AppIds.Notifications)],
    };

    /// <summary>
    /// In orchestration the workflow calls the service whose answer is the step (the service also publishes the step's
    /// event, which only the monitor hears); shipping's slow answer and the placed order come back as events, and the
    /// workflow's last call (complete or cancel) makes orders announce the end to notifications.
    /// </summary>
    private static readonly Dictionary<string, Hop[]> OrchestrationHops = new()
    {
        [Topics.OrderPlaced] = [Event(AppIds.Orders, AppIds.Orchestrator)],
        [Topics.StockReserved] = [Call(AppIds.Inventory)],
        [Topics.StockRejected] = [Call(AppIds.Inventory)],
        [Topics.PaymentCharged] = [Call(AppIds.Payments)],
        [Topics.PaymentDeclined] = [Call(AppIds.Payments)],
        [Topics.ShipmentDispatched] = [Event(AppIds.Shipping, AppIds.Orchestrator)],
        [Topics.ShipmentFailed] = [Event(AppIds.Shipping, AppIds.Orchestrator)],
        [Topics.PaymentRefunded] = [Call(AppIds.Payments)],
        [Topics.StockReleased] = [Call(AppIds.Inventory)],
        [Topics.OrderCompleted] = [Call(AppIds.Orders), Event(AppIds.Orders, AppIds.Notifications)],
        [Topics.OrderCancelled] = [Call(AppIds.Orders), Event(AppIds.Orders, AppIds.Notifications)],
    };

    /// <summary>The arrows of a step in a style; none while the style is not known yet or for a topic outside the flow.</summary>
    public static IReadOnlyList<Hop> HopsOf(string? style, string step) => style switch
    {
        Choreography => ChoreographyHops.GetValueOrDefault(step) ?? [],
        Orchestration => OrchestrationHops.GetValueOrDefault(step) ?? [],
        _ => [],
    };

    /// <summary>Every step's hops in a style (for the tests that hold the map against the subscription files).</summary>
    public static IReadOnlyDictionary<string, Hop[]> Of(string style) => style == Orchestration ? OrchestrationHops : ChoreographyHops;
}
