using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace DevSidecar.Tracing;

/// <summary>
/// The exporters a Configuration names, as daprd's setupTracing registers them (dapr v1.17.9 pkg/runtime/runtime.go):
/// stdout (a log line per span), zipkin (endpointAddress is the full URL), otel (endpointAddress is host:port, over
/// https unless isSecure is false; protocol "http" posts to /v1/traces, "grpc" to the OTLP gRPC service; any other
/// protocol fails start-up). The service name is the app id, unless OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES
/// say otherwise (createOtelResource). The only class that touches the OpenTelemetry SDK, so it is loaded only for a
/// sidecar with an exporter.
/// </summary>
internal static class TraceExport
{
    public static IDisposable Start(SidecarTracing tracing, ILogger logger)
    {
        var spec = tracing.Spec;
        var builder = Sdk.CreateTracerProviderBuilder()
            .AddSource(tracing.Source.Name)
            // The sidecar has sampled already (SidecarTracing.Start); this provider records what it is handed.
            .SetSampler(new AlwaysOnSampler())
            .SetResourceBuilder(ResourceBuilder.CreateEmpty().AddService(tracing.AppId).AddEnvironmentVariableDetector());
        if (spec.Stdout) builder.AddProcessor(new SimpleActivityExportProcessor(new LogExporter(logger)));
        if (!string.IsNullOrEmpty(spec.ZipkinEndpoint))
        {
            builder.AddProcessor(new BatchActivityExportProcessor(new ZipkinExporter(new Uri(spec.ZipkinEndpoint))));
        }
        if (spec.HasOtlpExporter)
        {
            var scheme = spec.OtelIsSecure ? "https" : "http";
            var http = spec.OtelProtocol == "http";
            var headers = string.Join(',', spec.OtelHeaders.Where(h => h.Contains('=')));
            builder.AddOtlpExporter(o =>
            {
                o.Protocol = http ? OtlpExportProtocol.HttpProtobuf : OtlpExportProtocol.Grpc;
                // Set in code, the endpoint is used as it is: the HTTP path is daprd's exporter's default.
                o.Endpoint = new Uri($"{scheme}://{spec.OtelEndpoint}{(http ? "/v1/traces" : "")}");
                if (headers.Length > 0) o.Headers = headers;
            });
        }
        return builder.Build();
    }

    /// <summary>
    /// Zipkin's JSON v2 span list, POSTed to the endpoint as daprd's zipkin exporter does (OpenTelemetry Go
    /// exporters/zipkin): trace and span ids, parent, name, kind, microsecond timestamp and duration, the local
    /// endpoint's service name, and the attributes (with the status as otel.status_code / error) as tags.
    /// </summary>
    private sealed class ZipkinExporter(Uri endpoint) : BaseExporter<Activity>
    {
        private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };

        public override ExportResult Export(in Batch<Activity> batch)
        {
            var service = ParentProvider?.GetResource().Attributes.FirstOrDefault(a => a.Key == "service.name").Value?.ToString() ?? "";
            using var json = new MemoryStream();
            using (var writer = new Utf8JsonWriter(json))
            {
                writer.WriteStartArray();
                foreach (var span in batch) Write(writer, span, service);
                writer.WriteEndArray();
            }
            try
            {
                using var content = new ByteArrayContent(json.ToArray());
                content.Headers.ContentType = new("application/json");
                using var response = Http.Send(new HttpRequestMessage(HttpMethod.Post, endpoint) { Content = content });
                return response.IsSuccessStatusCode ? ExportResult.Success : ExportResult.Failure;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                return ExportResult.Failure;
            }
        }

        private static void Write(Utf8JsonWriter writer, Activity span, string service)
        {
            writer.WriteStartObject();
            writer.WriteString("traceId", span.TraceId.ToHexString());
            writer.WriteString("id", span.SpanId.ToHexString());
            if (span.ParentSpanId != default) writer.WriteString("parentId", span.ParentSpanId.ToHexString());
            writer.WriteString("name", span.DisplayName);
            if (span.Kind is ActivityKind.Client or ActivityKind.Server or ActivityKind.Producer or ActivityKind.Consumer)
                writer.WriteString("kind", span.Kind.ToString().ToUpperInvariant());
            var start = (span.StartTimeUtc - DateTime.UnixEpoch).Ticks / 10;
            writer.WriteNumber("timestamp", start);
            writer.WriteNumber("duration", Math.Max(1, span.Duration.Ticks / 10));
            writer.WriteStartObject("localEndpoint");
            writer.WriteString("serviceName", service);
            writer.WriteEndObject();
            writer.WriteStartObject("tags");
            foreach (var (key, value) in span.Tags) writer.WriteString(key, value);
            if (span.Status == ActivityStatusCode.Error)
            {
                writer.WriteString("otel.status_code", "ERROR");
                writer.WriteString("error", span.StatusDescription ?? "");
            }
            writer.WriteEndObject();
            writer.WriteEndObject();
        }
    }

    /// <summary>daprd's StdoutExporter (pkg/diagnostics/utils/trace_utils.go): one Info line per span.</summary>
    private sealed class LogExporter(ILogger logger) : BaseExporter<Activity>
    {
        public override ExportResult Export(in Batch<Activity> batch)
        {
            foreach (var span in batch)
            {
                logger.LogInformation("[{Name}] Trace: {TraceId} Span: {ParentSpanId}/{SpanId} Time: [{Start:O} ->  {End:O}] Annotations: {Events}",
                    span.DisplayName, span.TraceId, span.ParentSpanId, span.SpanId, span.StartTimeUtc, span.StartTimeUtc + span.Duration,
                    "[" + string.Join(' ', span.Events.Select(e => e.Name)) + "]");
            }
            return ExportResult.Success;
        }
    }
}
