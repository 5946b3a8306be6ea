// A tiny Dapr app for the runner tests. It learns everything from the environment the runner gives it,
// as an app started by `dapr run` does: APP_ID, APP_PORT and DAPR_HTTP_PORT.
using Dapr.Client;

var appId = Environment.GetEnvironmentVariable("APP_ID") ?? "ping";
var appPort = Environment.GetEnvironmentVariable("APP_PORT") ?? "5000";
Console.WriteLine($"PingApp '{appId}' starting, pid {Environment.ProcessId}");

var builder = WebApplication.CreateBuilder(args);
builder.WebHost.UseUrls($"http://127.0.0.1:{appPort}");
// Keep the runner's console readable: no per-request lines.
builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
var app = builder.Build();

app.MapGet("/ping", () => appId);

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
