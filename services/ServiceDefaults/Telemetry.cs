using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace OrderFlow.ServiceDefaults;

/// <summary>
/// OpenTelemetry for every app. Traces: a span per request served (ASP.NET Core) and per request sent (HttpClient,
/// which also carries the Dapr client's gRPC calls), so the W3C <c>traceparent</c> the sidecars pass on links the apps
/// into one trace. Metrics: ASP.NET Core's and HttpClient's request durations, Kestrel's connections, the .NET
/// runtime's GC, thread pool and exceptions. Both leave the process only when the standard
/// <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set (the exporter reads it and the other <c>OTEL_EXPORTER_OTLP_*</c>,
/// <c>OTEL_BSP_*</c> and <c>OTEL_METRIC_EXPORT_*</c> settings itself, from the environment or the app's configuration);
/// <c>OTEL_SERVICE_NAME</c> overrides the service name, which is the Dapr app id.
/// </summary>
public static class Telemetry
{
    /// <summary>Meters of the ASP.NET Core and .NET runtime built-ins (the names the OpenTelemetry
    /// instrumentation packages would add, without their packages).</summary>
    private static readonly string[] BuiltInMeters =
    [
        "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel", "Microsoft.AspNetCore.Routing",
        "Microsoft.AspNetCore.Diagnostics", "System.Net.Http", "System.Runtime",
    ];

    public static WebApplicationBuilder AddTelemetry(this WebApplicationBuilder builder)
    {
        var config = builder.Configuration;
        var export = config["OTEL_EXPORTER_OTLP_ENDPOINT"] is { Length: > 0 };
        var telemetry = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(config["APP_ID"] is { Length: > 0 } appId ? appId : builder.Environment.ApplicationName))
            .WithTracing(tracing =>
            {
                tracing.AddSource(Tracing.SourceName, Tracing.GrpcClientSourceName, Tracing.WorkflowSourceName)
                    // Health probes would be most of the spans and tell nothing about an order.
                    .AddAspNetCoreInstrumentation(o => o.Filter = context => !context.Request.Path.StartsWithSegments("/healthz"))
                    .AddHttpClientInstrumentation();
                if (export) tracing.AddOtlpExporter();
            });
        // Nothing reads metrics in-process: with no exporter, no meter provider is made, so they cost nothing.
        if (export) telemetry.WithMetrics(metrics => metrics.AddMeter(BuiltInMeters).AddOtlpExporter());

        // Each log line names the trace and span it was written in, so a line can be found from a trace and back.
        builder.Logging.Configure(o => o.ActivityTrackingOptions = ActivityTrackingOptions.TraceId | ActivityTrackingOptions.SpanId);
        return builder;
    }
}
