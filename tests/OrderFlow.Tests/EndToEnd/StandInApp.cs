using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace OrderFlow.Tests.EndToEnd;

/// <summary>
/// A subscriber forced to fail: it takes a killed app's port and answers every delivery with one status, counting the
/// attempts per order (the CloudEvent's data.order.orderId). Disposing it gives the port back to the real app.
/// </summary>
public sealed class StandInApp : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Func<Task> _restoreRealApp;
    private readonly ConcurrentDictionary<string, int> _attempts = new();

    private StandInApp(WebApplication app, Func<Task> restoreRealApp)
    {
        _app = app;
        _restoreRealApp = restoreRealApp;
    }

    public static async Task<StandInApp> StartAsync(int port, int status, Func<Task> restoreRealApp)
    {
        var app = LoopbackApp.Create(port);
        var standIn = new StandInApp(app, restoreRealApp);
        app.Run(async context =>
        {
            using var body = await JsonDocument.ParseAsync(context.Request.Body);
            if (body.RootElement.TryGetProperty("data", out var data) && data.TryGetProperty("order", out var order)
                && order.TryGetProperty("orderId", out var id) && id.GetString() is { } orderId)
                standIn._attempts.AddOrUpdate(orderId, 1, (_, n) => n + 1);
            context.Response.StatusCode = status;
        });
        await app.StartAsync();
        return standIn;
    }

    public int Attempts(string orderId) => _attempts.GetValueOrDefault(orderId);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        await _restoreRealApp();
    }
}
