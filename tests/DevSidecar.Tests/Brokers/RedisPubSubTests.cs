using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using DevSidecar.Hosting;
using DevSidecar.Tests.Conformance.Harness;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace DevSidecar.Tests.Brokers;

// Oracle: pubsub.redis's metadata, dapr/components-contrib@c23900d2 pubsub/redis/metadata.yaml; its consumer group
// (consumerID = app id: same app id competes, different app ids fan out; group created at "0"; at-least-once through
// pending-entry reclaim after processingTimeout), pubsub/redis/redis.go, consumerID defaulting to the app id in daprd
// dapr/dapr@d8450742 pkg/runtime/processor/pubsub/pubsub.go; the delivery (CloudEvent body, headers),
// pkg/runtime/subscription/postman/http/http.go.
// Each test has its own redis-server on a free port, its own resources folder and sidecars.
public sealed class RedisPubSubTests
{
    private const string Topic = "orders";

    private static string NewAppId(string prefix) => Harness.NewAppId(prefix);
    private static string NewMarker() => Guid.NewGuid().ToString("N");

    /// <summary>redis-server's pub/sub and an in-memory state store (so no workflow state goes to redis), on the suite's sidecar settings.</summary>
    private static Cluster RedisCluster(RedisServerProcess redis, params (string Key, string Value)[] extra) =>
        Harness.ClusterWith(ComponentYaml.Join(redis.PubSubYaml(extra), ComponentYaml.Of("statestore", "state.in-memory")));

    private static Task<HttpResponseMessage> PublishAsync(Sidecar sidecar, string marker) => SidecarClients.PublishAsync(sidecar, Topic, marker);

    private static Task PublishOkAsync(Sidecar sidecar, string marker, string? query = null) => SidecarClients.PublishOkAsync(sidecar, Topic, marker, query);

    /// <summary>Publishes until the broker takes it (while redis is down or reconnecting, publish fails).</summary>
    private static Task PublishWhenBrokerAnswersAsync(Sidecar sidecar, string marker) => SidecarClients.PublishWhenBrokerUpAsync(sidecar, Topic, marker);

    [BrokerFact("redis-server")]
    public async Task Delivers_the_cloudevent_with_its_headers()
    {
        await using var redis = await new RedisServerProcess().StartedAsync();
        await using var run = RedisCluster(redis);
        await using var app = await EventSinkApp.StartAsync(Topic);
        var sidecar = await run.StartReadySidecarAsync(NewAppId("deliver"), app.Port);

        var marker = NewMarker();
        await PublishOkAsync(sidecar, marker, "?metadata.custom-key=custom-value");

        var received = await Wait.ForAsync(() => app.With(marker).FirstOrDefault(), "the event delivered");
        received.Envelope["specversion"]!.GetValue<string>().Should().Be("1.0");
        received.Envelope["topic"]!.GetValue<string>().Should().Be(Topic);
        received.Envelope["pubsubname"]!.GetValue<string>().Should().Be("pubsub");
        received.Envelope["datacontenttype"]!.GetValue<string>().Should().StartWith("application/json");
        received.Envelope["data"]!.AsObject()["marker"]!.GetValue<string>().Should().Be(marker);
        received.Headers["Content-Type"].Should().Be("application/cloudevents+json");
        received.Headers["pubsubName"].Should().Be("pubsub");
        received.Headers.Should().ContainKey("custom-key").WhoseValue.Should().Be("custom-value", "publish metadata travels in the stream entry");
    }

    [BrokerFact("redis-server")]
    public async Task Instances_of_one_app_id_compete_and_no_event_is_delivered_twice()
    {
        await using var redis = await new RedisServerProcess().StartedAsync();
        await using var run = RedisCluster(redis);
        await using var first = await EventSinkApp.StartAsync(Topic);
        await using var second = await EventSinkApp.StartAsync(Topic);
        var appId = NewAppId("compete");
        var sidecar = await run.StartReadySidecarAsync(appId, first.Port);
        await run.StartReadySidecarAsync(appId, second.Port);

        var markers = Enumerable.Range(0, 30).Select(_ => NewMarker()).ToList();
        foreach (var marker in markers) await PublishOkAsync(sidecar, marker);

        IEnumerable<DeliveredEvent> All() => first.Delivered.Concat(second.Delivered);
        await Wait.UntilAsync(() => All().Select(e => e.Marker).Distinct().Count() == markers.Count, "every event delivered to one of the instances");
        await Wait.StaysAsync(() => All().Count() == markers.Count, "no event delivered twice");
        first.Delivered.Should().NotBeEmpty("both instances take a share");
        second.Delivered.Should().NotBeEmpty("both instances take a share");
    }

    [BrokerFact("redis-server")]
    public async Task Different_app_ids_each_get_every_event()
    {
        await using var redis = await new RedisServerProcess().StartedAsync();
        await using var run = RedisCluster(redis);
        await using var billing = await EventSinkApp.StartAsync(Topic);
        await using var shipping = await EventSinkApp.StartAsync(Topic);
        var sidecar = await run.StartReadySidecarAsync(NewAppId("billing"), billing.Port);
        await run.StartReadySidecarAsync(NewAppId("shipping"), shipping.Port);

        var markers = Enumerable.Range(0, 10).Select(_ => NewMarker()).ToList();
        foreach (var marker in markers) await PublishOkAsync(sidecar, marker);

        foreach (var app in new[] { billing, shipping })
            await Wait.UntilAsync(() => markers.All(m => app.With(m).Count == 1), "each app id gets its own copy of every event");
        await Wait.StaysAsync(() => billing.Delivered.Count == markers.Count && shipping.Delivered.Count == markers.Count, "and only one copy");
    }

    [BrokerFact("redis-server")]
    public async Task An_event_whose_sidecar_stopped_mid_handling_is_redelivered_to_the_next_instance()
    {
        await using var redis = await new RedisServerProcess().StartedAsync();
        await using var run = RedisCluster(redis, ("processingTimeout", "1s"), ("redeliverInterval", "200ms"));
        var appId = NewAppId("crash");
        var marker = NewMarker();

        await using var busyApp = await EventSinkApp.StartAsync(Topic);
        busyApp.HoldUntilDisposed(marker);
        var doomed = await run.StartReadySidecarAsync(appId, busyApp.Port);
        await PublishOkAsync(doomed, marker);
        var first = await Wait.ForAsync(() => busyApp.With(marker).FirstOrDefault(), "the event reaches the app, which hangs on it");
        await doomed.StopAsync(); // grace runs out while the app still holds the event: it stays pending in the group

        await using var nextApp = await EventSinkApp.StartAsync(Topic);
        await run.StartReadySidecarAsync(appId, nextApp.Port);
        var again = await Wait.ForAsync(() => nextApp.With(marker).FirstOrDefault(), "the event reclaimed after processingTimeout and delivered again");
        again.Id.Should().Be(first.Id, "it is the same event");
        run.Logs.Any(LogLevel.Information, "redelivering message").Should().BeTrue();

        await using var client = await ConnectionMultiplexer.ConnectAsync(redis.HostPort);
        await Wait.UntilAsync(async () => (await client.GetDatabase().StreamPendingAsync(Topic, appId)).PendingMessageCount == 0,
            "the redelivered event acknowledged");
        await Wait.StaysAsync(() => nextApp.With(marker).Count == 1, "handled once more, not again and again");
    }

    [BrokerFact("redis-server")]
    public async Task Delivery_resumes_after_the_broker_restarts()
    {
        await using var redis = await new RedisServerProcess().StartedAsync();
        await using var run = RedisCluster(redis);
        await using var app = await EventSinkApp.StartAsync(Topic);
        var sidecar = await run.StartReadySidecarAsync(NewAppId("restart"), app.Port);
        var before = NewMarker();
        await PublishOkAsync(sidecar, before);
        await Wait.ForAsync(() => app.With(before).FirstOrDefault(), "delivery before the outage");

        await redis.StopAsync();
        await redis.StartAsync(); // without persistence: the stream and the group are gone too

        var after = NewMarker();
        await PublishWhenBrokerAnswersAsync(sidecar, after);
        await Wait.ForAsync(() => app.With(after).FirstOrDefault(), "delivery after redis restarted");
        app.With(before).Should().HaveCount(1);
    }
}
