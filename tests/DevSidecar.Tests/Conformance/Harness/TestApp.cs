using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Dapr;
using Dapr.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace DevSidecar.Tests.Conformance.Harness;

/// <summary>One request the test app received. <see cref="RawBody"/> is the body as the sidecar sent it
/// (before Dapr.AspNetCore's UseCloudEvents unwrapped it); <see cref="Body"/> is what the endpoint saw.</summary>
public sealed record Received(
    string Method,
    string Path,
    string Query,
    IReadOnlyDictionary<string, string> Headers,
    string? RawContentType,
    string RawBody,
    string Body)
{
    public string? Header(string name) => Headers.TryGetValue(name, out var v) ? v : null;
    public JsonObject Envelope => JsonNode.Parse(RawBody)!.AsObject();
}

/// <summary>Endpoints the sidecar reaches through the app channel. Published to lazily once the sidecar is up,
/// so the app's own DaprClient (registered with AddDaprClient) can talk to it.</summary>
public sealed class SidecarEndpoints
{
    public int HttpPort { get; set; }
    public int GrpcPort { get; set; }
}

/// <summary>
/// The in-process app under test: an ASP.NET Core app built the way Dapr apps are built
/// (AddDaprClient, UseCloudEvents, MapSubscribeHandler, WithTopic), with recording, echo, status,
/// streaming and behaviour-on-demand endpoints.
/// </summary>
public sealed class TestApp : IAsyncDisposable
{
    public const string PubSub = "pubsub";
    public const string Store = "statestore";

    private readonly WebApplication _app;
    private readonly ConcurrentQueue<Received> _received = new();
    private readonly ConcurrentDictionary<string, int> _attempts = new();
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _gates = new();

    public SidecarEndpoints Sidecar { get; } = new();
    public int Port { get; private set; }
    public int SubscribeCalls;
    private readonly ConcurrentQueue<(string Path, IReadOnlyDictionary<string, string> Headers)> _daprCalls = new();
    /// <summary>Calls the sidecar made to /dapr/* (config, subscribe), in order.</summary>
    public IReadOnlyList<(string Path, IReadOnlyDictionary<string, string> Headers)> DaprCalls => _daprCalls.ToList();
    public IReadOnlyDictionary<string, string>? SubscribeRequestHeaders { get; private set; }

    public IEnumerable<Received> Received => _received;

    public IReadOnlyList<Received> At(string path, string? marker = null) =>
        _received.Where(r => r.Path == path && (marker is null || r.RawBody.Contains(marker, StringComparison.Ordinal) || r.Body.Contains(marker, StringComparison.Ordinal))).ToList();

    public int Attempts(string marker) => _attempts.TryGetValue(marker, out var n) ? n : 0;

    public void OpenGate(string gate) => _gates.GetOrAdd(gate, _ => new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    /// <summary>How the app answers GET /dapr/subscribe: null = Dapr.AspNetCore's MapSubscribeHandler; otherwise this status
    /// and raw body (no Content-Type), to exercise the sidecar's parsing (daprd pkg/runtime/pubsub/subscriptions.go).</summary>
    public sealed record SubscribeOverride(int Status, string Body);

    private readonly SubscribeOverride? _subscribe;

    private TestApp(int port, SubscribeOverride? subscribe)
    {
        _subscribe = subscribe;
        Port = port;
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Production", ApplicationName = typeof(TestApp).Assembly.GetName().Name });
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, port));
        builder.Services.AddSingleton(Sidecar);
        builder.Services.AddDaprClient((sp, b) =>
        {
            var ep = sp.GetRequiredService<SidecarEndpoints>();
            b.UseHttpEndpoint($"http://127.0.0.1:{ep.HttpPort}").UseGrpcEndpoint($"http://127.0.0.1:{ep.GrpcPort}");
        });
        _app = builder.Build();
        Configure(_app);
    }

    /// <summary>Starts the app on <paramref name="port"/> (0 = any free port).</summary>
    public static async Task<TestApp> StartAsync(int port = 0, SubscribeOverride? subscribe = null)
    {
        var app = new TestApp(port, subscribe);
        await app._app.StartAsync();
        app.Port = app._app.BoundPort();
        return app;
    }

    /// <summary>Points the app's own DaprClient at its sidecar, once that is up.</summary>
    public void UseSidecar(DevSidecar.Hosting.Sidecar sidecar)
    {
        Sidecar.HttpPort = sidecar.HttpPort;
        Sidecar.GrpcPort = sidecar.GrpcPort;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var gate in _gates.Values) gate.TrySetResult();
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2))) await _app.StopAsync(cts.Token);
        await _app.DisposeAsync();
    }

    private void Configure(WebApplication app)
    {
        app.Use(async (ctx, next) =>
        {
            if (ctx.Request.Path.StartsWithSegments("/dapr"))
                _daprCalls.Enqueue((ctx.Request.Path.Value!, Snapshot(ctx.Request.Headers)));
            if (ctx.Request.Path.StartsWithSegments("/dapr/subscribe"))
            {
                Interlocked.Increment(ref SubscribeCalls);
                SubscribeRequestHeaders = Snapshot(ctx.Request.Headers);
                await next();
                return;
            }
            ctx.Request.EnableBuffering();
            using (var reader = new StreamReader(ctx.Request.Body, Encoding.UTF8, false, 1024, leaveOpen: true))
                ctx.Items["raw"] = await reader.ReadToEndAsync();
            ctx.Request.Body.Position = 0;
            ctx.Items["rawHeaders"] = Snapshot(ctx.Request.Headers);
            ctx.Items["rawContentType"] = ctx.Request.ContentType;
            await next();
        });
        app.UseCloudEvents();
        if (_subscribe is null) app.MapSubscribeHandler();
        else app.MapGet("/dapr/subscribe", async ctx =>
        {
            ctx.Response.StatusCode = _subscribe.Status;
            await ctx.Response.WriteAsync(_subscribe.Body);
        });

        // --- pub/sub sinks (programmatic subscriptions) ---
        app.MapPost("/orders", Record).WithTopic(PubSub, "orders");
        app.MapPost("/raw", Record).WithTopic(PubSub, "raw", enableRawPayload: true);
        app.MapPost("/routed/x", Record).WithTopic(new TopicOptions { PubsubName = PubSub, Name = "routed", Match = "event.type == \"x\"", Priority = 1 });
        app.MapPost("/routed/xy", Record).WithTopic(new TopicOptions { PubsubName = PubSub, Name = "routed", Match = "event.type == \"x\" || event.type == \"y\"", Priority = 2 });
        app.MapPost("/routed/default", Record).WithTopic(PubSub, "routed");
        app.MapPost("/behave", Behave).WithTopic(new TopicOptions { PubsubName = PubSub, Name = "behave", DeadLetterTopic = "behave-dlq" });
        app.MapPost("/behave-nodlq", Behave).WithTopic(PubSub, "behave-nodlq");
        app.MapPost("/behave-dlq", Record).WithTopic(PubSub, "behave-dlq");
        // targets of declarative subscriptions (no WithTopic)
        app.MapPost("/decl/{**rest}", Record);

        // --- service invocation targets ---
        app.Map("/echo/{**rest}", Echo);
        app.Map("/status/{code:int}", async (HttpContext ctx, int code) =>
        {
            await RecordAsync(ctx);
            ctx.Response.StatusCode = code;
            ctx.Response.Headers["x-app-header"] = "from-app";
            ctx.Response.ContentType = "text/plain; charset=utf-8";
            await ctx.Response.WriteAsync($"app says {code}");
        });
        app.MapGet("/stream/{gate}", async (HttpContext ctx, string gate) =>
        {
            ctx.Response.ContentType = "text/plain";
            await ctx.Response.WriteAsync("first\n");
            await ctx.Response.Body.FlushAsync();
            var tcs = _gates.GetOrAdd(gate, _ => new(TaskCreationOptions.RunContinuationsAsynchronously));
            await Task.WhenAny(tcs.Task, Task.Delay(TimeSpan.FromSeconds(30)));
            await ctx.Response.WriteAsync("second\n");
        });
        // the app using its own DaprClient (from AddDaprClient) against the sidecar
        app.MapPost("/use-client/save/{key}", async (HttpContext ctx, string key, DaprClient dapr) =>
        {
            await RecordAsync(ctx);
            await dapr.SaveStateAsync(Store, key, (string)ctx.Items["raw"]!);
            return Results.Ok();
        });
    }

    private static Dictionary<string, string> Snapshot(IHeaderDictionary headers) =>
        headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase);

    private async Task Record(HttpContext ctx) => await RecordAsync(ctx);

    private async Task<Received> RecordAsync(HttpContext ctx)
    {
        if (ctx.Request.Body.CanSeek) ctx.Request.Body.Position = 0;
        string body;
        using (var reader = new StreamReader(ctx.Request.Body, Encoding.UTF8, false, 1024, leaveOpen: true))
            body = await reader.ReadToEndAsync();
        var received = new Received(
            ctx.Request.Method,
            ctx.Request.Path.Value ?? "",
            ctx.Request.QueryString.Value ?? "",
            (IReadOnlyDictionary<string, string>)ctx.Items["rawHeaders"]!,
            (string?)ctx.Items["rawContentType"],
            (string)ctx.Items["raw"]!,
            body);
        _received.Enqueue(received);
        return received;
    }

    private async Task Echo(HttpContext ctx)
    {
        var r = await RecordAsync(ctx);
        var result = new JsonObject
        {
            ["method"] = r.Method,
            ["path"] = r.Path,
            ["query"] = r.Query,
            ["contentType"] = r.RawContentType,
            ["body"] = r.RawBody,
            ["headers"] = new JsonObject(r.Headers.Select(h => KeyValuePair.Create(h.Key.ToLowerInvariant(), (JsonNode?)JsonValue.Create(h.Value)))),
        };
        ctx.Response.ContentType = "application/json";
        await ctx.Response.WriteAsync(result.ToJsonString());
    }

    /// <summary>
    /// Answers a delivery as the event data asks: {"marker","mode","failTimes"}. The first failTimes attempts
    /// (all of them when failTimes is -1 or absent) are answered with mode; later ones with 200 and an empty body.
    /// </summary>
    private async Task Behave(HttpContext ctx)
    {
        var r = await RecordAsync(ctx);
        var data = JsonNode.Parse(r.Body)!.AsObject();
        var marker = (string)data["marker"]!;
        var mode = (string)data["mode"]!;
        var failTimes = data["failTimes"] is { } ft ? (int)ft : -1;
        var attempt = _attempts.AddOrUpdate(marker, 1, (_, n) => n + 1);
        if (failTimes >= 0 && attempt > failTimes)
        {
            ctx.Response.StatusCode = 200;
            return;
        }
        switch (mode)
        {
            case "404": ctx.Response.StatusCode = 404; break;
            case "500": ctx.Response.StatusCode = 500; break;
            case "empty": ctx.Response.StatusCode = 200; break;
            case "text": ctx.Response.StatusCode = 200; ctx.Response.ContentType = "text/plain"; await ctx.Response.WriteAsync("fine"); break;
            default: // a status value: RETRY, DROP, SUCCESS, success, ...
                ctx.Response.StatusCode = 200;
                ctx.Response.ContentType = "application/json";
                await ctx.Response.WriteAsync(JsonSerializer.Serialize(new { status = mode }));
                break;
        }
    }
}
