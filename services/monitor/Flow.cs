using System.Text.Json;
using System.Text.Json.Serialization;
using OrderFlow.Contracts;

namespace OrderFlow.Monitor;

[JsonConverter(typeof(JsonStringEnumConverter<FlowStatus>))]
public enum FlowStatus { InProgress, Stalled, DeadLettered, Completed, Cancelled }

/// <summary>An event of the flow that reached the dead-letter topic: which topic, when, and why.</summary>
public sealed record DeadLetter(string Topic, DateTimeOffset At, string Reason);

/// <summary>One flow event as the monitor saw it: which step, when it arrived, who published it, in which trace.</summary>
public sealed record FlowStep(string Step, DateTimeOffset At, string? App, string? TraceId);

/// <summary>The event of the furthest step, kept so that a redrive can publish it again.</summary>
public sealed record LastGoodEvent(string Topic, JsonElement Data);

public sealed record Flow(string OrderId, FlowStatus Status, IReadOnlyList<FlowStep> Steps, LastGoodEvent Last,
    DateTimeOffset? StalledAt, int Redrives, DeadLetter? DeadLetter = null)
{
    // Derived, so not stored with the flow.
    [JsonIgnore]
    public FlowStep LastStep => Steps.Where(s => s.Step == Last.Topic).Last();

    [JsonIgnore]
    public IReadOnlyList<string> Expected => FlowRules.Next(Last.Topic);

    /// <summary>Not ended yet: in progress, stalled or dead-lettered.</summary>
    [JsonIgnore]
    public bool IsOpen => Status is FlowStatus.InProgress or FlowStatus.Stalled or FlowStatus.DeadLettered;

    /// <summary>Stalled or dead-lettered: waiting for someone to act (a redrive).</summary>
    [JsonIgnore]
    public bool NeedsRedrive => Status is FlowStatus.Stalled or FlowStatus.DeadLettered;

    /// <summary>Which style ran the order (<see cref="FlowMap"/>'s names), once <see cref="FlowStyles"/> has found out; null before.</summary>
    public string? Style { get; init; }

    /// <summary>The flow with this event recorded; null if the step was seen before (events arrive at least once).</summary>
    public Flow? With(FlowStep step, JsonElement data)
    {
        if (Steps.Any(s => s.Step == step.Step)) return null;
        var furthest = FlowRules.Rank(step.Step) >= FlowRules.Rank(Last.Topic) ? new LastGoodEvent(step.Step, data) : Last;
        var status = StatusAfter(step.Step, Status);
        return this with { Steps = [.. Steps, step], Last = furthest, Status = status, StalledAt = status == FlowStatus.InProgress ? null : StalledAt };
    }

    /// <summary>The flow as its first seen event makes it: events of different topics arrive in any order (the outbox
    /// announces order-placed a moment after the order is stored), so the first may already end it.</summary>
    public static Flow Start(string orderId, FlowStep step, JsonElement data) =>
        new(orderId, StatusAfter(step.Step, FlowStatus.InProgress), [step], new LastGoodEvent(step.Step, data), null, 0);

    private static FlowStatus StatusAfter(string step, FlowStatus before) => step switch
    {
        Topics.OrderCompleted => FlowStatus.Completed,
        Topics.OrderCancelled => FlowStatus.Cancelled,
        _ when before is FlowStatus.Completed or FlowStatus.Cancelled => before,
        _ => FlowStatus.InProgress, // a stalled or dead-lettered flow that moves again has recovered
    };
}

/// <summary>The shape of the order flow, the same in both styles: which steps may follow which.</summary>
public static class FlowRules
{
    private static readonly Dictionary<string, string[]> NextSteps = new()
    {
        [Topics.OrderPlaced] = [Topics.StockReserved, Topics.StockRejected],
        [Topics.StockReserved] = [Topics.PaymentCharged, Topics.PaymentDeclined],
        [Topics.StockRejected] = [Topics.OrderCancelled],
        [Topics.PaymentCharged] = [Topics.ShipmentDispatched, Topics.ShipmentFailed],
        [Topics.PaymentDeclined] = [Topics.StockReleased],
        [Topics.ShipmentDispatched] = [Topics.OrderCompleted],
        [Topics.ShipmentFailed] = [Topics.PaymentRefunded],
        [Topics.PaymentRefunded] = [Topics.StockReleased],
        [Topics.StockReleased] = [Topics.OrderCancelled],
        [Topics.OrderCompleted] = [],
        [Topics.OrderCancelled] = [],
    };

    public static IReadOnlyCollection<string> Steps => NextSteps.Keys;

    public static IReadOnlyList<string> Next(string step) => NextSteps.GetValueOrDefault(step) ?? [];

    /// <summary>How far along the flow a step is; events may arrive out of order, the furthest one counts.</summary>
    public static int Rank(string step) => Topics.Rank(step);
}
