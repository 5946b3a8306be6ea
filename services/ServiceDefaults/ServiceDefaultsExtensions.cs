using Dapr;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace OrderFlow.ServiceDefaults;

public static class ServiceDefaultsExtensions
{
    /// <summary>
    /// Listens on APP_PORT (set by `dapr run` and by the dev sidecar's runner), talks to the sidecar named by
    /// DAPR_HTTP_PORT / DAPR_GRPC_PORT (or DAPR_HTTP_ENDPOINT / DAPR_GRPC_ENDPOINT), logs one line per entry
    /// with its trace id, records traces and metrics (<see cref="Telemetry"/>).
    /// The sidecar's address is Dapr's default, which both the Dapr client and <see cref="AppInvocation"/> read from the
    /// app's configuration first and from the environment after.
    /// </summary>
    public static WebApplicationBuilder AddServiceDefaults(this WebApplicationBuilder builder)
    {
        var config = builder.Configuration;
        if (config["APP_PORT"] is { Length: > 0 } appPort)
            builder.WebHost.UseUrls($"http://127.0.0.1:{appPort}");

        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss.fff ";
            o.IncludeScopes = true; // the trace and span ids (see Telemetry)
        });
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        // Logs nothing above Information (request start and end), but opens a RequestPath/RequestId scope that would
        // lengthen every line after the trace id.
        builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None);
        builder.AddTelemetry();

        builder.Services.AddDaprClient();
        builder.Services.AddAppInvocation();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddProblemDetails(o => o.CustomizeProblemDetails = ProblemLog.Write);
        builder.Services.Configure<Microsoft.AspNetCore.Routing.RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        builder.Services.AddExceptionHandler<BadRequestHandler>();
        builder.Services.AddHealthChecks();
        builder.Services.Configure<ShutdownOptions>(config.GetSection("Shutdown"));
        builder.Services.AddSingleton<InFlightWork>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<InFlightWork>());
        // The host's own limit must outlast the grace period, which ends with work being handed back.
        var grace = config.GetSection("Shutdown").Get<ShutdownOptions>()?.GracePeriod ?? new ShutdownOptions().GracePeriod;
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = grace + TimeSpan.FromSeconds(5));
        return builder;
    }

    /// <summary>CloudEvents unwrapping for pub/sub deliveries, problem details for errors, /healthz, 503 while shutting down.</summary>
    public static WebApplication MapServiceDefaults(this WebApplication app, CloudEventsMiddlewareOptions? cloudEvents = null)
    {
        app.UseExceptionHandler();
        app.UseRefuseWhileStopping();
        app.UseStatusCodePages();
        app.UseCloudEvents(cloudEvents ?? new CloudEventsMiddlewareOptions());
        app.MapHealthChecks("/healthz");
        return app;
    }
}
