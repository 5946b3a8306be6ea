using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using DevSidecar.Hosting;
using DevSidecar.Tests.Conformance.Harness;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace DevSidecar.Tests.Conformance;

/// <summary>
/// App health checks (contract §2.5, §2.1 step 7): after the threshold of failed probes the app is unhealthy; its
/// subscriptions stop and invoking it fails with "app is not in a healthy state"; once a probe succeeds both come back.
/// </summary>
public sealed class AppHealthTests : IAsyncLifetime
{
    private readonly string _root = Directory.CreateTempSubdirectory("app-health-").FullName;
    private volatile bool _healthy = true;
    private int _delivered;
    private WebApplication _app = null!;
    private Sidecar _sidecar = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        var resources = Directory.CreateDirectory(Path.Combine(_root, "resources")).FullName;
        await File.WriteAllTextAsync(Path.Combine(resources, "pubsub.yaml"),
            "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: pubsub\nspec:\n  type: pubsub.in-memory\n  version: v1\n  metadata: []\n");
        var appPort = TestApp.FreePort();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{appPort}");
        _app = builder.Build();
        _app.MapGet("/healthz", () => _healthy ? Results.Ok() : Results.StatusCode(503));
        _app.MapGet("/hello", () => "hello");
        _app.MapGet("/dapr/subscribe", () => Results.Text("[{\"pubsubname\":\"pubsub\",\"topic\":\"pings\",\"route\":\"pings\"}]"));
        _app.MapPost("/pings", () => { Interlocked.Increment(ref _delivered); return Results.Ok(); });
        await _app.StartAsync();

        var appId = Harness.Harness.NewAppId("health");
        _sidecar = await Sidecar.StartAsync(new SidecarOptions
        {
            AppId = appId,
            AppPort = appPort,
            ResourcesPaths = [resources],
            RegistryDirectory = Path.Combine(_root, "registry"),
            InMemoryScope = appId,
            EnableAppHealthCheck = true,
            AppHealthProbeInterval = TimeSpan.FromMilliseconds(50),
            AppHealthThreshold = 2,
        }, Harness.Harness.LoggerFactory);
        await _sidecar.Ready.WaitAsync(TimeSpan.FromSeconds(10));
        _http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{_sidecar.HttpPort}/v1.0/") };
    }

    public async Task DisposeAsync()
    {
        await _sidecar.StopAsync();
        await _app.DisposeAsync();
        Directory.Delete(_root, recursive: true);
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
