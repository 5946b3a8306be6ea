using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using TestHosting;

namespace OrderFlow.Bench;

public sealed record InvocationCase(string Name, LatencyStats Latency, double SendLagP99Ms, string? FirstError);

public sealed record StreamCase(string Name, LatencyStats FirstChunk, LatencyStats LastChunk, string? FirstError);

public sealed record InvocationResult(
    int Rate, int Connections, int PayloadBytes, double SecondsPerCase,
    InvocationCase Direct, InvocationCase Sidecars,
    double AddedP50Ms, double AddedP90Ms, double AddedP99Ms, double RatioP50, double RatioP99,
    double DirectMaxRps, double SidecarsMaxRps,
    int StreamRate, int StreamChunks, StreamCase StreamDirect, StreamCase StreamSidecars,
    double StreamAddedFirstP50Ms, double StreamAddedLastP50Ms);

/// <summary>
/// An echo app with its dev sidecar, and a caller sidecar with no app: the two-sidecar path of service invocation. The
/// sidecars are a cluster of their own; its registry is where a sidecar run elsewhere registers to be called too.
/// </summary>
public sealed class EchoTarget : IAsyncDisposable
{
    public const int PayloadBytes = 1024;
    public const int StreamChunks = 10;
    public const int StreamChunkBytes = 100;

    private readonly Cluster _cluster = Hosting.Cluster();
    public int AppPort { get; private set; }

    /// <summary>Where the sidecars register (DEVSIDECAR_REGISTRY for a sidecar in another process).</summary>
    public string Registry => _cluster.RegistryDirectory;

    public static async Task<EchoTarget> StartAppAsync()
    {
        var target = new EchoTarget();
        var app = target._cluster.Own(LoopbackApp.Create());
        var chunk = new byte[StreamChunkBytes];
        Array.Fill(chunk, (byte)'s');
        app.MapPost("/echo", async (HttpContext ctx) =>
        {
            var buffer = new byte[ctx.Request.ContentLength ?? PayloadBytes];
            var read = 0;
            int n;
            while (read < buffer.Length && (n = await ctx.Request.Body.ReadAsync(buffer.AsMemory(read))) > 0) read += n;
            ctx.Response.ContentType = "application/octet-stream";
            ctx.Response.ContentLength = read;
            await ctx.Response.Body.WriteAsync(buffer.AsMemory(0, read));
        });
        app.MapGet("/stream", async (HttpContext ctx) =>
        {
            ctx.Response.ContentType = "application/octet-stream";
            for (var i = 0; i < StreamChunks; i++)
            {
                if (i > 0) await Task.Delay(1); // a gap, so a proxy that buffered would show as first chunk == last chunk
                await ctx.Response.Body.WriteAsync(chunk);
                await ctx.Response.Body.FlushAsync();
            }
        });
        await app.StartAsync();
        target.AppPort = app.BoundPort();
        return target;
    }

    /// <summary>Starts "echo"'s sidecar (in process, unless it runs elsewhere) and a "caller" sidecar without an app;
    /// returns the caller's HTTP port.</summary>
    public async Task<int> StartSidecarsAsync(bool echoSidecarInProcess = true)
    {
        if (echoSidecarInProcess) await _cluster.StartReadySidecarAsync("echo", AppPort);
        return (await _cluster.StartReadySidecarAsync("caller", appPort: null)).HttpPort;
    }

    public ValueTask DisposeAsync() => _cluster.DisposeAsync();

    public static Func<long, Task<double>> EchoCall(HttpClient client, string url)
    {
        var payload = new byte[PayloadBytes];
        Random.Shared.NextBytes(payload);
        return async _ =>
        {
            using var content = new ByteArrayContent(payload);
            content.Headers.ContentType = new("application/octet-stream");
            using var response = await client.PostAsync(url, content);
            var body = await response.Content.ReadAsByteArrayAsync();
            if (!response.IsSuccessStatusCode || body.Length != PayloadBytes)
                throw new InvalidOperationException($"echo answered {(int)response.StatusCode} with {body.Length} bytes");
            return double.NaN;
        };
    }

    /// <summary>Reads the streamed response; returns the time to the first chunk (from the due time); the caller times the last.</summary>
    public static Func<long, Task<double>> StreamCall(HttpClient client, string url) => async due =>
    {
        using var response = await client.GetAsync(url, HttpCompletionOption.ResponseHeadersRead);
        response.EnsureSuccessStatusCode();
        await using var body = await response.Content.ReadAsStreamAsync();
        var buffer = new byte[4096];
        var first = double.NaN;
        int read, total = 0;
        while ((read = await body.ReadAsync(buffer)) > 0)
        {
            if (total == 0) first = Load.Ms(due, Stopwatch.GetTimestamp());
            total += read;
        }
        if (total != StreamChunks * StreamChunkBytes) throw new InvalidOperationException($"stream gave {total} bytes");
        return first;
    };
}

public static class InvocationBench
{
    public static async Task<InvocationResult> RunAsync(BenchOptions o)
    {
        const int rate = 1000, connections = 16;
        var streamRate = 100; // each stream lasts ~10 ms (9 timer gaps): at 100/s about one is open at a time
        await using var target = await EchoTarget.StartAppAsync();
        var callerPort = await target.StartSidecarsAsync();

        using var directClient = Hosting.LoadClient(connections);
        using var sidecarClient = Hosting.LoadClient(connections);
        var directEcho = EchoTarget.EchoCall(directClient, $"http://127.0.0.1:{target.AppPort}/echo");
        var sidecarEcho = EchoTarget.EchoCall(sidecarClient, $"http://127.0.0.1:{callerPort}/v1.0/invoke/echo/method/echo");
        var directStream = EchoTarget.StreamCall(directClient, $"http://127.0.0.1:{target.AppPort}/stream");
        var sidecarStream = EchoTarget.StreamCall(sidecarClient, $"http://127.0.0.1:{callerPort}/v1.0/invoke/echo/method/stream");

        // Warm-up: JIT, connection pools, tiered compilation.
        Console.Error.WriteLine($"[invoke] warm-up {o.Warmup.TotalSeconds} s per path");
        await Load.FixedRateAsync(directEcho, rate, o.Warmup);
        await Load.FixedRateAsync(sidecarEcho, rate, o.Warmup);
        await Load.FixedRateAsync(directStream, streamRate, o.Warmup / 2);
        await Load.FixedRateAsync(sidecarStream, streamRate, o.Warmup / 2);

        // Side by side: the two paths alternate in rounds, so a change in the machine's load hits both alike.
        var direct = new List<Samples>();
        var sidecars = new List<Samples>();
        var perRound = o.InvocationSeconds / o.Rounds;
        for (var round = 0; round < o.Rounds; round++)
        {
            Console.Error.WriteLine($"[invoke] round {round + 1}/{o.Rounds}: {perRound.TotalSeconds} s direct, {perRound.TotalSeconds} s through two sidecars at {rate}/s");
            direct.Add(await Load.FixedRateAsync(directEcho, rate, perRound));
            sidecars.Add(await Load.FixedRateAsync(sidecarEcho, rate, perRound));
        }

        var streamDirect = new List<Samples>();
        var streamSidecars = new List<Samples>();
        var streamPerRound = o.StreamSeconds / o.Rounds;
        for (var round = 0; round < o.Rounds; round++)
        {
            Console.Error.WriteLine($"[invoke] streamed round {round + 1}/{o.Rounds} at {streamRate}/s");
            streamDirect.Add(await Load.FixedRateAsync(directStream, streamRate, streamPerRound));
            streamSidecars.Add(await Load.FixedRateAsync(sidecarStream, streamRate, streamPerRound));
        }

        Console.Error.WriteLine($"[invoke] saturation, {connections} connections closed loop, {o.SaturationSeconds.TotalSeconds} s per path");
        var directMax = await Load.SaturateAsync(() => directEcho(0), connections, o.SaturationSeconds);
        var sidecarMax = await Load.SaturateAsync(() => sidecarEcho(0), connections, o.SaturationSeconds);

        var d = Case("direct", direct);
        var s = Case("two sidecars", sidecars);
        var sd = Stream("direct", streamDirect);
        var ss = Stream("two sidecars", streamSidecars);
        return new InvocationResult(rate, connections, EchoTarget.PayloadBytes, o.InvocationSeconds.TotalSeconds, d, s,
            R(s.Latency.P50 - d.Latency.P50), R(s.Latency.P90 - d.Latency.P90), R(s.Latency.P99 - d.Latency.P99),
            R(s.Latency.P50 / d.Latency.P50), R(s.Latency.P99 / d.Latency.P99),
            directMax.PerSecond, sidecarMax.PerSecond,
            streamRate, EchoTarget.StreamChunks, sd, ss,
            R(ss.FirstChunk.P50 - sd.FirstChunk.P50), R(ss.LastChunk.P50 - sd.LastChunk.P50));
    }

    public static InvocationCase Case(string name, List<Samples> runs) =>
        new(name, LatencyStats.Of(Load.Concat(runs.Select(r => r.Latency)), runs.Sum(r => r.Errors)),
            LatencyStats.Of(Load.Concat(runs.Select(r => r.SendLag))).P99, runs.Select(r => r.FirstError).FirstOrDefault(e => e is not null));

    private static StreamCase Stream(string name, List<Samples> runs) =>
        new(name, LatencyStats.Of(Load.Concat(runs.Select(r => r.Extra))), LatencyStats.Of(Load.Concat(runs.Select(r => r.Latency)), runs.Sum(r => r.Errors)),
            runs.Select(r => r.FirstError).FirstOrDefault(e => e is not null));

    public static double R(double v) => Math.Round(v, 3);
}
