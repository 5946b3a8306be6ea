using Microsoft.Extensions.Options;
using OrderFlow.Patterns.Callback;
using OrderFlow.Patterns.Jobs;
using OrderFlow.Patterns.QueueGroups;
using OrderFlow.Patterns.ReplyTo;
using OrderFlow.ServiceDefaults;

namespace OrderFlow.Patterns;

public static class PatternsApp
{
    /// <summary>Builds the app; tests host it in-process with their own ports, or run it as a child process.</summary>
    public static WebApplication Build(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.AddServiceDefaults();
        builder.Services.Configure<PatternsOptions>(builder.Configuration.GetSection("Patterns"));
        builder.Services.PostConfigure<PatternsOptions>(o =>
        {
            if (o.InstanceId.Length == 0) o.InstanceId = $"{Environment.MachineName}-{builder.Configuration["APP_PORT"] ?? "default"}";
        });
        builder.Services.AddSingleton<JobStore>();
        builder.Services.AddSingleton<JobRunner>();
        builder.Services.AddHostedService<JobResumer>();
        builder.Services.AddSingleton<WorkItemLog>();
        builder.Services.AddSingleton<PendingReplies>();

        var app = builder.Build();
        app.MapServiceDefaults();
        app.MapSubscribeHandler();
        app.MapGet("/instance", (IOptions<PatternsOptions> o) => new { instanceId = o.Value.InstanceId });
        app.MapCallbackApi();
        app.MapWorkItemsApi();
        app.MapPricesApi();
        app.MapJobsApi();
        return app;
    }
}
