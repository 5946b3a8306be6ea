using OrderFlow.ServiceDefaults;
using WorkflowSdk;

namespace OrderFlow.Orchestrator;

public static class OrchestratorApp
{
    public static WebApplication Build(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.AddServiceDefaults();
        builder.Services.Configure<OrderWorkflowOptions>(builder.Configuration.GetSection("OrderWorkflow"));
        builder.Services.AddDaprWorkflow(options =>
        {
            options.RegisterWorkflow<OrderWorkflow>();
            options.RegisterActivity<ReserveStock>();
            options.RegisterActivity<ReleaseStock>();
            options.RegisterActivity<ChargePayment>();
            options.RegisterActivity<RefundPayment>();
            options.RegisterActivity<ScheduleShipment>();
            options.RegisterActivity<RecordStep>();
            options.RegisterActivity<CompleteOrder>();
            options.RegisterActivity<CancelOrder>();
        });
        var app = builder.Build();
        app.MapServiceDefaults();
        app.MapOrchestratorApi();
        return app;
    }
}

public sealed class OrderWorkflowOptions
{
    /// <summary>How long the workflow waits for shipping's outcome before it gives up and compensates.</summary>
    public TimeSpan ShipmentTimeout { get; set; } = TimeSpan.FromMinutes(5);
}
