#pragma warning disable CS0618 // InvokeMethodAsync is obsolete in 1.19 but is exactly what apps call
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Dapr.Client;
using DevSidecar.Tests.Conformance.Harness;

namespace DevSidecar.Tests.Conformance;

// Oracle (versions: Conformance/README.md): the fallback route, daprd dapr/dapr@d8450742 pkg/api/http/server.go;
// service invocation, pkg/api/http/directmessaging.go, pkg/channel/http/http_channel.go,
// pkg/messaging/direct_messaging.go, pkg/messaging/v1/util.go and
// https://docs.dapr.io/reference/api/service_invocation_api/; Dapr.Client's invocation calls, dapr/dotnet-sdk@9a16009d
// src/Dapr.Client/DaprClientGrpc.cs and InvocationHandler.cs.
public sealed class InvocationTests(HarnessFixture fixture) : IClassFixture<HarnessFixture>
{
    private Harness.Harness H => fixture.H;

    private record Echo(string Method, string Path, string Query, string? ContentType, string Body, Dictionary<string, string> Headers);

    private static async Task<JsonObject> ReadJson(HttpResponseMessage r) => JsonNode.Parse(await r.Content.ReadAsStringAsync())!.AsObject();

    private static Echo ParseEcho(string json)
    {
        var o = JsonNode.Parse(json)!.AsObject();
        return new Echo((string)o["method"]!, (string)o["path"]!, (string)o["query"]!, (string?)o["contentType"], (string)o["body"]!,
            o["headers"]!.AsObject().ToDictionary(kv => kv.Key, kv => (string)kv.Value!, StringComparer.OrdinalIgnoreCase));
    }

    [Fact]
    public async Task InvokeMethodAsync_post_sends_json_body_and_returns_deserialized_response()
    {
        var marker = Guid.NewGuid().ToString("N");
        var echo = await H.Dapr.InvokeMethodAsync<object, JsonObject>(H.AppId, "echo/post-json", new { OrderId = marker, Amount = 3 });
        echo["method"]!.GetValue<string>().Should().Be("POST");
        echo["path"]!.GetValue<string>().Should().Be("/echo/post-json");
        var body = JsonNode.Parse(echo["body"]!.GetValue<string>())!;
        body["orderId"]!.GetValue<string>().Should().Be(marker, "the SDK sends camelCase JSON and the sidecar forwards the body unchanged");
        body["amount"]!.GetValue<int>().Should().Be(3);
        echo["contentType"]!.GetValue<string>().Should().StartWith("application/json");
    }

    [Fact]
    public async Task InvokeMethodAsync_get_uses_get_verb()
    {
        var echo = await H.Dapr.InvokeMethodAsync<JsonObject>(HttpMethod.Get, H.AppId, "echo/get-me");
        echo["method"]!.GetValue<string>().Should().Be("GET");
        echo["path"]!.GetValue<string>().Should().Be("/echo/get-me");
    }

    [Fact]
    public async Task InvokeMethodAsync_non_2xx_raises_InvocationException_with_app_status()
    {
        var act = () => H.Dapr.InvokeMethodAsync(HttpMethod.Get, H.AppId, "status/418");
        var ex = (await act.Should().ThrowAsync<InvocationException>()).Which;
        ex.Response.Should().NotBeNull();
        ex.Response!.StatusCode.Should().Be((HttpStatusCode)418);
        ex.AppId.Should().Be(H.AppId);
        (await ex.Response.Content.ReadAsStringAsync()).Should().Be("app says 418");
    }

    [Fact]
    public async Task CreateInvokeHttpClient_preserves_path_and_query()
    {
        using var client = DaprClient.CreateInvokeHttpClient(H.AppId, $"http://127.0.0.1:{H.Sidecar.HttpPort}");
        var json = await client.GetStringAsync("/echo/a/b?x=1&y=two%20words");
        var echo = ParseEcho(json);
        echo.Path.Should().Be("/echo/a/b");
        echo.Query.Should().Be("?x=1&y=two%20words");
        echo.Method.Should().Be("GET");
    }

    [Fact]
    public async Task Url_style_forwards_any_verb_path_and_raw_query()
    {
        using var req = new HttpRequestMessage(HttpMethod.Put, $"/v1.0/invoke/{H.AppId}/method/echo/put/me?a=1&b=%2F") { Content = new StringContent("hello", Encoding.UTF8, "text/plain") };
        using var resp = await H.Http.SendAsync(req);
        resp.StatusCode.Should().Be(HttpStatusCode.OK);
        var echo = ParseEcho(await resp.Content.ReadAsStringAsync());
        echo.Method.Should().Be("PUT");
        echo.Path.Should().Be("/echo/put/me");
        echo.Query.Should().Be("?a=1&b=%2F");
        echo.Body.Should().Be("hello");
        echo.ContentType.Should().Be("text/plain; charset=utf-8");
    }

    [Fact]
    public async Task Url_style_method_is_path_cleaned()
    {
        using var resp = await H.Http.GetAsync($"/v1.0/invoke/{H.AppId}/method/echo//double//slash");
        resp.StatusCode.Should().Be(HttpStatusCode.OK);
        ParseEcho(await resp.Content.ReadAsStringAsync()).Path.Should().Be("/echo/double/slash", "the method goes through path.Clean (daprd pkg/api/http/directmessaging.go)");
    }

    [Fact]
    public async Task Header_style_dapr_app_id_routes_any_unmatched_path_and_is_not_forwarded()
    {
        using var req = new HttpRequestMessage(HttpMethod.Post, "/echo/header-style?q=1") { Content = SidecarClients.Json("{\"a\":1}") };
        req.Headers.Add("dapr-app-id", H.AppId);
        using var resp = await H.Http.SendAsync(req);
        resp.StatusCode.Should().Be(HttpStatusCode.OK);
        var echo = ParseEcho(await resp.Content.ReadAsStringAsync());
        echo.Path.Should().Be("/echo/header-style");
        echo.Query.Should().Be("?q=1");
        echo.Method.Should().Be("POST");
        echo.Body.Should().Be("{\"a\":1}");
        echo.Headers.Should().NotContainKey("dapr-app-id");
    }

    [Fact]
    public async Task Basic_auth_style_routes_to_app()
    {
        using var req = new HttpRequestMessage(HttpMethod.Get, "/echo/basic-style");
        req.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"dapr-app-id:{H.AppId}")));
        using var resp = await H.Http.SendAsync(req);
        resp.StatusCode.Should().Be(HttpStatusCode.OK);
        ParseEcho(await resp.Content.ReadAsStringAsync()).Path.Should().Be("/echo/basic-style");
    }

    [Fact]
    public async Task Unknown_route_without_app_id_is_404_ERR_DIRECT_INVOKE()
    {
        using var resp = await H.Http.GetAsync("/v1.0/no-such-api");
        resp.StatusCode.Should().Be(HttpStatusCode.NotFound);
        var body = await ReadJson(resp);
        body["errorCode"]!.GetValue<string>().Should().Be("ERR_DIRECT_INVOKE");
        body["message"]!.GetValue<string>().Should().Be("failed getting app id either from the URL path or the header dapr-app-id");
    }

    [Fact]
    public async Task Get_on_shutdown_falls_back_to_invocation()
    {
        using var resp = await H.Http.GetAsync("/v1.0/shutdown");
        resp.StatusCode.Should().Be(HttpStatusCode.NotFound, "GET /v1.0/shutdown matches no route and falls into service invocation (daprd pkg/api/http/server.go)");
        (await ReadJson(resp))["errorCode"]!.GetValue<string>().Should().Be("ERR_DIRECT_INVOKE");
        H.Sidecar.ShutdownRequested.IsCompleted.Should().BeFalse();
    }

    [Fact]
    public async Task Unknown_target_app_is_500_ERR_DIRECT_INVOKE()
    {
        using var resp = await H.Http.GetAsync("/v1.0/invoke/no-such-app-xyz/method/echo/x");
        resp.StatusCode.Should().Be(HttpStatusCode.InternalServerError);
        var body = await ReadJson(resp);
        body["errorCode"]!.GetValue<string>().Should().Be("ERR_DIRECT_INVOKE");
        body["message"]!.GetValue<string>().Should().StartWith("failed to invoke, id: no-such-app-xyz");
    }

    [Theory]
    [InlineData(400)]
    [InlineData(404)]
    [InlineData(503)]
    public async Task App_error_status_headers_and_body_pass_through_unwrapped(int code)
    {
        using var resp = await H.Http.GetAsync($"/v1.0/invoke/{H.AppId}/method/status/{code}");
        ((int)resp.StatusCode).Should().Be(code);
        resp.Headers.TryGetValues("x-app-header", out var v).Should().BeTrue();
        v!.Single().Should().Be("from-app");
        resp.Content.Headers.ContentType!.ToString().Should().Be("text/plain; charset=utf-8");
        (await resp.Content.ReadAsStringAsync()).Should().Be($"app says {code}", "app errors are not wrapped in Dapr error JSON (daprd pkg/api/http/directmessaging.go)");
    }

    [Fact]
    public async Task App_404_for_unknown_app_route_passes_through_not_ERR_DIRECT_INVOKE()
    {
        using var resp = await H.Http.GetAsync($"/v1.0/invoke/{H.AppId}/method/definitely/not/mapped");
        resp.StatusCode.Should().Be(HttpStatusCode.NotFound);
        (await resp.Content.ReadAsStringAsync()).Should().NotContain("ERR_DIRECT_INVOKE");
    }

    private static HttpRequestMessage HopRequest(string uri)
    {
        var req = new HttpRequestMessage(HttpMethod.Get, uri);
        req.Headers.Add("x-normal", "kept");
        req.Headers.Add("x-listed-in-connection", "dropped");
        req.Headers.Connection.Add("x-listed-in-connection");
        req.Headers.TryAddWithoutValidation("Proxy-Authorization", "Basic Zm9vOmJhcg==");
        req.Headers.TryAddWithoutValidation("Keep-Alive", "timeout=5");
        return req;
    }

    [Fact]
    public async Task Hop_by_hop_headers_are_not_forwarded_but_others_are()
    {
        // Control: sent straight to the app, the same request does carry these headers (HttpClient sends them).
        using (var direct = new HttpClient())
        using (var directReq = HopRequest($"http://127.0.0.1:{H.AppPort}/echo/hop-direct"))
        {
            var control = ParseEcho(await (await direct.SendAsync(directReq)).Content.ReadAsStringAsync());
            control.Headers.Should().ContainKey("x-listed-in-connection");
            control.Headers.Should().ContainKey("connection").WhoseValue.Should().Contain("x-listed-in-connection");
            control.Headers.Should().ContainKey("proxy-authorization");
            control.Headers.Should().ContainKey("keep-alive");
        }
        using var req = HopRequest($"/v1.0/invoke/{H.AppId}/method/echo/hop");
        using var resp = await H.Http.SendAsync(req);
        resp.StatusCode.Should().Be(HttpStatusCode.OK);
        var echo = ParseEcho(await resp.Content.ReadAsStringAsync());
        echo.Headers.Should().ContainKey("x-normal").WhoseValue.Should().Be("kept");
        echo.Headers.Should().NotContainKey("x-listed-in-connection", "headers named in Connection are hop-by-hop (daprd pkg/messaging/v1/util.go)");
        echo.Headers.Should().NotContainKey("proxy-authorization");
        echo.Headers.Should().NotContainKey("keep-alive");
    }

    [Fact]
    public async Task Content_type_is_removed_when_caller_sent_none()
    {
        using var req = new HttpRequestMessage(HttpMethod.Post, $"/v1.0/invoke/{H.AppId}/method/echo/no-ct") { Content = new ByteArrayContent("abc"u8.ToArray()) };
        using var resp = await H.Http.SendAsync(req);
        var echo = ParseEcho(await resp.Content.ReadAsStringAsync());
        echo.Body.Should().Be("abc");
        echo.ContentType.Should().BeNull();
    }

    [Fact]
    public async Task Sidecar_adds_caller_callee_and_traceparent_headers_and_strips_spoofed_caller()
    {
        var caller = await H.StartPeerSidecarAsync("caller");
        using var http = SidecarClients.Http(caller);
        using var req = new HttpRequestMessage(HttpMethod.Get, $"/v1.0/invoke/{H.AppId}/method/echo/headers");
        req.Headers.Add("dapr-caller-app-id", "spoofed");
        using var resp = await http.SendAsync(req);
        resp.StatusCode.Should().Be(HttpStatusCode.OK);
        var echo = ParseEcho(await resp.Content.ReadAsStringAsync());
        echo.Headers.Should().ContainKey("dapr-caller-app-id").WhoseValue.Should().Be(caller.AppId);
        echo.Headers.Should().ContainKey("dapr-callee-app-id").WhoseValue.Should().Be(H.AppId);
        echo.Headers.Should().ContainKey("traceparent").WhoseValue.Should().MatchRegex("^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$");
    }

    [Fact]
    public async Task Invocation_through_a_peer_sidecar_reaches_the_target_app()
    {
        var caller = await H.StartPeerSidecarAsync("caller");
        using var dapr = SidecarClients.Dapr(caller);
        var echo = await dapr.InvokeMethodAsync<JsonObject>(HttpMethod.Get, H.AppId, "echo/via-peer");
        echo["path"]!.GetValue<string>().Should().Be("/echo/via-peer");
    }

    [Fact]
    public async Task Streaming_response_is_flushed_per_write()
    {
        var gate = Guid.NewGuid().ToString("N");
        using var req = new HttpRequestMessage(HttpMethod.Get, $"/v1.0/invoke/{H.AppId}/method/stream/{gate}");
        using var resp = await Wait.WithDeadline(H.Http.SendAsync(req, HttpCompletionOption.ResponseHeadersRead), "response headers of a streaming invocation");
        resp.StatusCode.Should().Be(HttpStatusCode.OK);
        await using var stream = await resp.Content.ReadAsStreamAsync();
        using var reader = new StreamReader(stream);
        // The app holds the second chunk until the test opens the gate: the first line can only arrive if the sidecar streams.
        var first = await Wait.WithDeadline(reader.ReadLineAsync(), "first chunk before the app finishes", TimeSpan.FromSeconds(10));
        first.Should().Be("first");
        H.RequireApp.OpenGate(gate);
        (await Wait.WithDeadline(reader.ReadLineAsync(), "second chunk")).Should().Be("second");
    }

    [Fact]
    public async Task App_uses_its_AddDaprClient_registered_client_against_the_sidecar()
    {
        var key = "from-app-" + Guid.NewGuid().ToString("N");
        using var resp = await H.Http.PostAsync($"/v1.0/invoke/{H.AppId}/method/use-client/save/{key}", new StringContent("payload", Encoding.UTF8, "text/plain"));
        resp.StatusCode.Should().Be(HttpStatusCode.OK);
        (await H.Dapr.GetStateAsync<string>(TestApp.Store, key)).Should().Be("payload");
    }

    [Fact]
    public async Task Forwarded_headers_and_caller_namespace_are_added()
    {
        var echo = ParseEcho(await H.Http.GetStringAsync($"/v1.0/invoke/{H.AppId}/method/echo/fwd"));
        echo.Headers.Should().ContainKey("x-forwarded-for");
        echo.Headers.Should().ContainKey("x-forwarded-host");
        echo.Headers.Should().ContainKey("forwarded").WhoseValue.Should().Contain("for=");
        echo.Headers.Should().ContainKey("dapr-caller-namespace").WhoseValue.Should().Be("default");
    }

    [Fact]
    public async Task Chunked_request_body_is_forwarded()
    {
        var payload = string.Concat(Enumerable.Repeat("chunk-", 2000));
        var content = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(payload)));
        content.Headers.ContentType = new MediaTypeHeaderValue("text/plain");
        using var req = new HttpRequestMessage(HttpMethod.Post, $"/v1.0/invoke/{H.AppId}/method/echo/chunked") { Content = content };
        req.Headers.TransferEncodingChunked = true;
        using var resp = await H.Http.SendAsync(req);
        resp.StatusCode.Should().Be(HttpStatusCode.OK);
        ParseEcho(await resp.Content.ReadAsStringAsync()).Body.Should().Be(payload);
    }

    [Fact]
    public async Task Header_style_to_unknown_app_is_500_ERR_DIRECT_INVOKE()
    {
        using var req = new HttpRequestMessage(HttpMethod.Get, "/some/path");
        req.Headers.Add("dapr-app-id", "no-such-app-abc");
        using var resp = await H.Http.SendAsync(req);
        resp.StatusCode.Should().Be(HttpStatusCode.InternalServerError);
        ((string)(await ReadJson(resp))["errorCode"]!).Should().Be("ERR_DIRECT_INVOKE");
    }
}
