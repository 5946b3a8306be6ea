using Dapr.Workflow;
using OrderFlow.ServiceDefaults;

namespace OrderFlow.Orchestrator;

public static class OrchestratorApp
{
    public static WebApplication Build(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.AddServiceDefaults();
        builder.Services.Configure<OrderWorkflowOptions>(builder.Configuration.GetSection("OrderWorkflow"));
        // Dapr.Workflow's source generator registers every Workflow and WorkflowActivity class of this assembly under
        // its type name (OrderWorkflow, ReserveStock, ...); registering them here as well only logs "already registered".
        builder.Services.AddDaprWorkflow();
        var app = builder.Build();
        app.MapServiceDefaults();
        app.MapOrchestratorApi();
        return app;
    }
}

/// <summary>Read by the starter, which copies them into each instance's <see cref="OrderWorkflowInput"/>.</summary>
public sealed class OrderWorkflowOptions
{
    /// <summary>How long the workflow waits for shipping's outcome before it gives up and compensates.</summary>
    public TimeSpan ShipmentTimeout { get; set; } = TimeSpan.FromMinutes(5);
}
