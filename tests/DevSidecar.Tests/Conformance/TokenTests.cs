using System.Net;
using System.Text.Json.Nodes;
using DevSidecar.Tests.Conformance.Harness;
using Grpc.Core;

namespace DevSidecar.Tests.Conformance;

// Oracle (versions: Conformance/README.md): DAPR_API_TOKEN (401 text/plain `invalid api token`, health GETs exempt,
// header removed before forwarding), daprd dapr/dapr@d8450742 pkg/api/http/middlewares.go, and gRPC Unauthenticated,
// pkg/api/grpc/auth.go; APP_API_TOKEN sent to the app as dapr-api-token, on invocations
// (pkg/channel/http/http_channel.go), /dapr/subscribe (pkg/runtime/pubsub/subscriptions.go) and deliveries
// (pkg/runtime/subscription/postman/http/http.go); DAPR_API_TOKEN in Dapr.Client, dapr/dotnet-sdk@9a16009d
// src/Dapr.Common/DaprDefaults.cs.
public sealed class TokenTests : IAsyncLifetime
{
    private const string ApiToken = "api-secret-123";
    private const string AppToken = "app-secret-456";
    private Harness.Harness H = null!;

    public async Task InitializeAsync() => H = await Harness.Harness.StartAsync(new HarnessOptions { ApiToken = ApiToken, AppApiToken = AppToken });
    public async Task DisposeAsync() => await H.DisposeAsync();

    private HttpClient NoTokenHttp() => SidecarClients.Http(H.Sidecar);

    private static RpcException? Rpc(Exception e)
    {
        for (var x = e; x is not null; x = x.InnerException)
            if (x is RpcException rpc) return rpc;
        return null;
    }

    [Theory]
    [InlineData("GET", "/v1.0/metadata")]
    [InlineData("GET", "/v1.0/state/statestore/k")]
    [InlineData("POST", "/v1.0/publish/pubsub/orders")]
    [InlineData("GET", "/v1.0/invoke/whoever/method/echo/x")]
    public async Task Missing_token_is_401_text_plain_invalid_api_token(string method, string path)
    {
        using var http = NoTokenHttp();
        using var resp = await http.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));
        resp.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        resp.Content.Headers.ContentType!.MediaType.Should().Be("text/plain");
        (await resp.Content.ReadAsStringAsync()).Trim().Should().Be("invalid api token");
    }

    [Fact]
    public async Task Wrong_token_is_401()
    {
        using var http = NoTokenHttp();
        http.DefaultRequestHeaders.Add("dapr-api-token", "wrong");
        (await http.GetAsync("/v1.0/metadata")).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Correct_token_is_accepted()
    {
        (await H.Http.GetAsync("/v1.0/metadata")).StatusCode.Should().Be(HttpStatusCode.OK);
        (await H.Dapr.GetMetadataAsync()).Id.Should().Be(H.AppId);
        await H.Dapr.SaveStateAsync(TestApp.Store, "tok", "v");
        (await H.Dapr.GetStateAsync<string>(TestApp.Store, "tok")).Should().Be("v");
    }

    [Fact]
    public async Task Health_endpoints_are_exempt()
    {
        using var http = NoTokenHttp();
        (await http.GetAsync("/v1.0/healthz")).StatusCode.Should().Be(HttpStatusCode.NoContent);
        (await http.GetAsync("/v1.0/healthz/outbound")).StatusCode.Should().Be(HttpStatusCode.NoContent);
        using var dapr = SidecarClients.Dapr(H.Sidecar);
        (await dapr.CheckHealthAsync()).Should().BeTrue();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await dapr.WaitForSidecarAsync(cts.Token);
    }

    [Fact]
    public async Task Grpc_without_token_is_Unauthenticated()
    {
        using var dapr = SidecarClients.Dapr(H.Sidecar);
        var act = () => dapr.GetStateAsync<string>(TestApp.Store, "k");
        var ex = (await act.Should().ThrowAsync<Exception>()).Which;
        Rpc(ex)!.StatusCode.Should().Be(StatusCode.Unauthenticated);

        var pub = () => dapr.PublishEventAsync(TestApp.PubSub, "orders", new { a = 1 });
        Rpc((await pub.Should().ThrowAsync<Exception>()).Which)!.StatusCode.Should().Be(StatusCode.Unauthenticated);
    }

    [Fact]
    public async Task Invocation_forwards_app_token_not_api_token()
    {
        var echo = JsonNode.Parse(await H.Http.GetStringAsync($"/v1.0/invoke/{H.AppId}/method/echo/token"))!;
        ((string)echo["headers"]!["dapr-api-token"]!).Should().Be(AppToken, "the caller's token is removed and APP_API_TOKEN is sent to the app");
    }

    [Fact]
    public async Task Deliveries_and_subscribe_call_carry_app_token()
    {
        H.RequireApp.SubscribeRequestHeaders!.TryGetValue("dapr-api-token", out var t).Should().BeTrue();
        t.Should().Be(AppToken);
        var marker = Guid.NewGuid().ToString("N");
        await H.Dapr.PublishEventAsync(TestApp.PubSub, "orders", new { marker });
        var r = await Wait.ForAsync(() => H.RequireApp.At("/orders", marker).FirstOrDefault(), "delivery");
        r.Header("dapr-api-token").Should().Be(AppToken);
    }

    [Fact]
    public async Task Grpc_with_wrong_token_is_Unauthenticated()
    {
        using var dapr = SidecarClients.Dapr(H.Sidecar, "wrong-token");
        var act = () => dapr.GetMetadataAsync();
        Rpc((await act.Should().ThrowAsync<Exception>()).Which)!.StatusCode.Should().Be(StatusCode.Unauthenticated);
    }

    [Fact]
    public async Task Header_style_invocation_also_needs_the_token()
    {
        using var http = NoTokenHttp();
        using var req = new HttpRequestMessage(HttpMethod.Get, "/echo/x");
        req.Headers.Add("dapr-app-id", H.AppId);
        (await http.SendAsync(req)).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        H.RequireApp.At("/echo/x").Should().BeEmpty();
    }
}
