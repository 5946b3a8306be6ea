using Dapr;
using OrderFlow.ServiceDefaults;

namespace OrderFlow.Monitor;

public static class MonitorApp
{
    public static WebApplication Build(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.AddServiceDefaults();
        builder.Services.Configure<MonitorOptions>(builder.Configuration.GetSection("Monitor"));
        builder.Services.AddSingleton<FlowChanges>();
        builder.Services.AddSingleton<FlowBook>();
        builder.Services.AddSingleton<Workflows>();
        builder.Services.AddSingleton<FlowStyles>();
        builder.Services.AddHostedService(services => services.GetRequiredService<FlowStyles>());
        builder.Services.AddHostedService<StallDetector>();
        var app = builder.Build();
        // The publisher (CloudEvent source) goes into each step of the timeline; the topic names a dead-lettered event's step.
        app.MapServiceDefaults(new CloudEventsMiddlewareOptions { ForwardCloudEventPropertiesAsHeaders = true, IncludedCloudEventPropertiesAsHeaders = ["source", "topic"] });
        app.MapMonitorApi();
        return app;
    }
}
