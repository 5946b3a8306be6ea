// A tiny Dapr app for the runner tests. It learns everything from the environment the runner gives it,
// as an app started by `dapr run` does: APP_ID, APP_PORT and DAPR_HTTP_PORT.
using Dapr.Client;

var appId = Environment.GetEnvironmentVariable("APP_ID") ?? "ping";
var appPort = Environment.GetEnvironmentVariable("APP_PORT") ?? "5000";
Console.WriteLine($"PingApp '{appId}' starting, pid {Environment.ProcessId}");

// Holds the start (before the app port opens) until a file exists: lets a test see what starts while this app is not up.
if (Environment.GetEnvironmentVariable("HOLD_START_UNTIL_FILE") is { Length: > 0 } gate)
{
    Console.WriteLine($"PingApp '{appId}' holding its start until {gate} exists");
    while (!File.Exists(gate)) await Task.Delay(50);
}

var builder = WebApplication.CreateBuilder(args);
builder.WebHost.UseUrls($"http://127.0.0.1:{appPort}");
// Keep the runner's console readable: no per-request lines.
builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
var app = builder.Build();

app.MapGet("/ping", () => appId);

// On SIGTERM, says whether its own sidecar still answers: with the Dapr CLI it has been killed already.
app.Lifetime.ApplicationStopping.Register(() =>
{
    using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
    try
    {
        using var health = http.GetAsync($"http://127.0.0.1:{Environment.GetEnvironmentVariable("DAPR_HTTP_PORT")}/v1.0/healthz/outbound").GetAwaiter().GetResult();
        Console.WriteLine($"PingApp '{appId}' stopping; its sidecar answered {(int)health.StatusCode}");
    }
    catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
    {
        Console.WriteLine($"PingApp '{appId}' stopping; its sidecar is unreachable");
    }
});
app.Lifetime.ApplicationStopped.Register(() => Console.WriteLine($"PingApp '{appId}' stopped"));

// Service invocation through this app's own sidecar, the way the official SDK does it.
app.MapGet("/call/{targetAppId}", async (string targetAppId) =>
{
    using var client = DaprClient.CreateInvokeHttpClient(targetAppId);
    return await client.GetStringAsync("/ping");
});

if (Environment.GetEnvironmentVariable("CRASH_AFTER_START") == "1")
{
    await app.StartAsync();
    Console.WriteLine($"PingApp '{appId}' crashing on purpose");
    await app.StopAsync();
    await app.DisposeAsync();
    return 3;
}

await app.RunAsync();
return 0;
