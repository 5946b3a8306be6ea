using System.Collections.Concurrent;
using System.Net;
using System.Text.Json.Nodes;
using DevSidecar.Tests.Conformance.Harness;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace DevSidecar.Tests.Brokers;

/// <summary>One event as the app received it: the CloudEvent envelope, the marker in its data, the request headers.</summary>
public sealed record ReceivedEvent(string Id, string Marker, JsonObject Envelope, IReadOnlyDictionary<string, string> Headers);

/// <summary>
/// A minimal subscriber app: subscribes to one topic of component <c>pubsub</c> (route /events) and records every
/// delivery. An event whose data.marker is <see cref="BlockOn"/> is held (the handler blocks) until the app is disposed,
/// to play an app that is busy when its sidecar goes away.
/// </summary>
public sealed class SubscriberApp : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<ReceivedEvent> _received = new();
    private readonly CancellationTokenSource _stopping = new();

    public int Port { get; } = TestApp.FreePort();
    public string? BlockOn { get; set; }
    public IReadOnlyList<ReceivedEvent> Received => [.. _received];

    private SubscriberApp(string topic)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, Port));
        _app = builder.Build();
        _app.MapGet("/dapr/subscribe", () => Results.Text($$"""[{"pubsubname":"pubsub","topic":"{{topic}}","route":"events"}]""", "application/json"));
        _app.MapPost("/events", async (HttpContext context) =>
        {
            var envelope = (await JsonNode.ParseAsync(context.Request.Body))!.AsObject();
            var marker = (string?)envelope["data"]?["marker"] ?? "";
            var headers = context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase);
            _received.Enqueue(new ReceivedEvent((string)envelope["id"]!, marker, envelope, headers));
            if (marker == BlockOn)
            {
                try { await Task.Delay(Timeout.Infinite, _stopping.Token); } catch (OperationCanceledException) { }
            }
            return Results.Ok();
        });
    }

    public static async Task<SubscriberApp> StartAsync(string topic)
    {
        var app = new SubscriberApp(topic);
        await app._app.StartAsync();
        return app;
    }

    public IReadOnlyList<ReceivedEvent> With(string marker) => Received.Where(e => e.Marker == marker).ToList();

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        await _app.StopAsync(deadline.Token);
        await _app.DisposeAsync();
    }
}
