using Dapr.Client;
using Dapr.Workflow;
using OrderFlow.Contracts;

namespace OrderFlow.Orchestrator;

public sealed record StepRecord(string OrderId, string Step, string? Detail);

/// <summary>
/// Each activity is one command to the service that owns the step, over Dapr service invocation. The commands are
/// idempotent per order, so an activity that runs again after a crash changes nothing twice.
/// </summary>
public abstract class CommandActivity<TInput>(DaprClient dapr, string appId) : WorkflowActivity<TInput, StepResult>
{
    protected abstract string Method(TInput input);

    public override Task<StepResult> RunAsync(WorkflowActivityContext context, TInput input) =>
        dapr.InvokeMethodAsync<TInput, StepResult>(HttpMethod.Post, appId, Method(input), input);
}

public sealed class ReserveStock(DaprClient dapr) : CommandActivity<OrderDetails>(dapr, AppIds.Inventory)
{
    protected override string Method(OrderDetails order) => "reservations";
}

public sealed class ReleaseStock(DaprClient dapr) : CommandActivity<Compensate>(dapr, AppIds.Inventory)
{
    protected override string Method(Compensate c) => $"reservations/{c.Order.OrderId}/release";
}

public sealed class ChargePayment(DaprClient dapr) : CommandActivity<OrderDetails>(dapr, AppIds.Payments)
{
    protected override string Method(OrderDetails order) => "payments";
}

public sealed class RefundPayment(DaprClient dapr) : CommandActivity<Compensate>(dapr, AppIds.Payments)
{
    protected override string Method(Compensate c) => $"payments/{c.Order.OrderId}/refund";
}

/// <summary>Shipping accepts at once (202); its outcome comes back later as an event.</summary>
public sealed class ScheduleShipment(DaprClient dapr) : WorkflowActivity<OrderDetails, StepResult>
{
    public override async Task<StepResult> RunAsync(WorkflowActivityContext context, OrderDetails order)
    {
        using var request = dapr.CreateInvokeMethodRequest(HttpMethod.Post, AppIds.Shipping, "shipments", [], order);
        using var response = await dapr.InvokeMethodWithResponseAsync(request);
        response.EnsureSuccessStatusCode();
        return new StepResult(true);
    }
}

/// <summary>Reports a step to orders, which keeps the order's history (the same steps as in choreography).</summary>
public sealed class RecordStep(DaprClient dapr) : WorkflowActivity<StepRecord, StepResult>
{
    public override async Task<StepResult> RunAsync(WorkflowActivityContext context, StepRecord record)
    {
        using var request = dapr.CreateInvokeMethodRequest(HttpMethod.Post, AppIds.Orders, $"orders/{record.OrderId}/steps", [], new { record.Step, record.Detail });
        using var response = await dapr.InvokeMethodWithResponseAsync(request);
        response.EnsureSuccessStatusCode();
        return new StepResult(true);
    }
}

public sealed class CompleteOrder(DaprClient dapr) : WorkflowActivity<OrderDetails, StepResult>
{
    public override async Task<StepResult> RunAsync(WorkflowActivityContext context, OrderDetails order)
    {
        using var request = dapr.CreateInvokeMethodRequest(HttpMethod.Post, AppIds.Orders, $"orders/{order.OrderId}/complete");
        using var response = await dapr.InvokeMethodWithResponseAsync(request);
        response.EnsureSuccessStatusCode();
        return new StepResult(true);
    }
}

public sealed class CancelOrder(DaprClient dapr) : WorkflowActivity<Compensate, StepResult>
{
    public override async Task<StepResult> RunAsync(WorkflowActivityContext context, Compensate c)
    {
        using var request = dapr.CreateInvokeMethodRequest(HttpMethod.Post, AppIds.Orders, $"orders/{c.Order.OrderId}/cancel", [], new { c.Reason });
        using var response = await dapr.InvokeMethodWithResponseAsync(request);
        response.EnsureSuccessStatusCode();
        return new StepResult(true);
    }
}
