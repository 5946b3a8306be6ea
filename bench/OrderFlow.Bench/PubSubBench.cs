using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using TestHosting;

namespace OrderFlow.Bench;

public sealed record BrokerRun(
    string Folder, string Type, string? Skipped,
    int LatencyRate, LatencyStats? Latency, int LatencyLost,
    int Publishers, int SaturationPublished, int SaturationDelivered, double ThroughputPerSecond, LatencyStats? SaturationLatency, string? FirstError,
    double CpuUsPerEvent = double.NaN);

public sealed record PubSubResult(List<BrokerRun> Brokers);

/// <summary>
/// End-to-end pub/sub: the bench app publishes through its sidecar's HTTP API to a topic the same app subscribes to
/// (a declarative Subscription); latency is the handler's time minus the publish call's start, on one clock.
/// </summary>
public static class PubSubBench
{
    private const int LatencyRate = 500;
    private const int Publishers = 16;

    public static async Task<PubSubResult> RunAsync(BenchOptions o, string workDir)
    {
        var runs = new List<BrokerRun>();
        foreach (var broker in BrokerFolder.Discover())
        {
            if (broker.Unsupported(withState: false) is { } reason)
            {
                Console.Error.WriteLine($"[pubsub] {broker.Name}: skipped, {reason}");
                runs.Add(new BrokerRun(broker.Name, broker.PubSubType, reason, LatencyRate, null, 0, Publishers, 0, 0, 0, null, null));
                continue;
            }
            try
            {
                runs.Add(await RunOneAsync(broker, o, workDir));
            }
            catch (Exception e)
            {
                Console.Error.WriteLine($"[pubsub] {broker.Name}: failed, {e.GetType().Name}: {e.Message}");
                runs.Add(new BrokerRun(broker.Name, broker.PubSubType, $"failed: {e.Message}", LatencyRate, null, 0, Publishers, 0, 0, 0, null, null));
            }
        }
        return new PubSubResult(runs);
    }

    private static async Task<BrokerRun> RunOneAsync(BrokerFolder broker, BenchOptions o, string workDir)
    {
        Console.Error.WriteLine($"[pubsub] {broker.Name} ({broker.PubSubType})");
        await using var components = await broker.StartAsync(Path.Combine(workDir, $"pubsub-{broker.Name}"), withState: false);
        var topic = $"bench-{Guid.NewGuid():N}";
        await components.CreateTopicsAsync(topic);
        await File.WriteAllTextAsync(Path.Combine(components.Folder, "bench-subscription.yaml"), $"""
            apiVersion: dapr.io/v2alpha1
            kind: Subscription
            metadata:
              name: bench
            spec:
              pubsubname: pubsub
              topic: {topic}
              routes:
                default: /bench-events
            scopes:
              - bench-pubsub
            """);

        // Received events: id → handler timestamp; sent: id → publish start.
        var received = new ConcurrentDictionary<long, long>();
        await using var cluster = Hosting.Cluster(components.Folder);
        var app = cluster.Own(LoopbackApp.Create());
        app.MapPost("/bench-events", async (HttpContext ctx) =>
        {
            var now = Stopwatch.GetTimestamp();
            using var doc = await JsonDocument.ParseAsync(ctx.Request.Body);
            var id = doc.RootElement.GetProperty("data").GetProperty("id").GetInt64();
            received.TryAdd(id, now);
            return Results.Ok();
        });
        await app.StartAsync();
        var sidecar = await cluster.StartReadySidecarAsync("bench-pubsub", app.BoundPort());
        using var client = Hosting.LoadClient(Publishers);
        var url = $"http://127.0.0.1:{sidecar.HttpPort}/v1.0/publish/pubsub/{topic}";
        var sent = new ConcurrentDictionary<long, long>();
        long next = 0;
        async Task Publish()
        {
            var id = Interlocked.Increment(ref next);
            var start = Stopwatch.GetTimestamp();
            sent[id] = start;
            using var content = new StringContent($"{{\"id\":{id}}}", Encoding.UTF8, "application/json");
            using var response = await client.PostAsync(url, content);
            if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"publish answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }

        // Warm-up, then latency at a fixed rate well below saturation.
        await Load.FixedRateAsync(async _ => { await Publish(); return double.NaN; }, LatencyRate, o.Warmup);
        await WaitForAsync(() => received.Count >= sent.Count, TimeSpan.FromSeconds(10));
        sent.Clear();
        received.Clear();
        var fixedRun = await Load.FixedRateAsync(async _ => { await Publish(); return double.NaN; }, LatencyRate, o.PubSubLatencySeconds);
        await WaitForAsync(() => received.Count >= sent.Count, TimeSpan.FromSeconds(10));
        var latency = LatencyStats.Of(sent.Where(s => received.ContainsKey(s.Key)).Select(s => Load.Ms(s.Value, received[s.Key])), fixedRun.Errors);
        var lost = sent.Count - sent.Keys.Count(received.ContainsKey);

        // Throughput at saturation: 16 publishers back to back; delivered events per second from first publish to last delivery.
        sent.Clear();
        received.Clear();
        Console.Error.WriteLine($"[pubsub] {broker.Name}: saturation, {Publishers} publishers, {o.PubSubSaturationSeconds.TotalSeconds} s");
        var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        var first = Stopwatch.GetTimestamp();
        var saturation = await Load.SaturateAsync(Publish, Publishers, o.PubSubSaturationSeconds);
        var published = sent.Count;
        await WaitForAsync(() => received.Count >= published, TimeSpan.FromSeconds(30));
        var cpuUs = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalMilliseconds * 1000;
        var delivered = sent.Keys.Count(received.ContainsKey);
        var last = received.Values.DefaultIfEmpty(first).Max();
        var throughput = delivered / Load.Ms(first, last) * 1000.0;
        var satLatency = LatencyStats.Of(sent.Where(s => received.ContainsKey(s.Key)).Select(s => Load.Ms(s.Value, received[s.Key])), saturation.Errors);
        return new BrokerRun(broker.Name, broker.PubSubType, null, LatencyRate, latency, lost,
            Publishers, published, delivered, Math.Round(throughput, 1), satLatency, fixedRun.FirstError,
            delivered > 0 ? Math.Round(cpuUs / delivered, 1) : double.NaN);
    }

    /// <summary>Waits for the deliveries until <paramref name="timeout"/>; what has not arrived by then is counted as lost.</summary>
    public static async Task WaitForAsync(Func<bool> condition, TimeSpan timeout)
    {
        try
        {
            await Wait.UntilAsync(condition, "the deliveries", timeout);
        }
        catch (TimeoutException)
        {
            // reported as lost
        }
    }
}
