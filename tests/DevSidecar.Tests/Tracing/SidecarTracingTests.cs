using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using DevSidecar.Hosting;
using DevSidecar.Tracing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace DevSidecar.Tests.Tracing;

// Oracle: dapr v1.17.9 pkg/config/configuration.go (LoadStandaloneConfiguration, SetTracingSpecFromEnv),
// pkg/runtime/runtime.go setupTracing, pkg/diagnostics (tracing_sampler.go, http_tracing.go, grpc_tracing.go),
// pkg/api/http/server.go useTracing, pkg/api/http/http.go onPublish, pkg/messaging/v1/util.go.
public sealed class SidecarTracingTests : IAsyncDisposable
{
    private readonly string _id = Guid.NewGuid().ToString("N")[..8];
    private readonly TraceApp _app = new();
    private readonly TempFolder _temp = new();
    private Cluster? _cluster;

    public async ValueTask DisposeAsync()
    {
        if (_cluster is not null) await _cluster.DisposeAsync();
        await _app.DisposeAsync();
        _temp.Dispose();
    }

    /// <summary>A cluster of this test: the app's sidecar ("target-…") and a sidecar with no app ("caller-…").</summary>
    private async Task<(Sidecar Caller, Sidecar Target)> StartAsync(string configuration)
    {
        _cluster = new Cluster(new ClusterOptions
        {
            Configuration = configuration,
            ResourceFiles = new Dictionary<string, string> { ["pubsub.yaml"] = ComponentYaml.Of("pubsub", "pubsub.in-memory") },
        });
        await _app.StartAsync();
        var target = await _cluster.StartReadySidecarAsync($"target-{_id}", _app.Port);
        var caller = await _cluster.StartReadySidecarAsync($"caller-{_id}", null);
        return (caller, target);
    }

    [Fact]
    public async Task With_a_sampling_rate_of_0_no_sidecar_span_is_made_an_invocation_passes_the_callers_traceparent_and_an_event_carries_none()
    {
        using var spans = new SidecarSpans(_id);
        var (caller, _) = await StartAsync(ComponentYaml.Configuration("    samplingRate: \"0\""));
        using var http = SidecarClients.Http(caller);
        const string parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

        using var invoke = new HttpRequestMessage(HttpMethod.Get, $"v1.0/invoke/target-{_id}/method/headers");
        invoke.Headers.Add("traceparent", parent);
        using var answer = await http.SendAsync(invoke);
        (await answer.Content.ReadAsStringAsync()).Should().Be(parent, "with no span of its own, daprd hands on the caller's traceparent");

        using var publish = new HttpRequestMessage(HttpMethod.Post, "v1.0/publish/pubsub/orders") { Content = new StringContent("{\"n\":1}", Encoding.UTF8, "application/json") };
        publish.Headers.Add("traceparent", parent);
        (await http.SendAsync(publish)).EnsureSuccessStatusCode();
        var delivered = await Wait.ForAsync(() => Task.FromResult(_app.Events.ToList()), e => e.Count == 1, "the event delivered");
        delivered[0].Envelope["traceparent"]!.GetValue<string>().Should().BeEmpty("daprd's publish takes the trace context from its own span, and there is none");
        delivered[0].TraceParent.Should().BeNull("nor does the delivery carry one");

        spans.Started.Should().BeEmpty("a sampling rate of 0 installs no tracing at all");
    }

    [Fact]
    public async Task A_sampled_call_is_daprds_client_span_then_CallLocal_on_both_sidecars_and_the_app_is_its_child()
    {
        using var spans = new SidecarSpans(_id);
        var (caller, target) = await StartAsync(ComponentYaml.Configuration("    samplingRate: \"1\""));
        using var http = SidecarClients.Http(caller);
        const string parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        using var invoke = new HttpRequestMessage(HttpMethod.Get, $"v1.0/invoke/target-{_id}/method/headers");
        invoke.Headers.Add("traceparent", parent);
        using var answer = await http.SendAsync(invoke);
        var received = ActivityContext.Parse(await answer.Content.ReadAsStringAsync(), null);

        var ended = await Wait.ForAsync(() => Task.FromResult(spans.Ended.ToList()), s => s.Count >= 2, "both sidecars' spans");
        var client = ended.Single(s => s.Source.Name.StartsWith($"DevSidecar.caller-{_id}."));
        var server = ended.Single(s => s.Source.Name.StartsWith($"DevSidecar.target-{_id}."));
        client.DisplayName.Should().Be($"CallLocal/target-{_id}/headers");
        client.Kind.Should().Be(ActivityKind.Client);
        client.ParentSpanId.ToHexString().Should().Be("b7ad6b7169203331");
        client.GetTagItem("dapr.api").Should().Be($"GET /v1.0/invoke/target-{_id}/method/headers");
        client.GetTagItem("rpc.service").Should().Be("ServiceInvocation");
        server.DisplayName.Should().Be($"CallLocal/target-{_id}/headers");
        server.Kind.Should().Be(ActivityKind.Server);
        server.ParentSpanId.Should().Be(client.SpanId);
        server.GetTagItem("dapr.invoke_method").Should().Be("headers");
        received.SpanId.Should().Be(server.SpanId, "the app's request carries the target sidecar's span");
        received.TraceId.ToHexString().Should().Be("0af7651916cd43dd8448eb211c80319c");
        target.AppId.Should().NotBeNull();

        // With no traceparent the caller's sidecar span is a root: no parent, whatever activity the host has going.
        var root = ActivityContext.Parse(await http.GetStringAsync($"v1.0/invoke/target-{_id}/method/headers"), null);
        var rootSpans = await Wait.ForAsync(() => Task.FromResult(spans.Ended.Where(s => s.TraceId == root.TraceId).ToList()), s => s.Count == 2, "the new trace's spans");
        rootSpans.Single(s => s.Kind == ActivityKind.Client).ParentSpanId.Should().Be(default(ActivitySpanId));
    }

    [Fact]
    public async Task An_unsampled_parent_is_not_sampled_whatever_the_rate_and_its_flag_goes_on()
    {
        using var spans = new SidecarSpans(_id);
        var (caller, _) = await StartAsync(ComponentYaml.Configuration("    samplingRate: \"1\""));
        using var http = SidecarClients.Http(caller);
        using var invoke = new HttpRequestMessage(HttpMethod.Get, $"v1.0/invoke/target-{_id}/method/headers");
        invoke.Headers.Add("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00");
        using var answer = await http.SendAsync(invoke);

        var received = await answer.Content.ReadAsStringAsync();
        received.Should().MatchRegex("^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-00$", "daprd's sampler is parent-based");
        received.Should().NotContain("b7ad6b7169203331", "the sidecar's own (unrecorded) span is the app's parent");
        spans.Started.Should().BeEmpty();
    }

    [Fact]
    public async Task The_Configurations_zipkin_and_otel_endpoints_get_their_own_sidecars_spans_named_by_app_id()
    {
        await using var collector = await SpanCollector.StartAsync();
        _cluster = new Cluster(new ClusterOptions());
        var zipkinConfig = _temp.WriteFile("zipkin.yaml",
            ComponentYaml.Configuration($"    samplingRate: \"1\"\n    zipkin:\n      endpointAddress: \"http://127.0.0.1:{collector.Port}/api/v2/spans\""));
        var otelConfig = _temp.WriteFile("otel.yaml",
            ComponentYaml.Configuration($"    samplingRate: \"1\"\n    otel:\n      endpointAddress: \"127.0.0.1:{collector.Port}\"\n      isSecure: false\n      protocol: http"));
        var zipkin = await _cluster.StartSidecarAsync($"zipkin-{_id}", null, o => o with { ConfigFile = zipkinConfig });
        var otel = await _cluster.StartSidecarAsync($"otel-{_id}", null, o => o with { ConfigFile = otelConfig });
        // The line config/config.yaml suggests for a collector or the Aspire dashboard: OTLP over gRPC, in the clear.
        var grpcConfig = _temp.WriteFile("grpc.yaml",
            ComponentYaml.Configuration($"    samplingRate: \"1\"\n    otel: {{ endpointAddress: \"127.0.0.1:{collector.GrpcPort}\", isSecure: false, protocol: grpc }}"));
        var grpc = await _cluster.StartSidecarAsync($"grpc-{_id}", null, o => o with { ConfigFile = grpcConfig });

        foreach (var sidecar in new[] { zipkin, otel, grpc })
        {
            using var http = SidecarClients.Http(sidecar);
            (await http.GetAsync("v1.0/metadata")).EnsureSuccessStatusCode();
        }
        await zipkin.DisposeAsync(); // flushes the exporter's batch
        await otel.DisposeAsync();
        await grpc.DisposeAsync();

        var zipkinSpans = await Wait.ForAsync(() => Task.FromResult(collector.Zipkin.ToList()), s => s.Count > 0, "spans at the zipkin endpoint");
        zipkinSpans.Should().OnlyContain(s => s.Service == $"zipkin-{_id}", "the service is the app id, and no other sidecar's span gets there");
        zipkinSpans.Should().Contain(s => s.Name == "/v1.0/metadata" && s.Kind == "CLIENT");
        var otlp = await Wait.ForAsync(() => Task.FromResult(collector.Otlp.ToList()), s => s.Count > 0, "a batch at the OTLP/HTTP endpoint");
        otlp.Should().OnlyContain(body => body.Contains($"otel-{_id}") && body.Contains("/v1.0/metadata") && !body.Contains($"zipkin-{_id}"));
        var otlpGrpc = await Wait.ForAsync(() => Task.FromResult(collector.OtlpGrpc.ToList()), s => s.Count > 0, "a batch at the OTLP/gRPC endpoint");
        otlpGrpc.Should().OnlyContain(body => body.Contains($"grpc-{_id}") && body.Contains("/v1.0/metadata") && !body.Contains($"otel-{_id}"));
    }

    [Theory]
    [InlineData("    stdout: maybe", "error loading configuration: yaml: line")]
    [InlineData("    otel:\n      endpointAddress: localhost:4317\n      protocol: ftp", "invalid protocol ftp provided for Otel endpoint")]
    [InlineData("    samplingRate: \"0\"\n    zipkin:\n      endpointAddress: localhost/spans", "invalid collector URL \"localhost/spans\": no scheme or host")]
    public async Task A_Configuration_daprd_refuses_stops_the_sidecar_with_daprds_error(string tracing, string error)
    {
        _cluster = new Cluster(new ClusterOptions { Configuration = ComponentYaml.Configuration(tracing) });
        var start = () => _cluster.StartSidecarAsync($"bad-{_id}", null);
        (await start.Should().ThrowAsync<ConfigurationLoadException>()).Which.Message.Should().StartWith(error);
    }

    [Fact]
    public async Task A_missing_Configuration_file_stops_the_sidecar_and_a_misspelt_key_is_named_with_the_one_meant()
    {
        _cluster = new Cluster(new ClusterOptions { Configuration = ComponentYaml.Configuration("    samplingRat: \"1\"") });
        var missing = Path.Combine(Path.GetTempPath(), $"no-such-{_id}.yaml");
        var start = () => _cluster.StartSidecarAsync($"missing-{_id}", null, o => o with { ConfigFile = missing });
        (await start.Should().ThrowAsync<ConfigurationLoadException>()).Which.Message
            .Should().Be($"error loading configuration: stat {missing}: no such file or directory");

        await _cluster.StartSidecarAsync($"typo-{_id}", null);
        _cluster.Logs.Any(Microsoft.Extensions.Logging.LogLevel.Warning, "spec.tracing: unknown key 'samplingRat' (did you mean 'samplingRate'?)")
            .Should().BeTrue();
    }

    [Fact]
    public void The_OTLP_environment_fills_in_what_the_file_leaves_out_as_daprds_SetTracingSpecFromEnv()
    {
        var env = new Dictionary<string, string> { ["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://collector:4318", ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf", ["OTEL_EXPORTER_OTLP_INSECURE"] = "true" };
        var (spec, _) = DaprConfiguration.Load(null, name => env.GetValueOrDefault(name));
        spec.Should().BeEquivalentTo(new TracingSpec { SamplingRate = "1", OtelEndpoint = "collector:4318", OtelProtocol = "http", OtelIsSecure = false });

        var (none, _) = DaprConfiguration.Load(null, _ => null);
        none.Rate.Should().Be(1e-4, "daprd's default rate, when nothing sets one");
        none.HasExporter.Should().BeFalse();
    }

    /// <summary>The spans the test's sidecars start (their sources are DevSidecar.{appId}.{n}, and the app ids are the test's).</summary>
    private sealed class SidecarSpans : IDisposable
    {
        private readonly ActivityListener _listener;
        public ConcurrentQueue<Activity> Started { get; } = new();
        public ConcurrentQueue<Activity> Ended { get; } = new();

        public SidecarSpans(string id)
        {
            _listener = new ActivityListener
            {
                ShouldListenTo = source => source.Name.StartsWith("DevSidecar.", StringComparison.Ordinal) && source.Name.Contains(id),
                Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
                ActivityStarted = Started.Enqueue,
                ActivityStopped = Ended.Enqueue,
            };
            ActivitySource.AddActivityListener(_listener);
        }

        public void Dispose() => _listener.Dispose();
    }

    /// <summary>An app that answers GET /headers with the traceparent it got, and takes events of topic "orders".</summary>
    private sealed class TraceApp : IAsyncDisposable
    {
        private readonly WebApplication _app = LoopbackApp.Create();
        public ConcurrentQueue<(JsonObject Envelope, string? TraceParent)> Events { get; } = new();
        public int Port { get; private set; }

        public async Task StartAsync()
        {
            _app.MapGet("/headers", (HttpContext c) => c.Request.Headers["traceparent"].ToString());
            _app.MapGet("/dapr/subscribe", () => Results.Text("""[{"pubsubname":"pubsub","topic":"orders","route":"events"}]""", "application/json"));
            _app.MapPost("/events", async (HttpContext c) =>
            {
                var envelope = (await JsonNode.ParseAsync(c.Request.Body))!.AsObject();
                Events.Enqueue((envelope, c.Request.Headers.TryGetValue("traceparent", out var tp) ? tp.ToString() : null));
                return Results.Ok();
            });
            await _app.StartAsync();
            Port = _app.BoundPort();
        }

        public async ValueTask DisposeAsync() => await _app.DisposeAsync();
    }

    /// <summary>A Zipkin (POST /api/v2/spans, JSON), OTLP/HTTP (POST /v1/traces, protobuf) and OTLP/gRPC (h2c, the
    /// TraceService's Export) endpoint that keeps what it gets.</summary>
    private sealed class SpanCollector : IAsyncDisposable
    {
        private readonly WebApplication _app = LoopbackApp.Create();
        private readonly WebApplication _grpc = Http2Only();
        public ConcurrentQueue<(string Service, string Name, string Kind)> Zipkin { get; } = new();
        public ConcurrentQueue<string> Otlp { get; } = new();
        public ConcurrentQueue<string> OtlpGrpc { get; } = new();
        public int Port { get; private set; }
        public int GrpcPort { get; private set; }

        private static WebApplication Http2Only()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0, l => l.Protocols = Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http2));
            return builder.Build();
        }

        public static async Task<SpanCollector> StartAsync()
        {
            var collector = new SpanCollector();
            collector._app.MapPost("/api/v2/spans", async (HttpContext c) =>
            {
                using var spans = await JsonDocument.ParseAsync(c.Request.Body);
                foreach (var span in spans.RootElement.EnumerateArray())
                    collector.Zipkin.Enqueue((span.GetProperty("localEndpoint").GetProperty("serviceName").GetString()!,
                        span.GetProperty("name").GetString()!, span.TryGetProperty("kind", out var kind) ? kind.GetString()! : ""));
                return Results.Accepted();
            });
            collector._app.MapPost("/v1/traces", async (HttpContext c) =>
            {
                using var body = new MemoryStream();
                await c.Request.Body.CopyToAsync(body);
                // The protobuf's strings (service name, span names) are there as UTF-8 bytes.
                if (c.Request.ContentType == "application/x-protobuf") collector.Otlp.Enqueue(Encoding.UTF8.GetString(body.ToArray()));
                return Results.Ok();
            });
            collector._grpc.MapPost("/opentelemetry.proto.collector.trace.v1.TraceService/Export", async (HttpContext c) =>
            {
                using var body = new MemoryStream();
                await c.Request.Body.CopyToAsync(body);
                collector.OtlpGrpc.Enqueue(Encoding.UTF8.GetString(body.ToArray()));
                // An empty ExportTraceServiceResponse: one uncompressed gRPC frame of length 0, then grpc-status 0.
                c.Response.ContentType = "application/grpc";
                await c.Response.Body.WriteAsync(new byte[5]);
                c.Response.AppendTrailer("grpc-status", "0");
            });
            await collector._app.StartAsync();
            await collector._grpc.StartAsync();
            collector.Port = collector._app.BoundPort();
            collector.GrpcPort = collector._grpc.BoundPort();
            return collector;
        }

        public async ValueTask DisposeAsync()
        {
            await _app.DisposeAsync();
            await _grpc.DisposeAsync();
        }
    }
}
