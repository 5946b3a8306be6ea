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
        if (!reserved.Succeeded) return await CancelAsync(context, order, reserved.Reason!, (Topics.StockRejected, reserved.Reason));

        // The reservation is recorded together with the charge's outcome: one command to orders for both steps, in
        // the flow's order, instead of one per step (#17: an activity fewer, and a read and a write fewer in orders).
        context.SetCustomStatus(new { step = "charging payment" });
        var charged = await context.CallActivityAsync<StepResult>(nameof(ChargePayment), order, Retry);
        if (!charged.Succeeded)
        {
            await RecordAsync(context, order, (Topics.StockReserved, null), (Topics.PaymentDeclined, charged.Reason));
            await ReleaseStockAsync(context, order, charged.Reason!);
            return await CancelAsync(context, order, charged.Reason!, (Topics.StockReleased, charged.Reason));
        }

        // Recorded while shipping is asked: one turn of the workflow for both.
        context.SetCustomStatus(new { step = "waiting for shipping" });
        await Task.WhenAll(RecordAsync(context, order, (Topics.StockReserved, null), (Topics.PaymentCharged, null)),
            context.CallActivityAsync<StepResult>(nameof(ScheduleShipment), order, Retry));
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
            context.SetCustomStatus(new { step = "completed" });
            // The last step and the end in one command: orders writes them in one update.
            await context.CallActivityAsync<StepResult>(nameof(CompleteOrder),
                new EndOrder(order, null, [new(order.OrderId, Topics.ShipmentDispatched, shipment.TrackingNumber)]), Retry);
            return new OrderOutcome(order.OrderId, true, null);
        }

        // Compensation in reverse order: refund, then release.
        var reason = shipment.Reason!;
        await RecordAsync(context, order, (Topics.ShipmentFailed, reason));
        context.SetCustomStatus(new { step = "refunding" });
        await context.CallActivityAsync<StepResult>(nameof(RefundPayment), new Compensate(order, reason), Retry);
        await RecordAsync(context, order, (Topics.PaymentRefunded, reason));
        await ReleaseStockAsync(context, order, reason);
        return await CancelAsync(context, order, reason, (Topics.StockReleased, reason));
    }

    private static async Task ReleaseStockAsync(WorkflowContext context, OrderDetails order, string reason)
    {
        context.SetCustomStatus(new { step = "releasing stock" });
        await context.CallActivityAsync<StepResult>(nameof(ReleaseStock), new Compensate(order, reason), Retry);
    }

    /// <summary>Cancels the order, recording <paramref name="lastStep"/> (the step that led here) in the same command.</summary>
    private static async Task<OrderOutcome> CancelAsync(WorkflowContext context, OrderDetails order, string reason, (string Step, string? Detail) lastStep)
    {
        context.SetCustomStatus(new { step = "cancelled", reason });
        await context.CallActivityAsync<StepResult>(nameof(CancelOrder),
            new EndOrder(order, reason, [new(order.OrderId, lastStep.Step, lastStep.Detail)]), Retry);
        return new OrderOutcome(order.OrderId, false, reason);
    }

    /// <summary>Records <paramref name="steps"/> on the order, in this order, in one command.</summary>
    private static Task RecordAsync(WorkflowContext context, OrderDetails order, params (string Step, string? Detail)[] steps) =>
        context.CallActivityAsync<StepResult>(nameof(RecordSteps),
            new StepsRecord(order.OrderId, [.. steps.Select(s => new StepRecord(order.OrderId, s.Step, s.Detail))]), Retry);
}
