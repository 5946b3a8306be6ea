using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace DevSidecar.Tests.Brokers;

/// <summary>One event as the app received it: the CloudEvent envelope, its data's marker and the request headers.</summary>
public sealed record DeliveredEvent(string Marker, JsonObject Envelope, IReadOnlyDictionary<string, string> Headers);

/// <summary>
/// A minimal subscriber app: GET /dapr/subscribe names the topics (pubsub "pubsub", route /events), POST /events
/// records the event and answers as <see cref="Behaviour"/> says (200 by default). Events carry {"marker": "..."}.
/// </summary>
public sealed class EventSinkApp : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<DeliveredEvent> _delivered = new();
    private readonly ConcurrentDictionary<string, int> _attempts = new();

    /// <summary>Decides the status of a delivery, given the marker and its attempt number (1-based).</summary>
    public Func<string, int, Task<int>> Behaviour { get; set; } = (_, _) => Task.FromResult(200);

    public int Port { get; private set; }
    public IReadOnlyList<DeliveredEvent> Delivered => [.. _delivered];
    public IReadOnlyList<DeliveredEvent> Handled => [.. _handled];
    private readonly ConcurrentQueue<DeliveredEvent> _handled = new();

    public int Attempts(string marker) => _attempts.TryGetValue(marker, out var n) ? n : 0;
    public bool HasHandled(string marker) => _handled.Any(e => e.Marker == marker);

    private EventSinkApp(IReadOnlyList<string> topics, int port)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, port));
        _app = builder.Build();
        var subscriptions = new JsonArray([.. topics.Select(t => (JsonNode)new JsonObject { ["pubsubname"] = "pubsub", ["topic"] = t, ["route"] = "events" })]);
        _app.MapGet("/dapr/subscribe", () => Results.Text(subscriptions.ToJsonString(), "application/json"));
        _app.MapPost("/events", async (HttpContext ctx) =>
        {
            var envelope = (await JsonNode.ParseAsync(ctx.Request.Body))!.AsObject();
            var marker = (string)envelope["data"]!["marker"]!;
            var delivered = new DeliveredEvent(marker, envelope, ctx.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase));
            _delivered.Enqueue(delivered);
            var status = await Behaviour(marker, _attempts.AddOrUpdate(marker, 1, (_, n) => n + 1));
            if (status is >= 200 and < 300) _handled.Enqueue(delivered);
            return Results.StatusCode(status);
        });
    }

    public static async Task<EventSinkApp> StartAsync(params string[] topics) => await StartOnAsync(0, topics);

    public static async Task<EventSinkApp> StartOnAsync(int port, params string[] topics)
    {
        var app = new EventSinkApp(topics, port);
        await app._app.StartAsync();
        app.Port = new Uri(app._app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port;
        return app;
    }

    /// <summary>Stops at once, cutting requests in flight: the app "crashes".</summary>
    public async ValueTask DisposeAsync()
    {
        using (var now = new CancellationTokenSource(TimeSpan.FromMilliseconds(100))) await _app.StopAsync(now.Token);
        await _app.DisposeAsync();
    }
}
