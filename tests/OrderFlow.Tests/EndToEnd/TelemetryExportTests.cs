using OrderFlow.Contracts;

namespace OrderFlow.Tests.EndToEnd;

/// <summary>
/// Every app's traces and metrics go to the collector named by the standard OTEL_EXPORTER_OTLP_* settings, under the
/// app id as service name (ServiceDefaults' Telemetry).
/// </summary>
public sealed class TelemetryExportTests
{
    [Fact]
    public async Task An_app_exports_its_request_spans_and_metrics_to_the_OTLP_endpoint_it_is_given()
    {
        await using var collector = await OtlpReceiver.StartAsync();
        await using var cluster = new Cluster("local");
        var notifications = await cluster.StartAsync(OrderFlowApps.Notifications,
            $"--OTEL_EXPORTER_OTLP_ENDPOINT={collector.Endpoint}", "--OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
            // Export within a test's patience: spans after 100 ms instead of 5 s, metrics every 500 ms instead of 60 s.
            "--OTEL_BSP_SCHEDULE_DELAY=100", "--OTEL_METRIC_EXPORT_INTERVAL=500");

        (await notifications.Invoke.GetAsync("notifications")).EnsureSuccessStatusCode();

        await Wait.UntilAsync(() => collector.Received("/v1/traces", AppIds.Notifications, "GET /notifications"),
            "the span of GET /notifications, from service notifications, reaches the collector");
        await Wait.UntilAsync(() => collector.Received("/v1/metrics", AppIds.Notifications, "http.server.request.duration", "dotnet.gc.collections"),
            "ASP.NET Core's request duration and the runtime's GC metrics, from service notifications, reach the collector");
    }
}
