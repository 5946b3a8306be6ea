using Dapr.Workflow;
using OrderFlow.Contracts;
using OrderFlow.ServiceDefaults;

namespace OrderFlow.Orchestrator;

public sealed record StepRecord(string OrderId, string Step, string? Detail);

/// <summary>Steps of one order to record in one command, in order.</summary>
public sealed record StepsRecord(string OrderId, IReadOnlyList<StepRecord> Steps);

/// <summary>Ends an order (completes it when <paramref name="Reason"/> is null), recording <paramref name="Steps"/> in the same write.</summary>
public sealed record EndOrder(OrderDetails Order, string? Reason, IReadOnlyList<StepRecord> Steps);

/// <summary>
/// Each activity is one command to the service that owns the step, over Dapr service invocation. The commands are
/// idempotent per order, so an activity that runs again after a crash changes nothing twice. A failed call (no
/// answer, or a status other than 2xx) throws, and the workflow's retry policy runs the activity again.
/// </summary>
public abstract class CommandActivity<TInput>(IHttpClientFactory http, string appId) : WorkflowActivity<TInput, StepResult>
{
    protected abstract string Method(TInput input);

    /// <summary>The command's JSON body: the input itself unless said otherwise; null sends none.</summary>
    protected virtual object? Body(TInput input) => input;

    /// <summary>What the step came to: the owning service's answer.</summary>
    protected virtual async Task<StepResult> ResultAsync(HttpResponseMessage response) =>
        await response.Content.ReadFromJsonAsync<StepResult>() ?? throw new InvalidOperationException($"{appId} answered with no step result.");

    public override async Task<StepResult> RunAsync(WorkflowActivityContext context, TInput input)
    {
        var app = http.CreateAppClient(appId);
        using var response = Body(input) is { } body
            ? await app.PostAsJsonAsync(Method(input), body)
            : await app.PostAsync(Method(input), content: null);
        response.EnsureSuccessStatusCode();
        return await ResultAsync(response);
    }
}

/// <summary>A command whose answer is only its status: any 2xx is a success.</summary>
public abstract class AcceptedActivity<TInput>(IHttpClientFactory http, string appId) : CommandActivity<TInput>(http, appId)
{
    protected sealed override Task<StepResult> ResultAsync(HttpResponseMessage response) => Task.FromResult(new StepResult(true));
}

public sealed class ReserveStock(IHttpClientFactory http) : CommandActivity<OrderDetails>(http, AppIds.Inventory)
{
    protected override string Method(OrderDetails order) => "reservations";
}

public sealed class ReleaseStock(IHttpClientFactory http) : CommandActivity<Compensate>(http, AppIds.Inventory)
{
    protected override string Method(Compensate c) => $"reservations/{c.Order.OrderId}/release";
}

public sealed class ChargePayment(IHttpClientFactory http) : CommandActivity<OrderDetails>(http, AppIds.Payments)
{
    protected override string Method(OrderDetails order) => "payments";
}

public sealed class RefundPayment(IHttpClientFactory http) : CommandActivity<Compensate>(http, AppIds.Payments)
{
    protected override string Method(Compensate c) => $"payments/{c.Order.OrderId}/refund";
}

/// <summary>Shipping accepts at once (202); its outcome comes back later as an event.</summary>
public sealed class ScheduleShipment(IHttpClientFactory http) : AcceptedActivity<OrderDetails>(http, AppIds.Shipping)
{
    protected override string Method(OrderDetails order) => "shipments";
}

/// <summary>Reports steps to orders, which keeps the order's history (the same steps as in choreography).</summary>
public sealed class RecordSteps(IHttpClientFactory http) : AcceptedActivity<StepsRecord>(http, AppIds.Orders)
{
    protected override string Method(StepsRecord record) => $"orders/{record.OrderId}/steps";
    protected override object? Body(StepsRecord record) => new { steps = record.Steps.Select(s => new { s.Step, s.Detail }) };
}

public sealed class CompleteOrder(IHttpClientFactory http) : AcceptedActivity<EndOrder>(http, AppIds.Orders)
{
    protected override string Method(EndOrder end) => $"orders/{end.Order.OrderId}/complete";
    protected override object? Body(EndOrder end) => new { steps = end.Steps.Select(s => new { s.Step, s.Detail }) };
}

public sealed class CancelOrder(IHttpClientFactory http) : AcceptedActivity<EndOrder>(http, AppIds.Orders)
{
    protected override string Method(EndOrder end) => $"orders/{end.Order.OrderId}/cancel";
    protected override object? Body(EndOrder end) => new { end.Reason, steps = end.Steps.Select(s => new { s.Step, s.Detail }) };
}
