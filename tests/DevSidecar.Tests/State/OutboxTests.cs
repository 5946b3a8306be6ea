using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Dapr;
using Dapr.Client;
using DevSidecar.Hosting;
using DevSidecar.Tests.Conformance.Harness;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace DevSidecar.Tests.State;

// Oracle: daprd v1.17.9 pkg/runtime/pubsub/outbox.go (PublishInternal, SubscribeToInternalTopics: internal topic
// {namespace}{appId}{topic}outbox, marker key outbox-<uuid>, projections), pkg/api/grpc/grpc.go and pkg/api/http/http.go
// ExecuteStateTransaction, pkg/api/errors/pubsub.go PubSubOutbox; components-contrib v1.17.6 pubsub/envelope.go.
public sealed class OutboxTests
{
    private const string Topic = "placed";

    /// <summary>A writer sidecar (no app) and a sink app subscribed to <see cref="Topic"/>; <c>outboxstore</c> has the
    /// outbox, <c>peek</c> reads the same SQLite file without key prefix, to see the markers.</summary>
    private sealed class Run : IAsyncDisposable
    {
        private readonly TempFolder _folder = new("outbox-");
        private Cluster _cluster = null!;
        public Sidecar Writer { get; private set; } = null!;
        public DaprClient Dapr { get; private set; } = null!;
        public HttpClient Http { get; private set; } = null!;
        public EventSinkApp Sink { get; private set; } = null!;
        public CapturedLogs Logs => _cluster.Logs;

        public static async Task<Run> StartAsync(params (string Key, string Value)[] outboxMetadata)
        {
            var run = new Run();
            var file = run._folder.Combine("state.db");
            run._cluster = Harness.ClusterWith(ComponentYaml.Join(
                ComponentYaml.Of("pubsub", "pubsub.in-memory"),
                ComponentYaml.Of("outboxstore", "state.sqlite", [("connectionString", file), .. outboxMetadata]),
                ComponentYaml.Of("peek", "state.sqlite", ("connectionString", file), ("keyPrefix", "none"))));
            run.Sink = run._cluster.Own(await EventSinkApp.StartAsync(Topic));
            await run._cluster.StartReadySidecarAsync(Harness.NewAppId("sink"), run.Sink.Port);
            run.Writer = await run._cluster.StartReadySidecarAsync(Harness.NewAppId("writer"), appPort: null);
            run.Dapr = SidecarClients.Dapr(run.Writer);
            run.Http = SidecarClients.Http(run.Writer);
            return run;
        }

        public async ValueTask DisposeAsync()
        {
            Dapr.Dispose();
            Http.Dispose();
            await _cluster.DisposeAsync();
            _folder.Dispose();
        }
    }

    private static readonly (string, string)[] Outbox = [("outboxPublishPubsub", "pubsub"), ("outboxPublishTopic", Topic)];
    private static string NewKey() => "k-" + Guid.NewGuid().ToString("N");
    private static byte[] Json(string text) => Encoding.UTF8.GetBytes(text);

    [Fact]
    public async Task A_transaction_stores_the_value_and_announces_it_once_the_marker_is_seen()
    {
        await using var run = await Run.StartAsync(Outbox);
        var key = NewKey();
        await run.Dapr.ExecuteStateTransactionAsync("outboxstore",
        [
            new StateTransactionRequest(key, Json("""{"marker":"m-1","qty":2}"""), StateOperationType.Upsert,
                metadata: new Dictionary<string, string> { ["contentType"] = "application/json" }),
        ]);
        (await run.Dapr.GetStateAsync<JsonObject>("outboxstore", key))!["marker"]!.GetValue<string>().Should().Be("m-1");

        var delivered = await Wait.ForAsync(() => run.Sink.Handled.FirstOrDefault(e => e.Marker == "m-1"), "the outbox event delivered");
        var envelope = delivered.Envelope;
        delivered.Id.Should().StartWith("outbox-");
        ((string?)envelope["source"]).Should().Be(run.Writer.AppId);
        ((string?)envelope["type"]).Should().Be("com.dapr.event.sent");
        ((string?)envelope["topic"]).Should().Be(Topic);
        ((string?)envelope["pubsubname"]).Should().Be("pubsub");
        ((string?)envelope["datacontenttype"]).Should().Be("application/json");
        ((string?)envelope["contentType"]).Should().Be("application/json", "the operation's metadata is copied into the envelope");
        ((int?)envelope["data"]!["qty"]).Should().Be(2);

        // The marker (no app-id prefix) is deleted once the event is out.
        await Wait.UntilAsync(async () => await run.Dapr.GetStateAsync<string>("peek", delivered.Id) is null, "the marker deleted");
    }

    [Fact]
    public async Task A_projection_is_announced_instead_of_the_stored_value_and_is_not_stored()
    {
        await using var run = await Run.StartAsync(Outbox);
        var key = NewKey();
        await run.Dapr.ExecuteStateTransactionAsync("outboxstore",
        [
            new StateTransactionRequest(key, Json("""{"marker":"stored","secret":"s"}"""), StateOperationType.Upsert),
            new StateTransactionRequest(key, Json("""{"marker":"projected"}"""), StateOperationType.Upsert,
                metadata: new Dictionary<string, string> { ["outbox.projection"] = "true", ["contentType"] = "application/json" }),
        ]);
        (await run.Dapr.GetStateAsync<JsonObject>("outboxstore", key))!["marker"]!.GetValue<string>().Should().Be("stored");
        var delivered = await Wait.ForAsync(() => run.Sink.Handled.FirstOrDefault(e => e.Marker == "projected"), "the projection delivered");
        run.Sink.Delivered.Should().ContainSingle();
        ((string?)delivered.Envelope["datacontenttype"]).Should().Be("application/json");
    }

    [Fact]
    public async Task Without_a_content_type_the_data_is_text_and_an_http_value_is_printed_as_go_does()
    {
        await using var run = await Run.StartAsync(Outbox);
        var (grpcKey, httpKey) = (NewKey(), NewKey());
        await run.Dapr.ExecuteStateTransactionAsync("outboxstore",
            [new StateTransactionRequest(grpcKey, Json("""{"marker":"g"}"""), StateOperationType.Upsert)]);
        using var response = await run.Http.PostAsync("/v1.0/state/outboxstore/transaction", SidecarClients.Json($$$$"""
            {"operations":[{"operation":"upsert","request":{"key":"{{{{httpKey}}}}","value":{"b":1,"a":"x"}}}]}
            """));
        response.StatusCode.Should().Be(HttpStatusCode.NoContent);

        await Wait.UntilAsync(() => run.Sink.Delivered.Count == 2, "both events delivered");
        var data = run.Sink.Delivered.Select(e => (string?)e.Envelope["data"]).ToList();
        run.Sink.Delivered.Should().OnlyContain(e => (string?)e.Envelope["datacontenttype"] == "text/plain");
        data.Should().BeEquivalentTo(["""{"marker":"g"}""", "map[a:x b:1]"]);
    }

    [Fact]
    public async Task A_failed_internal_publish_fails_the_call_with_ERR_PUBLISH_OUTBOX_and_stores_nothing()
    {
        await using var run = await Run.StartAsync([.. Outbox, ("outboxPubsub", "no-such-pubsub")]);
        var key = NewKey();
        var act = () => run.Dapr.ExecuteStateTransactionAsync("outboxstore",
            [new StateTransactionRequest(key, Json("1"), StateOperationType.Upsert)]);
        var rpc = (RpcException)(await act.Should().ThrowAsync<DaprException>()).Which.InnerException!;
        rpc.StatusCode.Should().Be(StatusCode.Internal);
        rpc.Status.Detail.Should().Be("error while publishing outbox message: pubsub 'no-such-pubsub' not found");
        (await run.Dapr.GetStateAsync<int?>("outboxstore", key)).Should().BeNull();

        using var response = await run.Http.PostAsync("/v1.0/state/outboxstore/transaction", SidecarClients.Json($$$"""
            {"operations":[{"operation":"upsert","request":{"key":"{{{key}}}","value":1}}]}
            """));
        response.StatusCode.Should().Be(HttpStatusCode.InternalServerError);
        ((string?)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["errorCode"]).Should().Be("ERR_PUBLISH_OUTBOX");
    }

    [Fact]
    public async Task An_atomic_transaction_that_fails_announces_nothing()
    {
        await using var run = await Run.StartAsync([.. Outbox, ("outboxDiscardWhenMissingState", "true")]);
        var key = NewKey();
        await run.Dapr.SaveStateAsync("outboxstore", key, 1);
        var act = () => run.Dapr.ExecuteStateTransactionAsync("outboxstore",
        [
            new StateTransactionRequest(NewKey(), Json("""{"marker":"never"}"""), StateOperationType.Upsert),
            new StateTransactionRequest(key, Json("2"), StateOperationType.Upsert, "stale-etag"),
        ]);
        await act.Should().ThrowAsync<DaprException>();
        // The internal event went out before the transaction; its marker never appears, so after daprd's scan (1 s
        // delay, then 10 s of polling) it is discarded.
        await Wait.UntilAsync(() => run.Logs.Any(LogLevel.Error, "discarding message"), "the internal event discarded", TimeSpan.FromSeconds(25));
        run.Sink.Delivered.Should().BeEmpty();
    }
}

// Oracle as above, with components-contrib v1.17.6 state/redis/redis.go Multi (no rollback).
[RequiresBroker("redis-server")]
public sealed class RedisOutboxTests : IAsyncLifetime
{
    private readonly RedisServerProcess _redis = new();
    private Cluster? _cluster;
    private EventSinkApp _sink = null!;
    private DaprClient _dapr = null!;

    public async Task InitializeAsync()
    {
        if (BrokerBinary.SkipReason("redis-server") is not null) return;
        await _redis.StartAsync();
        _cluster = Harness.ClusterWith(ComponentYaml.Join(
            ComponentYaml.Of("pubsub", "pubsub.in-memory"),
            ComponentYaml.Of("outboxstore", "state.redis", ("redisHost", _redis.HostPort), ("outboxPublishPubsub", "pubsub"), ("outboxPublishTopic", "placed"))));
        _sink = _cluster.Own(await EventSinkApp.StartAsync("placed"));
        await _cluster.StartReadySidecarAsync(Harness.NewAppId("sink"), _sink.Port);
        _dapr = SidecarClients.Dapr(await _cluster.StartReadySidecarAsync(Harness.NewAppId("writer"), appPort: null));
    }

    public async Task DisposeAsync()
    {
        _dapr?.Dispose();
        if (_cluster is not null) await _cluster.DisposeAsync();
        await _redis.DisposeAsync();
    }

    [BrokerFact]
    public async Task A_failed_redis_transaction_still_announces_every_upsert_even_the_one_not_stored()
    {
        var (fresh, contested) = ("k-" + Guid.NewGuid().ToString("N"), "k-" + Guid.NewGuid().ToString("N"));
        await _dapr.SaveStateAsync("outboxstore", contested, new { marker = "old" });
        var (_, stale) = await _dapr.GetStateAndETagAsync<JsonObject>("outboxstore", contested);
        await _dapr.SaveStateAsync("outboxstore", contested, new { marker = "current" });

        var act = () => _dapr.ExecuteStateTransactionAsync("outboxstore",
        [
            new StateTransactionRequest(fresh, Encoding.UTF8.GetBytes("""{"marker":"fresh"}"""), StateOperationType.Upsert,
                metadata: new Dictionary<string, string> { ["outbox.projection"] = "false" }),
            new StateTransactionRequest(contested, Encoding.UTF8.GetBytes("""{"marker":"lost-race"}"""), StateOperationType.Upsert, stale),
        ]);
        var rpc = (RpcException)(await act.Should().ThrowAsync<DaprException>()).Which.InnerException!;
        rpc.StatusCode.Should().Be(StatusCode.Internal);

        // Each operation and each marker ran on its own: the markers were stored, so both events go out.
        await Wait.UntilAsync(() => _sink.Delivered.Count == 2, "both outbox events delivered");
        _sink.Delivered.Select(e => (string?)JsonNode.Parse((string)e.Envelope["data"]!)!["marker"]).Should().BeEquivalentTo(["fresh", "lost-race"]);
        (await _dapr.GetStateAsync<JsonObject>("outboxstore", contested))!["marker"]!.GetValue<string>().Should().Be("current");
    }
}
