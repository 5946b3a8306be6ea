using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using DevSidecar.Tests.Conformance.Harness;

namespace DevSidecar.Tests.Conformance;

// Oracle (versions: Conformance/README.md): the metadata API, daprd dapr/dapr@d8450742 pkg/api/http/metadata.go and
// pkg/api/universal/metadata.go, https://docs.dapr.io/reference/api/metadata_api/; healthz, healthz/outbound and
// shutdown, pkg/api/http/healthz.go, pkg/api/http/shutdown.go, pkg/api/universal/shutdown.go; the start-up order and
// the two readiness endpoints, pkg/runtime/runtime.go (initRuntime, blockUntilAppIsReady); Dapr.Client's calls
// (CheckHealthAsync, CheckOutboundHealthAsync, WaitForSidecarAsync over HTTP; GetMetadata, Shutdown over gRPC),
// dapr/dotnet-sdk@9a16009d src/Dapr.Client/DaprClientGrpc.cs.
public sealed class MetadataHealthTests(HarnessFixture fixture) : IClassFixture<HarnessFixture>
{
    private Harness.Harness H => fixture.H;

    [Fact]
    public async Task GetMetadataAsync_reports_app_id_and_components_with_types()
    {
        var md = await H.Dapr.GetMetadataAsync();
        md.Id.Should().Be(H.AppId);
        md.Components.Should().Contain(c => c.Name == "pubsub" && c.Type == "pubsub.in-memory");
        md.Components.Should().Contain(c => c.Name == "statestore" && c.Type == "state.in-memory");
        md.Components.Single(c => c.Name == "statestore").Version.Should().Be("v1");
    }

    [Fact]
    public async Task Http_metadata_shape()
    {
        using var resp = await H.Http.GetAsync("/v1.0/metadata");
        resp.StatusCode.Should().Be(HttpStatusCode.OK);
        resp.Content.Headers.ContentType!.MediaType.Should().Be("application/json");
        var md = JsonNode.Parse(await resp.Content.ReadAsStringAsync())!.AsObject();
        ((string)md["id"]!).Should().Be(H.AppId);
        var components = md["components"]!.AsArray().Select(c => c!.AsObject()).ToList();
        components.Should().Contain(c => (string)c["name"]! == "pubsub" && (string)c["type"]! == "pubsub.in-memory");
        var store = components.Single(c => (string)c["name"]! == "statestore");
        ((string)store["type"]!).Should().Be("state.in-memory");
        store["capabilities"]!.AsArray().Select(x => (string)x!).Should().Contain(["ETAG", "TRANSACTIONAL"]);
        md["extended"]!.AsObject().ContainsKey("daprRuntimeVersion").Should().BeTrue("extended always contains daprRuntimeVersion (daprd pkg/api/universal/metadata.go)");
        var subs = md["subscriptions"]!.AsArray().Select(s => s!.AsObject()).ToList();
        subs.Should().Contain(s => (string)s["topic"]! == "orders" && (string)s["pubsubname"]! == "pubsub" && (string)s["type"]! == "PROGRAMMATIC");
        ((int)md["appConnectionProperties"]!["port"]!).Should().Be(H.AppPort);
        ((string)md["appConnectionProperties"]!["protocol"]!).Should().Be("http");
        ((string)md["appConnectionProperties"]!["channelAddress"]!).Should().Be("127.0.0.1");
    }

    [Fact]
    public async Task Http_put_metadata_sets_extended_key()
    {
        var key = "k" + Guid.NewGuid().ToString("N")[..8];
        using var put = await H.Http.PutAsync($"/v1.0/metadata/{key}", new StringContent("some value", Encoding.UTF8, "text/plain"));
        put.StatusCode.Should().Be(HttpStatusCode.NoContent);
        var md = JsonNode.Parse(await H.Http.GetStringAsync("/v1.0/metadata"))!;
        ((string)md["extended"]![key]!).Should().Be("some value");
        (await H.Dapr.GetMetadataAsync()).Extended.Should().Contain(key, "some value");
    }

    [Fact]
    public async Task SetMetadataAsync_shows_in_extended()
    {
        var key = "g" + Guid.NewGuid().ToString("N")[..8];
        await H.Dapr.SetMetadataAsync(key, "grpc value");
        (await H.Dapr.GetMetadataAsync()).Extended.Should().Contain(key, "grpc value");
        var md = JsonNode.Parse(await H.Http.GetStringAsync("/v1.0/metadata"))!;
        ((string)md["extended"]![key]!).Should().Be("grpc value");
    }

    [Fact]
    public async Task Health_checks_are_true_when_app_is_up()
    {
        (await H.Dapr.CheckHealthAsync()).Should().BeTrue();
        (await H.Dapr.CheckOutboundHealthAsync()).Should().BeTrue();
        using var healthz = await H.Http.GetAsync("/v1.0/healthz");
        healthz.StatusCode.Should().Be(HttpStatusCode.NoContent);
        using var outbound = await H.Http.GetAsync("/v1.0/healthz/outbound");
        outbound.StatusCode.Should().Be(HttpStatusCode.NoContent);
    }

    [Fact]
    public async Task Readiness_before_and_after_the_app_listens()
    {
        await using var h = await Harness.Harness.StartAsync(new HarnessOptions { DeferApp = true });

        // WaitForSidecarAsync polls /v1.0/healthz/outbound: it must return while the app port is still closed.
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15)))
            await h.Dapr.WaitForSidecarAsync(cts.Token);
        (await h.Dapr.CheckOutboundHealthAsync()).Should().BeTrue();
        using (var outbound = await h.Http.GetAsync("/v1.0/healthz/outbound"))
            outbound.StatusCode.Should().Be(HttpStatusCode.NoContent);

        (await h.Dapr.CheckHealthAsync()).Should().BeFalse("the app port is not open yet");
        using (var healthz = await h.Http.GetAsync("/v1.0/healthz"))
        {
            healthz.StatusCode.Should().Be(HttpStatusCode.InternalServerError);
            var err = JsonNode.Parse(await healthz.Content.ReadAsStringAsync())!;
            ((string)err["errorCode"]!).Should().Be("ERR_HEALTH_NOT_READY");
            ((string)err["message"]!).Should().StartWith("dapr is not ready");
        }
        h.Sidecar.Ready.IsCompleted.Should().BeFalse();

        var app = await h.StartAppAsync();
        await Wait.UntilAsync(async () => (await h.Http.GetAsync("/v1.0/healthz")).StatusCode == HttpStatusCode.NoContent, "healthz 204 once the app listens");
        await Wait.WithDeadline(h.Sidecar.Ready, "Ready after the app listens");
        (await h.Dapr.CheckHealthAsync()).Should().BeTrue();
        app.SubscribeCalls.Should().Be(1, "/dapr/subscribe is called once the app port is open");
    }

    [Fact]
    public async Task Sidecar_without_app_is_healthy()
    {
        var peer = await H.StartPeerSidecarAsync("noapp");
        using var http = SidecarClients.Http(peer);
        await Wait.UntilAsync(async () => (await http.GetAsync("/v1.0/healthz")).StatusCode == HttpStatusCode.NoContent, "healthz of an app-less sidecar");
    }

    [Fact]
    public async Task Healthz_with_mismatched_appid_is_500_ERR_HEALTH_APPID_NOT_MATCH()
    {
        using var resp = await H.Http.GetAsync("/v1.0/healthz?appid=someone-else");
        resp.StatusCode.Should().Be(HttpStatusCode.InternalServerError);
        ((string)JsonNode.Parse(await resp.Content.ReadAsStringAsync())!["errorCode"]!).Should().Be("ERR_HEALTH_APPID_NOT_MATCH");
        (await H.Http.GetAsync($"/v1.0/healthz?appid={H.AppId}")).StatusCode.Should().Be(HttpStatusCode.NoContent);
    }

    [Fact]
    public async Task ShutdownSidecarAsync_requests_shutdown()
    {
        await using var h = await Harness.Harness.StartAsync();
        await h.Dapr.ShutdownSidecarAsync();
        (await Wait.WithDeadline(h.Sidecar.ShutdownRequested, "ShutdownRequested")).Should().BeFalse("not forced");
    }

    [Fact]
    public async Task Http_shutdown_is_204_and_requests_shutdown()
    {
        await using var h = await Harness.Harness.StartAsync(new HarnessOptions { WaitReady = false });
        using var resp = await h.Http.PostAsync("/v1.0/shutdown", null);
        resp.StatusCode.Should().Be(HttpStatusCode.NoContent);
        (await resp.Content.ReadAsByteArrayAsync()).Should().BeEmpty();
        (await Wait.WithDeadline(h.Sidecar.ShutdownRequested, "ShutdownRequested")).Should().BeFalse();
    }

    [Fact]
    public async Task Http_forced_shutdown_reports_forced()
    {
        await using var h = await Harness.Harness.StartAsync(new HarnessOptions { WaitReady = false });
        using var req = new HttpRequestMessage(HttpMethod.Post, "/v1.0/shutdown");
        req.Headers.Add("dapr-force-shutdown", "true");
        using var resp = await h.Http.SendAsync(req);
        resp.IsSuccessStatusCode.Should().BeTrue();
        (await Wait.WithDeadline(h.Sidecar.ShutdownRequested, "ShutdownRequested")).Should().BeTrue();
    }

    [Fact]
    public async Task Grpc_shutdown_with_force_metadata_is_forced()
    {
        await using var h = await Harness.Harness.StartAsync(new HarnessOptions { WaitReady = false });
        using var channel = Grpc.Net.Client.GrpcChannel.ForAddress($"http://127.0.0.1:{h.Sidecar.GrpcPort}");
        var client = new Dapr.Client.Autogen.Grpc.v1.Dapr.DaprClient(channel);
        await client.ShutdownAsync(new Dapr.Client.Autogen.Grpc.v1.ShutdownRequest(), new Grpc.Core.Metadata { { "dapr-force-shutdown", "true" } }, DateTime.UtcNow.AddSeconds(10));
        (await Wait.WithDeadline(h.Sidecar.ShutdownRequested, "ShutdownRequested")).Should().BeTrue("dapr-force-shutdown is also accepted as gRPC metadata (daprd pkg/api/universal/shutdown.go)");
    }

    /// <summary>The dev-only fault endpoint answers malformed input as daprd answers it: 400 {errorCode, message}.</summary>
    [Theory]
    [InlineData("not json", "application/json")]
    [InlineData("{\"topic\":\"t\",\"count\":1}", "text/plain")]
    [InlineData("{\"count\":1}", "application/json")]
    public async Task A_malformed_fault_rule_is_400_ERR_MALFORMED_REQUEST(string body, string contentType)
    {
        using var response = await H.Http.PostAsync("/v1.0-devsidecar/faults/drop", new StringContent(body, Encoding.UTF8, contentType));
        response.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        var error = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        ((string?)error["errorCode"]).Should().Be("ERR_MALFORMED_REQUEST");
        ((string?)error["message"]).Should().NotBeNullOrEmpty();
    }
}
