using Dapr.Workflow;
using OrderFlow.Contracts;

namespace OrderFlow.Orchestrator;

/// <summary>
/// What starts an <see cref="OrderWorkflow"/>: the order, and the settings the run needs. The settings travel in the
/// input rather than being injected, so they are recorded in the instance's history and every replay sees the same.
/// </summary>
public sealed record OrderWorkflowInput(OrderDetails Order, TimeSpan ShipmentTimeout);

/// <summary>What the workflow ends with; the order itself is completed or cancelled in the orders service.</summary>
public sealed record OrderOutcome(string OrderId, bool Completed, string? Reason);

/// <summary>Shipping's slow answer, raised into the workflow as the external event <see cref="OrderWorkflow.ShipmentSettled"/>.</summary>
public sealed record ShipmentOutcome(bool Dispatched, string? TrackingNumber, string? Reason);

/// <summary>
/// The order flow in orchestration style. Every step is a command to the owning service over service invocation;
/// the outcomes are the same as in choreography (same services, same events), but the sequence and the
/// compensation (in reverse order) live here, in one place. Progress is in the custom status.
/// </summary>
public sealed class OrderWorkflow : Workflow<OrderWorkflowInput, OrderOutcome>
{
    public const string ShipmentSettled = "ShipmentSettled";

    private static readonly WorkflowTaskOptions Retry = new(new WorkflowRetryPolicy(
        maxNumberOfAttempts: 5, firstRetryInterval: TimeSpan.FromMilliseconds(200), backoffCoefficient: 2, maxRetryInterval: TimeSpan.FromSeconds(5)));

    public override async Task<OrderOutcome> RunAsync(WorkflowContext context, OrderWorkflowInput input)
    {
        var order = input.Order;
        context.SetCustomStatus(new { step = "reserving stock" });
        var reserved = await context.CallActivityAsync<StepResult>(nameof(ReserveStock), order, Retry);
        if (!reserved.Succeeded)
        {
            await RecordAsync(context, order, Topics.StockRejected, reserved.Reason);
            return await CancelAsync(context, order, reserved.Reason!);
        }
        await RecordAsync(context, order, Topics.StockReserved, null);

        context.SetCustomStatus(new { step = "charging payment" });
        var charged = await context.CallActivityAsync<StepResult>(nameof(ChargePayment), order, Retry);
        if (!charged.Succeeded)
        {
            await RecordAsync(context, order, Topics.PaymentDeclined, charged.Reason);
            await ReleaseAsync(context, order, charged.Reason!);
            return await CancelAsync(context, order, charged.Reason!);
        }
        await RecordAsync(context, order, Topics.PaymentCharged, null);

        context.SetCustomStatus(new { step = "waiting for shipping" });
        await context.CallActivityAsync<StepResult>(nameof(ScheduleShipment), order, Retry);
        ShipmentOutcome shipment;
        try
        {
            shipment = await context.WaitForExternalEventAsync<ShipmentOutcome>(ShipmentSettled, input.ShipmentTimeout);
        }
        catch (TaskCanceledException)
        {
            // Dapr.Workflow's way of saying the timeout's durable timer fired before the event arrived.
            shipment = new ShipmentOutcome(false, null, $"no word from shipping within {input.ShipmentTimeout}");
        }

        if (shipment.Dispatched)
        {
            await RecordAsync(context, order, Topics.ShipmentDispatched, shipment.TrackingNumber);
            context.SetCustomStatus(new { step = "completed" });
            await context.CallActivityAsync<StepResult>(nameof(CompleteOrder), order, Retry);
            return new OrderOutcome(order.OrderId, true, null);
        }

        // Compensation in reverse order: refund, then release.
        var reason = shipment.Reason!;
        await RecordAsync(context, order, Topics.ShipmentFailed, reason);
        context.SetCustomStatus(new { step = "refunding" });
        await context.CallActivityAsync<StepResult>(nameof(RefundPayment), new Compensate(order, reason), Retry);
        await RecordAsync(context, order, Topics.PaymentRefunded, reason);
        await ReleaseAsync(context, order, reason);
        return await CancelAsync(context, order, reason);
    }

    private static async Task ReleaseAsync(WorkflowContext context, OrderDetails order, string reason)
    {
        context.SetCustomStatus(new { step = "releasing stock" });
        await context.CallActivityAsync<StepResult>(nameof(ReleaseStock), new Compensate(order, reason), Retry);
        await RecordAsync(context, order, Topics.StockReleased, reason);
    }

    private static async Task<OrderOutcome> CancelAsync(WorkflowContext context, OrderDetails order, string reason)
    {
        context.SetCustomStatus(new { step = "cancelled", reason });
        await context.CallActivityAsync<StepResult>(nameof(CancelOrder), new Compensate(order, reason), Retry);
        return new OrderOutcome(order.OrderId, false, reason);
    }

    private static Task RecordAsync(WorkflowContext context, OrderDetails order, string step, string? detail) =>
        context.CallActivityAsync<StepResult>(nameof(RecordStep), new StepRecord(order.OrderId, step, detail), Retry);
}
