using System.Net;
using System.Text;
using DevSidecar.Hosting;
using DevSidecar.Tests.Conformance.Harness;

namespace DevSidecar.Tests.Brokers;

/// <summary>
/// A temp resources folder holding one broker pub/sub component named "pubsub" (plus an in-memory state store) and
/// the sidecars started on it: any app ids, any number of instances. Deliveries are attempted once by the sidecar
/// (DeliveryMaxRetries 0), so a failure goes straight back to the broker. Sidecar logs are kept for assertions.
/// </summary>
public sealed class MqRun : IAsyncDisposable
{
    private readonly List<IAsyncDisposable> _owned = [];
    private readonly string _scope = Harness.NewAppId("mq");
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(30) };

    public string Root { get; }
    public CapturedLogs Logs { get; } = new();

    public MqRun(string pubsubYaml)
    {
        Root = Path.Combine(Path.GetTempPath(), "devsidecar-mq", _scope);
        Directory.CreateDirectory(Path.Combine(Root, "resources"));
        Directory.CreateDirectory(Path.Combine(Root, "registry"));
        File.WriteAllText(Path.Combine(Root, "resources", "pubsub.yaml"), pubsubYaml);
        File.WriteAllText(Path.Combine(Root, "resources", "statestore.yaml"), """
            apiVersion: dapr.io/v1alpha1
            kind: Component
            metadata:
              name: statestore
            spec:
              type: state.in-memory
              version: v1
              metadata: []
            """);
    }

    public static string Topic() => $"t-{Guid.NewGuid():N}"[..14];

    /// <summary>A sidecar for the app; it returns once the APIs are up (the broker may still be unreachable).</summary>
    public async Task<Sidecar> StartSidecarAsync(string appId, EventSinkApp app)
    {
        var options = Harness.SidecarOptionsFor(appId, app.Port, Root, new HarnessOptions { DeliveryMaxRetries = 0 }, _scope);
        var sidecar = await Sidecar.StartAsync(options, Logs.Factory);
        lock (_owned) _owned.Add(sidecar);
        return sidecar;
    }

    /// <summary>An app subscribed to <paramref name="topics"/> and its sidecar, ready (subscriptions started).</summary>
    public async Task<(EventSinkApp App, Sidecar Sidecar)> StartInstanceAsync(string appId, params string[] topics)
    {
        var app = await EventSinkApp.StartAsync(topics);
        lock (_owned) _owned.Add(app);
        var sidecar = await StartSidecarAsync(appId, app);
        await Wait.WithDeadline(sidecar.Ready, $"sidecar of {appId} ready");
        return (app, sidecar);
    }

    /// <summary>Publishes {"marker": marker} through the sidecar's HTTP API; returns the status.</summary>
    public async Task<HttpStatusCode> PublishAsync(Sidecar sidecar, string topic, string marker)
    {
        using var content = new StringContent($$"""{"marker":"{{marker}}"}""", Encoding.UTF8, "application/json");
        using var response = await _http.PostAsync($"http://127.0.0.1:{sidecar.HttpPort}/v1.0/publish/pubsub/{topic}", content);
        return response.StatusCode;
    }

    public async Task PublishOkAsync(Sidecar sidecar, string topic, string marker) =>
        (await PublishAsync(sidecar, topic, marker)).Should().Be(HttpStatusCode.NoContent, $"publishing {marker} to {topic}");

    /// <summary>Until the broker is reachable a publish fails; this retries it until it succeeds.</summary>
    public Task PublishWhenBrokerUpAsync(Sidecar sidecar, string topic, string marker) =>
        Wait.UntilAsync(async () => await PublishAsync(sidecar, topic, marker) == HttpStatusCode.NoContent,
            $"publishing {marker} once the broker is reachable", TimeSpan.FromSeconds(60));

    public async ValueTask DisposeAsync()
    {
        IAsyncDisposable[] owned;
        lock (_owned) owned = [.. _owned];
        // Sidecars first (they stop delivering), then the apps.
        foreach (var item in owned.OfType<Sidecar>().Cast<IAsyncDisposable>().Concat(owned.OfType<EventSinkApp>()))
        {
            try { await item.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(15)); } catch { /* teardown must not mask the result */ }
        }
        _http.Dispose();
        try { Directory.Delete(Root, recursive: true); } catch { /* best effort */ }
    }
}
