using System.Collections.Concurrent;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace TestHosting;

/// <summary>
/// A stand-in OpenTelemetry collector: OTLP/HTTP (protobuf) on 127.0.0.1, keeping each request's body by path
/// (<c>/v1/traces</c>, <c>/v1/metrics</c>, <c>/v1/logs</c>). Tests look for names in the bodies: protobuf writes strings
/// as their UTF-8 bytes, so a service name or a metric name can be found without decoding.
/// </summary>
public sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly WebApplication _app = LoopbackApp.Create();
    private readonly ConcurrentQueue<(string Path, byte[] Body)> _received = new();

    private OtlpReceiver() =>
        _app.MapPost("/v1/{signal}", async (HttpRequest request) =>
        {
            using var body = new MemoryStream();
            await request.Body.CopyToAsync(body);
            _received.Enqueue((request.Path.Value!, body.ToArray()));
            // An empty ExportTraceServiceResponse (and the same for the other signals) is an empty message.
            return Results.Bytes([], "application/x-protobuf");
        });

    public static async Task<OtlpReceiver> StartAsync()
    {
        var receiver = new OtlpReceiver();
        await receiver._app.StartAsync();
        return receiver;
    }

    /// <summary>The base address the exporters are given (they add <c>/v1/traces</c> and so on themselves).</summary>
    public string Endpoint => $"http://127.0.0.1:{_app.BoundPort()}";

    /// <summary>Whether a request to <paramref name="path"/> (e.g. <c>/v1/traces</c>) has carried every one of <paramref name="names"/>.</summary>
    public bool Received(string path, params string[] names)
    {
        var bodies = _received.Where(r => r.Path == path).Select(r => r.Body).ToList();
        return names.All(name => bodies.Any(body => body.AsSpan().IndexOf(Encoding.UTF8.GetBytes(name)) >= 0));
    }

    public ValueTask DisposeAsync() => _app.DisposeAsync();
}
