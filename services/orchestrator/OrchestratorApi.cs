using Dapr.Workflow;
using Grpc.Core;
using Microsoft.Extensions.Options;
using OrderFlow.Contracts;
using OrderFlow.ServiceDefaults;

namespace OrderFlow.Orchestrator;

/// <summary>
/// Pub/sub handlers, wired only by components/orchestration/: a placed order starts a workflow (its instance id is
/// the order id, so a redelivered event starts nothing twice) and shipping's outcome becomes an external event.
/// </summary>
public static class OrchestratorApi
{
    public static IEndpointRouteBuilder MapOrchestratorApi(this IEndpointRouteBuilder app)
    {
        var events = app.MapGroup("/events");
        events.MapPost("/order-placed", StartAsync);
        events.MapPost("/shipment-dispatched", (ShipmentDispatched e, DaprWorkflowClient workflows) =>
            RaiseAsync(workflows, e.Order.OrderId, new ShipmentOutcome(true, e.TrackingNumber, null)));
        events.MapPost("/shipment-failed", (ShipmentFailed e, DaprWorkflowClient workflows) =>
            RaiseAsync(workflows, e.Order.OrderId, new ShipmentOutcome(false, null, e.Reason)));

        app.MapGet("/workflows/{orderId}", async (string orderId, DaprWorkflowClient workflows) =>
        {
            var state = await workflows.GetWorkflowStateAsync(orderId);
            return state.Exists
                ? Results.Ok(new { orderId, status = state.RuntimeStatus.ToString(), progress = state.ReadCustomStatusAs<object>() })
                : Problems.NotFound("Workflow not found", $"There is no workflow instance '{orderId}'.");
        });
        return app;
    }

    /// <summary>
    /// Starts the order's workflow unless it has one. Looking first is needed, not an optimisation: daprd answers a
    /// start on a running instance id with a plain error (not AlreadyExists), and re-creates and re-runs a completed,
    /// failed or terminated one, so a redelivered order-placed would otherwise loop on redelivery or run the order again.
    /// </summary>
    private static async Task<IResult> StartAsync(
        OrderPlaced? e, DaprWorkflowClient workflows, IOptions<OrderWorkflowOptions> options, ILogger<OrderWorkflow> logger, CancellationToken ct)
    {
        if (e?.Order?.OrderId is not { Length: > 0 } orderId)
        {
            // No redelivery can fix it, and daprd retries on a 4xx other than 404: tell it to drop the event, and say so.
            logger.LogWarning("order-placed event without an order id; dropped");
            return Results.Ok(new { status = "DROP" });
        }

        var existing = await workflows.GetWorkflowStateAsync(orderId, getInputsAndOutputs: false, ct);
        if (existing.Exists)
        {
            logger.LogInformation("order {OrderId}: workflow already exists ({Status}); duplicate event ignored", orderId, existing.RuntimeStatus);
            return Results.Ok();
        }

        try
        {
            await workflows.ScheduleNewWorkflowAsync(
                nameof(OrderWorkflow), orderId, new OrderWorkflowInput(e.Order, options.Value.ShipmentTimeout), startTime: null, ct);
            logger.LogInformation("order {OrderId}: workflow started", orderId);
        }
        catch (RpcException ex)
        {
            // A concurrent delivery of the same event may have started it between the look and the start.
            if (!(await workflows.GetWorkflowStateAsync(orderId, getInputsAndOutputs: false, ct)).Exists) throw;
            logger.LogInformation("order {OrderId}: workflow started by a concurrent delivery ({Error}); duplicate event ignored", orderId, ex.Status.Detail);
        }
        return Results.Ok();
    }

    private static async Task<IResult> RaiseAsync(DaprWorkflowClient workflows, string orderId, ShipmentOutcome outcome)
    {
        await workflows.RaiseEventAsync(orderId, OrderWorkflow.ShipmentSettled, outcome);
        return Results.Ok();
    }
}
