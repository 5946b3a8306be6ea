using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using DevSidecar.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace DevSidecar.Tests.Conformance;

/// <summary>
/// App health checks (daprd, dapr/dapr@d8450742 pkg/channel/http/http_channel.go HealthProbe,
/// pkg/config/app_connection.go and pkg/runtime/runtime.go appHealthChanged): after the threshold of failed probes the app
/// is unhealthy; its subscriptions stop and invoking it fails with "app is not in a healthy state"; once a probe succeeds
/// both come back.
/// </summary>
public sealed class AppHealthTests : IAsyncLifetime
{
    private readonly Cluster _cluster = new(new ClusterOptions
    {
        ResourceFiles = new Dictionary<string, string> { ["pubsub.yaml"] = ComponentYaml.Of("pubsub", "pubsub.in-memory") },
        ConsoleLogLevel = Microsoft.Extensions.Logging.LogLevel.None,
    });
    private volatile bool _healthy = true;
    private int _delivered;
    private Sidecar _sidecar = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        var app = LoopbackApp.Create();
        app.MapGet("/healthz", () => _healthy ? Results.Ok() : Results.StatusCode(503));
        app.MapGet("/hello", () => "hello");
        app.MapGet("/dapr/subscribe", () => Results.Text("[{\"pubsubname\":\"pubsub\",\"topic\":\"pings\",\"route\":\"pings\"}]"));
        app.MapPost("/pings", () => { Interlocked.Increment(ref _delivered); return Results.Ok(); });
        await _cluster.Own(app).StartAsync();

        _sidecar = await _cluster.StartSidecarAsync(Harness.Harness.NewAppId("health"), app.BoundPort(), o => o with
        {
            EnableAppHealthCheck = true,
            AppHealthProbeInterval = TimeSpan.FromMilliseconds(50),
            AppHealthThreshold = 2,
        });
        await _sidecar.Ready.WaitAsync(TimeSpan.FromSeconds(10));
        _http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{_sidecar.HttpPort}/v1.0/") };
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _cluster.DisposeAsync();
    }

    [Fact]
    public async Task An_unhealthy_app_gets_no_calls_and_no_events_until_it_recovers()
    {
        (await _http.GetAsync($"invoke/{_sidecar.AppId}/method/hello")).StatusCode.Should().Be(HttpStatusCode.OK);

        _healthy = false;
        HttpResponseMessage refused = null!;
        await Wait.UntilAsync(async () => (refused = await _http.GetAsync($"invoke/{_sidecar.AppId}/method/hello")).StatusCode == HttpStatusCode.InternalServerError,
            "invocation to be refused");
        var error = await refused.Content.ReadFromJsonAsync<JsonElement>();
        error.GetProperty("errorCode").GetString().Should().Be("ERR_DIRECT_INVOKE");
        error.GetProperty("message").GetString().Should().EndWith("app is not in a healthy state");
        (await SubscriptionCountAsync()).Should().Be(0);

        _healthy = true;
        await Wait.UntilAsync(async () => (await _http.GetAsync($"invoke/{_sidecar.AppId}/method/hello")).StatusCode == HttpStatusCode.OK, "invocation to work again");
        await Wait.UntilAsync(async () => await SubscriptionCountAsync() == 1, "the subscription to restart");
        (await _http.PostAsJsonAsync("publish/pubsub/pings", new { n = 1 })).StatusCode.Should().Be(HttpStatusCode.NoContent);
        await Wait.UntilAsync(() => Volatile.Read(ref _delivered) == 1, "the event after recovery");
    }

    private async Task<int> SubscriptionCountAsync()
    {
        var metadata = await _http.GetFromJsonAsync<JsonElement>("metadata");
        return metadata.TryGetProperty("subscriptions", out var subscriptions) ? subscriptions.GetArrayLength() : 0;
    }
}
