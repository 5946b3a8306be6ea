using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace TestHosting;

/// <summary>One event as the app received it: the CloudEvent's id, its data's marker, the envelope and the request headers.</summary>
public sealed record DeliveredEvent(string Id, string Marker, JsonObject Envelope, IReadOnlyDictionary<string, string> Headers);

/// <summary>
/// A minimal subscriber app: GET /dapr/subscribe names the topics (pubsub <c>pubsub</c>, route /events); POST /events
/// records the event and answers as <see cref="Behaviour"/> says (200 by default). Events carry <c>{"marker": "..."}</c>.
/// </summary>
public sealed class EventSinkApp : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<DeliveredEvent> _delivered = new();
    private readonly ConcurrentQueue<DeliveredEvent> _handled = new();
    private readonly ConcurrentDictionary<string, int> _attempts = new();
    private readonly CancellationTokenSource _stopping = new();
    private int _disposed;

    /// <summary>Decides the status of a delivery, given the marker and its attempt number (1-based).</summary>
    public Func<string, int, Task<int>> Behaviour { get; set; } = (_, _) => Task.FromResult(200);

    public int Port { get; private set; }

    /// <summary>Every delivery, in arrival order.</summary>
    public IReadOnlyList<DeliveredEvent> Delivered => [.. _delivered];

    /// <summary>The deliveries answered with a 2xx.</summary>
    public IReadOnlyList<DeliveredEvent> Handled => [.. _handled];

    public int Attempts(string marker) => _attempts.TryGetValue(marker, out var n) ? n : 0;
    public bool HasHandled(string marker) => _handled.Any(e => e.Marker == marker);
    public IReadOnlyList<DeliveredEvent> With(string marker) => [.. _delivered.Where(e => e.Marker == marker)];

    /// <summary>Holds the delivery of <paramref name="marker"/> (the handler does not answer) until the app is disposed:
    /// an app busy with an event when its sidecar goes away.</summary>
    public void HoldUntilDisposed(string marker)
    {
        var other = Behaviour;
        Behaviour = async (m, attempt) =>
        {
            if (m != marker) return await other(m, attempt);
            try { await Task.Delay(Timeout.Infinite, _stopping.Token); } catch (OperationCanceledException) { }
            return 200;
        };
    }

    private EventSinkApp(IReadOnlyList<string> topics)
    {
        _app = LoopbackApp.Create();
        var subscriptions = new JsonArray([.. topics.Select(t => (JsonNode)new JsonObject { ["pubsubname"] = "pubsub", ["topic"] = t, ["route"] = "events" })]);
        _app.MapGet("/dapr/subscribe", () => Results.Text(subscriptions.ToJsonString(), "application/json"));
        _app.MapPost("/events", async (HttpContext ctx) =>
        {
            var envelope = (await JsonNode.ParseAsync(ctx.Request.Body))!.AsObject();
            var marker = envelope["data"] is JsonObject data ? (string?)data["marker"] ?? "" : ""; // text data (e.g. outbox events) has none
            var delivered = new DeliveredEvent((string)envelope["id"]!, marker, envelope,
                ctx.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase));
            _delivered.Enqueue(delivered);
            var status = await Behaviour(marker, _attempts.AddOrUpdate(marker, 1, (_, n) => n + 1));
            if (status is >= 200 and < 300) _handled.Enqueue(delivered);
            return Results.StatusCode(status);
        });
    }

    /// <summary>Starts the app on a port the OS picks, subscribed to <paramref name="topics"/>.</summary>
    public static async Task<EventSinkApp> StartAsync(params string[] topics)
    {
        var app = new EventSinkApp(topics);
        await app._app.StartAsync();
        app.Port = app._app.BoundPort();
        return app;
    }

    /// <summary>Stops at once, cutting requests in flight: the app "crashes". Held deliveries are let go first.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        await _stopping.CancelAsync();
        using (var now = new CancellationTokenSource(TimeSpan.FromMilliseconds(100))) await _app.StopAsync(now.Token);
        await _app.DisposeAsync();
        _stopping.Dispose();
    }
}
