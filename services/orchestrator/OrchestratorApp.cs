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
