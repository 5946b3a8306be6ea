using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using DevSidecar.Tests.Conformance.Harness;

namespace DevSidecar.Tests.Conformance;

// Oracle (versions: Conformance/README.md): /dapr/subscribe parsing and rule order, daprd dapr/dapr@d8450742
// pkg/runtime/pubsub/subscriptions.go (GetSubscriptionsHTTP), precedence, pkg/runtime/compstore/subscriptions.go; how
// the app's response is read, the DLQ and expired events, pkg/runtime/subscription/subscription.go,
// pkg/runtime/subscription/postman/http/http.go, dapr/components-contrib@c23900d2 pubsub/responses.go and
// https://docs.dapr.io/reference/api/pubsub_api/ ("Expected HTTP Response"); declarative subscriptions and scopes,
// pkg/apis/subscriptions/v1alpha1/types.go, v2alpha1/types.go, pkg/internal/loader/disk/disk.go.
// The harness loads a Resiliency resource retrying deliveries from `pubsub` 3 times, 10 ms apart (Harness.DeliveryResiliency),
// so a never-succeeding event is attempted 1 + 3 times; daprd applies it through ComponentInboundPolicy (pkg/resiliency).
public sealed class DeliveryTests(HarnessFixture fixture) : IClassFixture<HarnessFixture>
{
    private Harness.Harness H => fixture.H;
    private TestApp App => H.RequireApp;
    private int MaxRetries => H.Options.DeliveryRetries!.Value;

    private static string NewMarker() => Guid.NewGuid().ToString("N");

    private Task Publish(string topic, string marker, string mode, int failTimes = -1, Dictionary<string, string>? metadata = null) =>
        H.Dapr.PublishEventAsync(TestApp.PubSub, topic, new { marker, mode, failTimes }, metadata ?? []);

    private Task<Received> DeadLettered(string marker) =>
        Wait.ForAsync(() => App.At("/behave-dlq", marker).FirstOrDefault(), $"event {marker} in the dead-letter topic");

    [Fact]
    public async Task App_404_is_dropped_without_retry_and_dead_lettered()
    {
        var marker = NewMarker();
        await Publish("behave", marker, "404");
        var dlq = await DeadLettered(marker);
        App.Attempts(marker).Should().Be(1, "404 is non-retriable (daprd pkg/runtime/subscription/postman/http/http.go)");
        var original = App.At("/behave", marker).Single().Envelope;
        ((string)dlq.Envelope["id"]!).Should().Be((string)original["id"]!, "the original message is published to the DLQ topic");
        await Wait.StaysAsync(() => App.Attempts(marker) == 1, "no redelivery after a 404");
    }

    [Fact]
    public async Task App_404_without_dead_letter_topic_is_attempted_once()
    {
        var marker = NewMarker();
        await Publish("behave-nodlq", marker, "404");
        await Wait.UntilAsync(() => App.Attempts(marker) == 1, "first delivery");
        await Wait.StaysAsync(() => App.Attempts(marker) == 1, "a 404 is not retried");
    }

    [Fact]
    public async Task App_500_is_retried_then_dead_lettered()
    {
        var marker = NewMarker();
        await Publish("behave", marker, "500");
        await DeadLettered(marker);
        App.Attempts(marker).Should().Be(1 + MaxRetries);
    }

    [Fact]
    public async Task Status_RETRY_is_retried_then_dead_lettered()
    {
        var marker = NewMarker();
        await Publish("behave", marker, "RETRY");
        await DeadLettered(marker);
        App.Attempts(marker).Should().Be(1 + MaxRetries);
    }

    [Fact]
    public async Task Transient_500_is_redelivered_until_success_and_not_dead_lettered()
    {
        var marker = NewMarker();
        await Publish("behave", marker, "500", failTimes: 2);
        await Wait.UntilAsync(() => App.Attempts(marker) == 3, "two failures then a success");
        await Wait.StaysAsync(() => App.Attempts(marker) == 3 && App.At("/behave-dlq", marker).Count == 0, "acked after the successful attempt");
    }

    [Fact]
    public async Task Status_DROP_is_not_retried_and_goes_to_dead_letter_topic()
    {
        var marker = NewMarker();
        await Publish("behave", marker, "DROP");
        await DeadLettered(marker);
        App.Attempts(marker).Should().Be(1);
    }

    [Fact]
    public async Task Lowercase_success_is_treated_as_retry()
    {
        var marker = NewMarker();
        await Publish("behave", marker, "success", failTimes: 1);
        await Wait.UntilAsync(() => App.Attempts(marker) >= 2, "redelivery after a lowercase \"success\" (statuses are case-sensitive)");
        await Wait.StaysAsync(() => App.At("/behave-dlq", marker).Count == 0, "acked by the later empty 200");
    }

    [Fact]
    public async Task Unknown_status_string_is_treated_as_retry()
    {
        var marker = NewMarker();
        await Publish("behave", marker, "MAYBE");
        await DeadLettered(marker);
        App.Attempts(marker).Should().Be(1 + MaxRetries);
    }

    [Theory]
    [InlineData("empty")]
    [InlineData("SUCCESS")]
    [InlineData("text")]
    public async Task Success_answers_are_delivered_once(string mode)
    {
        var marker = NewMarker();
        await Publish("behave", marker, mode);
        await Wait.UntilAsync(() => App.Attempts(marker) == 1, "first delivery");
        await Wait.StaysAsync(() => App.Attempts(marker) == 1 && App.At("/behave-dlq", marker).Count == 0, "2xx with empty/non-JSON/SUCCESS body is an ack");
    }

    [Fact]
    public async Task Expired_event_never_reaches_the_app()
    {
        // Not observed through the DLQ: the dead-lettered copy carries the same past `expiration`, so the DLQ
        // subscription drops it as expired too (daprd does the same). A later sentinel on the same topic shows
        // the subscription is live.
        var marker = NewMarker();
        var sentinel = NewMarker();
        var expired = DateTimeOffset.UtcNow.AddMinutes(-5).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
        var ce = $$$"""{"specversion":"1.0","id":"exp-{{{marker}}}","source":"test","type":"t","datacontenttype":"application/json","expiration":"{{{expired}}}","data":{"marker":"{{{marker}}}","mode":"empty"}}""";
        using var resp = await H.Http.PostAsync("/v1.0/publish/pubsub/behave", new StringContent(ce, new MediaTypeHeaderValue("application/cloudevents+json")));
        resp.StatusCode.Should().Be(HttpStatusCode.NoContent);
        await Publish("behave", sentinel, "empty");
        await Wait.UntilAsync(() => App.Attempts(sentinel) == 1, "sentinel delivery");
        await Wait.StaysAsync(() => App.At("/behave", marker).Count == 0 && App.At("/behave-dlq", marker).Count == 0,
            "the subscriber side drops expired events (daprd pkg/runtime/subscription/subscription.go)");
    }

    [Fact]
    public async Task Unexpired_ttl_event_is_delivered()
    {
        var marker = NewMarker();
        await Publish("behave", marker, "empty", metadata: new() { ["ttlInSeconds"] = "300" });
        await Wait.UntilAsync(() => App.Attempts(marker) == 1, "delivery of an unexpired event");
    }

    [Theory]
    [InlineData("x", "/routed/x")]       // matches both rules; priority 1 is evaluated first
    [InlineData("y", "/routed/xy")]      // only the priority 2 rule
    [InlineData("other", "/routed/default")]
    public async Task Programmatic_match_rules_route_by_event_type_in_priority_order(string type, string expectedPath)
    {
        var marker = NewMarker();
        await H.Dapr.PublishEventAsync(TestApp.PubSub, "routed", new { marker }, new Dictionary<string, string> { ["cloudevent.type"] = type });
        var r = await Wait.ForAsync(() => App.Received.FirstOrDefault(x => x.Path.StartsWith("/routed/") && x.RawBody.Contains(marker)), "routed event");
        r.Path.Should().Be(expectedPath);
        await Wait.StaysAsync(() => App.Received.Count(x => x.Path.StartsWith("/routed/") && x.RawBody.Contains(marker)) == 1, "delivered to exactly one route");
    }

    [Fact]
    public async Task Subscribe_endpoint_is_fetched_once_with_app_id_header()
    {
        App.SubscribeCalls.Should().Be(1, "programmatic subscriptions are fetched once per run (daprd pkg/runtime/runtime.go)");
        App.SubscribeRequestHeaders!.TryGetValue("dapr-app-id", out var id).Should().BeTrue();
        id.Should().Be(H.AppId);
        await Task.CompletedTask;
    }

    [Theory]
    [InlineData("special", "/decl/v2-special")]
    [InlineData("plain", "/decl/v2-default")]
    public async Task Declarative_v2alpha1_subscription_routes_by_rules(string type, string expectedPath)
    {
        var marker = NewMarker();
        await H.Dapr.PublishEventAsync(TestApp.PubSub, "decl-v2", new { marker }, new Dictionary<string, string> { ["cloudevent.type"] = type });
        var r = await Wait.ForAsync(() => App.Received.FirstOrDefault(x => x.Path.StartsWith("/decl/") && x.RawBody.Contains(marker)), "declarative v2 event");
        r.Path.Should().Be(expectedPath);
        r.RawContentType.Should().Be("application/cloudevents+json");
    }

    [Fact]
    public async Task Declarative_v1alpha1_subscription_uses_route()
    {
        var marker = NewMarker();
        await H.Dapr.PublishEventAsync(TestApp.PubSub, "decl-v1", new { marker });
        var r = await Wait.ForAsync(() => App.At("/decl/v1", marker).FirstOrDefault(), "declarative v1 event");
        ((string)r.Envelope["topic"]!).Should().Be("decl-v1");
    }

    [Fact]
    public async Task Declarative_subscription_scoped_to_another_app_is_not_loaded()
    {
        var marker = NewMarker();
        // Sentinel on a topic this app does subscribe to, published after: once it arrives, the scoped one had its chance.
        await H.Dapr.PublishEventAsync(TestApp.PubSub, "decl-scoped", new { marker });
        await H.Dapr.PublishEventAsync(TestApp.PubSub, "decl-v1", new { marker });
        await Wait.ForAsync(() => App.At("/decl/v1", marker).FirstOrDefault(), "sentinel");
        await Wait.StaysAsync(() => App.At("/decl/scoped", marker).Count == 0, "out-of-scope subscription must not deliver");
    }

    [Fact]
    public async Task Programmatic_subscription_overrides_declarative_for_same_topic()
    {
        var marker = NewMarker();
        await H.Dapr.PublishEventAsync(TestApp.PubSub, "orders", new { marker });
        await Wait.ForAsync(() => App.At("/orders", marker).FirstOrDefault(), "programmatic route");
        await Wait.StaysAsync(() => App.At("/decl/orders-declarative", marker).Count == 0, "the declarative subscription for pubsub/orders is overridden (daprd pkg/runtime/compstore/subscriptions.go)");
    }

    [Fact]
    public async Task Metadata_lists_programmatic_and_declarative_subscriptions()
    {
        var json = JsonNode.Parse(await H.Http.GetStringAsync("/v1.0/metadata"))!;
        var subs = json["subscriptions"]!.AsArray().Select(s => s!.AsObject()).ToList();
        JsonObject Sub(string topic) => subs.Single(s => (string)s["topic"]! == topic && (string)s["pubsubname"]! == TestApp.PubSub);

        ((string)Sub("orders")["type"]!).Should().Be("PROGRAMMATIC");
        ((string)Sub("behave")["deadLetterTopic"]!).Should().Be("behave-dlq");
        ((string)Sub("decl-v1")["type"]!).Should().Be("DECLARATIVE");
        ((string)Sub("decl-v2")["type"]!).Should().Be("DECLARATIVE");
        var routedRules = Sub("routed")["rules"]!.AsArray().Select(r => ((string?)r!["match"] ?? "", ((string)r["path"]!).TrimStart('/'))).ToList();
        // daprd may or may not show the leading '/' the SDK omits (pkg/runtime/pubsub/subscriptions.go adds it); compare without it.
        routedRules.Should().ContainInOrder(("event.type == \"x\"", "routed/x"), ("event.type == \"x\" || event.type == \"y\"", "routed/xy"));
        subs.Should().NotContain(s => (string)s["topic"]! == "decl-scoped", "scoped to another app");
        subs.Count(s => (string)s["topic"]! == "orders").Should().Be(1, "one subscription per (pubsub, topic)");
    }

    [Fact]
    public async Task Status_DROP_without_dead_letter_topic_is_not_retried()
    {
        var marker = NewMarker();
        await Publish("behave-nodlq", marker, "DROP");
        await Wait.UntilAsync(() => App.Attempts(marker) == 1, "first delivery");
        await Wait.StaysAsync(() => App.Attempts(marker) == 1, "DROP is not retried");
    }

    [Fact]
    public async Task Event_matching_no_rule_and_no_default_is_not_delivered()
    {
        var marker = NewMarker();
        await H.Dapr.PublishEventAsync(TestApp.PubSub, "decl-nomatch", new { marker });
        await H.Dapr.PublishEventAsync(TestApp.PubSub, "decl-nomatch", new { marker = marker + "-hit" }, new Dictionary<string, string> { ["cloudevent.type"] = "never-sent" });
        await Wait.ForAsync(() => App.At("/decl/nomatch", marker + "-hit").FirstOrDefault(), "the matching event");
        await Wait.StaysAsync(() => App.Received.Count(x => x.RawBody.Contains(marker) && !x.RawBody.Contains(marker + "-hit")) == 0, "a non-matching event is dropped (daprd pkg/runtime/pubsub/subscriptions.go)");
    }

    [Fact]
    public async Task Subscribe_request_has_json_content_type()
    {
        App.SubscribeRequestHeaders!.TryGetValue("Content-Type", out var ct).Should().BeTrue();
        ct.Should().StartWith("application/json");
        await Task.CompletedTask;
    }

    [Fact]
    public async Task Dapr_config_is_requested_before_dapr_subscribe()
    {
        var calls = App.DaprCalls.Select(c => c.Path).ToList();
        calls.Should().Contain("/dapr/config");
        calls.IndexOf("/dapr/config").Should().BeLessThan(calls.IndexOf("/dapr/subscribe"), "GET /dapr/config, then GET /dapr/subscribe (daprd pkg/runtime/runtime.go)");
        App.DaprCalls.First(c => c.Path == "/dapr/config").Headers.TryGetValue("dapr-app-id", out var id).Should().BeTrue();
        id.Should().Be(H.AppId);
        await Task.CompletedTask;
    }

    [Fact]
    public async Task Delivery_traceparent_continues_the_event_trace()
    {
        var marker = NewMarker();
        await H.Dapr.PublishEventAsync(TestApp.PubSub, "orders", new { marker });
        var r = await Wait.ForAsync(() => App.At("/orders", marker).FirstOrDefault(), "delivery");
        var eventTrace = ((string)r.Envelope["traceparent"]!).Split('-')[1];
        r.Header("traceparent")!.Split('-')[1].Should().Be(eventTrace, "the delivery's traceparent is derived from the event (daprd pkg/runtime/subscription/postman/http/http.go)");
    }

    [Fact]
    public async Task An_event_with_an_empty_traceparent_is_delivered_in_a_new_trace_whatever_its_traceid()
    {
        // As daprd's outbox sends it: traceparent empty, the context in traceid. daprd reads traceparent whenever the
        // field is there, starts a new root span from the invalid value and sends that (pkg/runtime/subscription/postman/http/http.go).
        var marker = NewMarker();
        const string traceid = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        var ce = $$$"""{"specversion":"1.0","id":"tp-{{{marker}}}","source":"test","type":"t","datacontenttype":"application/json","traceparent":"","traceid":"{{{traceid}}}","data":{"marker":"{{{marker}}}"}}""";
        using var resp = await H.Http.PostAsync("/v1.0/publish/pubsub/orders", new StringContent(ce, new MediaTypeHeaderValue("application/cloudevents+json")));
        resp.StatusCode.Should().Be(HttpStatusCode.NoContent);
        var r = await Wait.ForAsync(() => App.At("/orders", marker).FirstOrDefault(), "delivery");
        ((string)r.Envelope["traceparent"]!).Should().BeEmpty();
        r.Header("traceparent").Should().MatchRegex("^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$").And.NotContain("0af7651916cd43dd8448eb211c80319c");
    }

    [Theory]
    [InlineData("big", 20, "/decl/cel-big")]
    [InlineData("big", 5, "/decl/cel-default")]
    [InlineData("small", 20, "/decl/cel-default")]
    [InlineData("small", 1, "/decl/cel-small")]
    public async Task Cel_rules_over_event_data_and_attributes(string kind, int size, string expectedPath)
    {
        var marker = NewMarker();
        await H.Dapr.PublishEventAsync(TestApp.PubSub, "decl-cel", new { marker, kind, size });
        var r = await Wait.ForAsync(() => App.Received.FirstOrDefault(x => x.Path.StartsWith("/decl/cel") && x.RawBody.Contains(marker)), "CEL-routed event");
        r.Path.Should().Be(expectedPath);
    }
}
