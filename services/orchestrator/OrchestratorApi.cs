using Grpc.Core;
using OrderFlow.Contracts;
using WorkflowSdk;

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
        events.MapPost("/order-placed", async (OrderPlaced e, DaprWorkflowClient workflows, ILogger<OrderWorkflow> logger) =>
        {
            try
            {
                await workflows.ScheduleNewWorkflowAsync(nameof(OrderWorkflow), e.Order.OrderId, e.Order);
                logger.LogInformation("order {OrderId}: workflow started", e.Order.OrderId);
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.AlreadyExists)
            {
                logger.LogInformation("order {OrderId}: workflow already started; duplicate event ignored", e.Order.OrderId);
            }
            return Results.Ok();
        });
        events.MapPost("/shipment-dispatched", (ShipmentDispatched e, DaprWorkflowClient workflows) =>
            RaiseAsync(workflows, e.Order.OrderId, new ShipmentOutcome(true, e.TrackingNumber, null)));
        events.MapPost("/shipment-failed", (ShipmentFailed e, DaprWorkflowClient workflows) =>
            RaiseAsync(workflows, e.Order.OrderId, new ShipmentOutcome(false, null, e.Reason)));

        app.MapGet("/workflows/{orderId}", async (string orderId, DaprWorkflowClient workflows) =>
        {
            var state = await workflows.GetWorkflowStateAsync(orderId);
            return state.Exists
                ? Results.Ok(new { orderId, status = state.RuntimeStatus.ToString(), progress = state.ReadCustomStatusAs<object>() })
                : Results.NotFound();
        });
        return app;
    }

    private static async Task<IResult> RaiseAsync(DaprWorkflowClient workflows, string orderId, ShipmentOutcome outcome)
    {
        await workflows.RaiseEventAsync(orderId, OrderWorkflow.ShipmentSettled, outcome);
        return Results.Ok();
    }
}
