using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using DevSidecar.Tests.Conformance.Harness;

namespace DevSidecar.Tests.Conformance;

// Oracle (versions: Conformance/README.md): publish, the envelope and its metadata, daprd dapr/dapr@d8450742
// pkg/api/http/http.go (onPublish), pkg/runtime/pubsub/cloudevents.go, dapr/components-contrib@c23900d2
// pubsub/envelope.go and contenttype/utils.go; status codes, pkg/api/errors/pubsub.go and
// https://docs.dapr.io/reference/api/pubsub_api/; bulk publish, pkg/api/http/util.go; the delivery request
// (Content-Type, headers), pkg/runtime/subscription/postman/http/http.go; UseCloudEvents, dapr/dotnet-sdk@9a16009d
// src/Dapr.AspNetCore/CloudEventsMiddleware.cs.
// Note: the dev sidecar's in-memory broker is shared by all sidecars in the process, so every test
// identifies its own events by a unique marker.
public sealed class PublishTests(HarnessFixture fixture) : IClassFixture<HarnessFixture>
{
    private Harness.Harness H => fixture.H;
    private TestApp App => H.RequireApp;

    private static string NewMarker() => Guid.NewGuid().ToString("N");

    // Matched on the parsed envelope: a JSON writer may escape characters such as '+' in the raw text.
    private static string? DataBase64(Received r) => JsonNode.Parse(r.RawBody) is JsonObject o && o["data_base64"] is JsonValue v ? (string?)v : null;

    private Task<Received> Arrival(string path, string marker) =>
        Wait.ForAsync(() => App.At(path, marker).FirstOrDefault(), $"event {marker} at {path}");

    private async Task<HttpResponseMessage> Publish(string topic, HttpContent? content, string query = "", string pubsub = TestApp.PubSub)
    {
        using var req = new HttpRequestMessage(HttpMethod.Post, $"/v1.0/publish/{pubsub}/{topic}{query}") { Content = content };
        return await H.Http.SendAsync(req);
    }

    [Fact]
    public async Task PublishEventAsync_delivers_cloudevent_envelope_to_subscribed_route()
    {
        var marker = NewMarker();
        await H.Dapr.PublishEventAsync(TestApp.PubSub, "orders", new { Marker = marker, Qty = 2 });
        var r = await Arrival("/orders", marker);
        var ce = r.Envelope;
        ((string)ce["id"]!).Should().NotBeNullOrEmpty();
        ((string)ce["source"]!).Should().Be(H.AppId, "source is the publisher app id");
        ((string)ce["type"]!).Should().Be("com.dapr.event.sent");
        ((string)ce["specversion"]!).Should().Be("1.0");
        ((string)ce["datacontenttype"]!).Should().Be("application/json");
        ((string)ce["topic"]!).Should().Be("orders");
        ((string)ce["pubsubname"]!).Should().Be(TestApp.PubSub);
        ((string)ce["traceparent"]!).Should().MatchRegex("^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$");
        ((string)ce["traceid"]!).Should().Be((string)ce["traceparent"]!, "traceid and traceparent carry the same W3C value");
        ce["data"]!["marker"]!.GetValue<string>().Should().Be(marker);
        ce["data"]!["qty"]!.GetValue<int>().Should().Be(2);
        ce.ContainsKey("data_base64").Should().BeFalse();
    }

    [Fact]
    public async Task Delivery_request_has_exact_content_type_pubsubName_and_traceparent_headers()
    {
        var marker = NewMarker();
        await H.Dapr.PublishEventAsync(TestApp.PubSub, "orders", new { marker });
        var r = await Arrival("/orders", marker);
        r.Method.Should().Be("POST");
        r.RawContentType.Should().Be("application/cloudevents+json", "UseCloudEvents matches it case-sensitively (dotnet-sdk src/Dapr.AspNetCore/CloudEventsMiddleware.cs)");
        r.Header("pubsubName").Should().Be(TestApp.PubSub);
        r.Header("traceparent").Should().MatchRegex("^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$");
        r.Headers.Should().NotContainKey("dapr-api-token", "no APP_API_TOKEN is configured");
    }

    [Fact]
    public async Task UseCloudEvents_unwraps_data_for_the_endpoint()
    {
        var marker = NewMarker();
        await H.Dapr.PublishEventAsync(TestApp.PubSub, "orders", new { marker, nested = new { v = 1 } });
        var r = await Arrival("/orders", marker);
        var body = JsonNode.Parse(r.Body)!;
        body["marker"]!.GetValue<string>().Should().Be(marker);
        body["nested"]!["v"]!.GetValue<int>().Should().Be(1);
    }

    [Fact]
    public async Task Envelope_json_keys_are_sorted_and_time_is_rfc3339_seconds()
    {
        var marker = NewMarker();
        await H.Dapr.PublishEventAsync(TestApp.PubSub, "orders", new { marker });
        var r = await Arrival("/orders", marker);
        var keys = r.Envelope.Select(kv => kv.Key).ToList();
        keys.Should().BeInAscendingOrder(StringComparer.Ordinal, "daprd's envelope is a Go map, marshalled with sorted keys (components-contrib pubsub/envelope.go)");
        ((string)r.Envelope["time"]!).Should().MatchRegex(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$");
    }

    [Fact]
    public async Task Publish_metadata_arrives_as_delivery_headers()
    {
        var marker = NewMarker();
        await H.Dapr.PublishEventAsync(TestApp.PubSub, "orders", new { marker }, new Dictionary<string, string> { ["foo"] = "bar" });
        var r = await Arrival("/orders", marker);
        r.Header("foo").Should().Be("bar");
    }

    [Fact]
    public async Task TtlInSeconds_sets_expiration()
    {
        var marker = NewMarker();
        var before = DateTimeOffset.UtcNow;
        await H.Dapr.PublishEventAsync(TestApp.PubSub, "orders", new { marker }, new Dictionary<string, string> { ["ttlInSeconds"] = "120" });
        var r = await Arrival("/orders", marker);
        var expiration = (string)r.Envelope["expiration"]!;
        expiration.Should().NotBeNull();
        var at = DateTimeOffset.Parse(expiration, CultureInfo.InvariantCulture);
        at.Should().BeCloseTo(before.AddSeconds(120), TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Cloudevent_metadata_overrides_type_id_and_source()
    {
        var marker = NewMarker();
        await H.Dapr.PublishEventAsync(TestApp.PubSub, "orders", new { marker }, new Dictionary<string, string>
        {
            ["cloudevent.type"] = "my.custom.type",
            ["cloudevent.id"] = "id-" + marker,
            ["cloudevent.source"] = "my-source",
        });
        var r = await Arrival("/orders", marker);
        ((string)r.Envelope["type"]!).Should().Be("my.custom.type");
        ((string)r.Envelope["id"]!).Should().Be("id-" + marker);
        ((string)r.Envelope["source"]!).Should().Be("my-source");
    }

    [Fact]
    public async Task RawPayload_publish_is_wrapped_by_a_rawPayload_subscription_as_octet_stream()
    {
        var marker = NewMarker();
        await H.Dapr.PublishEventAsync(TestApp.PubSub, "raw", new { marker }, new Dictionary<string, string> { ["rawPayload"] = "true" });
        var r = await Wait.ForAsync(() => App.At("/raw").FirstOrDefault(x => x.Body.Contains(marker)), "raw event");
        var ce = r.Envelope;
        r.RawContentType.Should().Be("application/cloudevents+json");
        ((string)ce["datacontenttype"]!).Should().Be("application/octet-stream");
        ((string)ce["source"]!).Should().Be("Dapr", "FromRawPayload uses source Dapr (components-contrib pubsub/envelope.go)");
        ((string)ce["type"]!).Should().Be("com.dapr.event.sent");
        ((string)ce["specversion"]!).Should().Be("1.0");
        ((string)ce["topic"]!).Should().Be("raw");
        ((string)ce["pubsubname"]!).Should().Be(TestApp.PubSub);
        ce.ContainsKey("data").Should().BeFalse();
        var payload = Encoding.UTF8.GetString(Convert.FromBase64String((string)ce["data_base64"]!));
        var published = JsonNode.Parse(payload)!;
        published["marker"]!.GetValue<string>().Should().Be(marker, "the raw payload is the published bytes with no Dapr envelope");
        published.AsObject().ContainsKey("specversion").Should().BeFalse();
    }

    [Fact]
    public async Task Http_publish_returns_204_empty()
    {
        using var resp = await Publish("orders", SidecarClients.Json($"{{\"marker\":\"{NewMarker()}\"}}"));
        resp.StatusCode.Should().Be(HttpStatusCode.NoContent);
        (await resp.Content.ReadAsByteArrayAsync()).Should().BeEmpty();
    }

    [Fact]
    public async Task Http_publish_with_put_is_accepted()
    {
        var marker = NewMarker();
        using var req = new HttpRequestMessage(HttpMethod.Put, "/v1.0/publish/pubsub/orders") { Content = SidecarClients.Json($"{{\"marker\":\"{marker}\"}}") };
        using var resp = await H.Http.SendAsync(req);
        resp.StatusCode.Should().Be(HttpStatusCode.NoContent);
        await Arrival("/orders", marker);
    }

    [Fact]
    public async Task Unknown_pubsub_is_404_ERR_PUBSUB_NOT_FOUND()
    {
        using var resp = await Publish("orders", SidecarClients.Json("{}"), pubsub: "nope");
        resp.StatusCode.Should().Be(HttpStatusCode.NotFound);
        resp.Content.Headers.ContentType!.MediaType.Should().Be("application/json");
        var body = JsonNode.Parse(await resp.Content.ReadAsStringAsync())!;
        ((string)body["errorCode"]!).Should().Be("ERR_PUBSUB_NOT_FOUND");
        ((string)body["message"]!).Should().Be("pubsub nope is not found");
    }

    [Fact]
    public async Task Application_json_body_is_parsed_into_data()
    {
        var marker = NewMarker();
        (await Publish("orders", SidecarClients.Json($"{{\"marker\":\"{marker}\",\"n\":1}}"))).StatusCode.Should().Be(HttpStatusCode.NoContent);
        var ce = (await Arrival("/orders", marker)).Envelope;
        ((string)ce["datacontenttype"]!).Should().Be("application/json");
        ce["data"]!.GetValueKind().Should().Be(JsonValueKind.Object);
        ce["data"]!["n"]!.GetValue<int>().Should().Be(1);
    }

    [Fact]
    public async Task Application_json_that_does_not_parse_becomes_string_data()
    {
        var marker = NewMarker();
        var text = $"not json {marker}";
        (await Publish("orders", new StringContent(text, new MediaTypeHeaderValue("application/json")))).StatusCode.Should().Be(HttpStatusCode.NoContent);
        var ce = (await Arrival("/orders", marker)).Envelope;
        ce["data"]!.GetValueKind().Should().Be(JsonValueKind.String);
        ((string)ce["data"]!).Should().Be(text);
    }

    [Fact]
    public async Task Text_plain_body_becomes_string_data()
    {
        var marker = NewMarker();
        (await Publish("orders", new StringContent($"hello {marker}", new MediaTypeHeaderValue("text/plain")))).StatusCode.Should().Be(HttpStatusCode.NoContent);
        var ce = (await Arrival("/orders", marker)).Envelope;
        ((string)ce["datacontenttype"]!).Should().Be("text/plain");
        ((string)ce["data"]!).Should().Be($"hello {marker}");
    }

    [Fact]
    public async Task Missing_content_type_gives_text_plain_string_data()
    {
        var marker = NewMarker();
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes($"{{\"marker\":\"{marker}\"}}"));
        content.Headers.ContentType.Should().BeNull();
        (await Publish("orders", content)).StatusCode.Should().Be(HttpStatusCode.NoContent);
        var ce = (await Arrival("/orders", marker)).Envelope;
        ((string)ce["datacontenttype"]!).Should().Be("text/plain");
        ce["data"]!.GetValueKind().Should().Be(JsonValueKind.String, "without Content-Type the body is not parsed as JSON");
    }

    [Fact]
    public async Task Octet_stream_body_becomes_data_base64()
    {
        var bytes = Guid.NewGuid().ToByteArray().Concat(new byte[] { 0, 255, 1 }).ToArray();
        var b64 = Convert.ToBase64String(bytes);
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        (await Publish("orders", content)).StatusCode.Should().Be(HttpStatusCode.NoContent);
        var r = await Wait.ForAsync(() => App.At("/orders").FirstOrDefault(x => DataBase64(x) == b64), "octet-stream event");
        var ce = r.Envelope;
        ((string)ce["datacontenttype"]!).Should().Be("application/octet-stream");
        ((string)ce["data_base64"]!).Should().Be(b64);
        ce.ContainsKey("data").Should().BeFalse();
    }

    [Fact]
    public async Task User_cloudevent_is_passed_through_with_topic_and_pubsubname_added()
    {
        var marker = NewMarker();
        var userEvent = $$$"""{"specversion":"1.0","id":"user-{{{marker}}}","source":"user-source","type":"user.type","datacontenttype":"application/json","data":{"marker":"{{{marker}}}"}}""";
        (await Publish("orders", new StringContent(userEvent, new MediaTypeHeaderValue("application/cloudevents+json")))).StatusCode.Should().Be(HttpStatusCode.NoContent);
        var ce = (await Arrival("/orders", marker)).Envelope;
        ((string)ce["id"]!).Should().Be($"user-{marker}");
        ((string)ce["source"]!).Should().Be("user-source");
        ((string)ce["type"]!).Should().Be("user.type");
        ((string)ce["topic"]!).Should().Be("orders");
        ((string)ce["pubsubname"]!).Should().Be(TestApp.PubSub);
        ce.ContainsKey("time").Should().BeTrue("daprd adds time when missing");
        ((string)ce["traceparent"]!).Should().NotBeNullOrEmpty("daprd adds trace fields when missing");
        ce["data"]!["marker"]!.GetValue<string>().Should().Be(marker);
    }

    [Fact]
    public async Task User_cloudevent_gets_defaults_and_ignores_cloudevent_overrides()
    {
        var marker = NewMarker();
        var userEvent = $$"""{"id":"user-{{marker}}","data":"{{marker}}"}""";
        (await Publish("orders", new StringContent(userEvent, new MediaTypeHeaderValue("application/cloudevents+json")), "?metadata.cloudevent.type=ignored.type")).StatusCode.Should().Be(HttpStatusCode.NoContent);
        var ce = (await Arrival("/orders", marker)).Envelope;
        ((string)ce["source"]!).Should().Be("Dapr");
        ((string)ce["type"]!).Should().Be("com.dapr.event.sent", "cloudevent.* overrides do not apply to user cloudevents (daprd pkg/runtime/pubsub/cloudevents.go)");
        ((string)ce["specversion"]!).Should().Be("1.0");
    }

    [Fact]
    public async Task Plus_json_content_types_are_not_parsed()
    {
        var marker = NewMarker();
        var json = $"{{\"marker\":\"{marker}\"}}";
        (await Publish("orders", new StringContent(json, new MediaTypeHeaderValue("application/vnd.custom+json")))).StatusCode.Should().Be(HttpStatusCode.NoContent);
        var ce = (await Arrival("/orders", marker)).Envelope;
        ((string)ce["datacontenttype"]!).Should().Be("application/vnd.custom+json");
        ce["data"]!.GetValueKind().Should().Be(JsonValueKind.String);
        ((string)ce["data"]!).Should().Be(json);
    }

    [Fact]
    public async Task Query_metadata_overrides_and_headers_via_http()
    {
        var marker = NewMarker();
        (await Publish("orders", SidecarClients.Json($"{{\"marker\":\"{marker}\"}}"), "?metadata.cloudevent.type=http.type&metadata.color=blue")).StatusCode.Should().Be(HttpStatusCode.NoContent);
        var r = await Arrival("/orders", marker);
        ((string)r.Envelope["type"]!).Should().Be("http.type");
        r.Header("color").Should().Be("blue");
    }

    [Fact]
    public async Task Invalid_rawPayload_metadata_is_400_ERR_PUBSUB_REQUEST_METADATA()
    {
        using var resp = await Publish("orders", SidecarClients.Json("{}"), "?metadata.rawPayload=notabool");
        resp.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        ((string)JsonNode.Parse(await resp.Content.ReadAsStringAsync())!["errorCode"]!).Should().Be("ERR_PUBSUB_REQUEST_METADATA");
    }

    [Fact]
    public async Task Bulk_publish_returns_204_and_delivers_each_entry()
    {
        var m1 = NewMarker();
        var m2 = NewMarker();
        var body = $$"""[{"entryId":"1","event":{"marker":"{{m1}}"},"contentType":"application/json"},{"entryId":"2","event":"text {{m2}}","contentType":"text/plain"}]""";
        using var resp = await H.Http.PostAsync("/v1.0-alpha1/publish/bulk/pubsub/orders", SidecarClients.Json(body));
        resp.StatusCode.Should().Be(HttpStatusCode.NoContent);
        var first = (await Arrival("/orders", m1)).Envelope;
        first["data"]!["marker"]!.GetValue<string>().Should().Be(m1);
        var second = (await Arrival("/orders", m2)).Envelope;
        ((string)second["data"]!).Should().Be($"text {m2}");
        ((string)second["datacontenttype"]!).Should().Be("text/plain");
    }

    [Fact]
    public async Task Bulk_publish_with_duplicate_entryId_is_400_ERR_PUBSUB_EVENTS_SER()
    {
        var body = """[{"entryId":"1","event":{"a":1},"contentType":"application/json"},{"entryId":"1","event":{"a":2},"contentType":"application/json"}]""";
        using var resp = await H.Http.PostAsync("/v1.0-alpha1/publish/bulk/pubsub/orders", SidecarClients.Json(body));
        resp.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        ((string)JsonNode.Parse(await resp.Content.ReadAsStringAsync())!["errorCode"]!).Should().Be("ERR_PUBSUB_EVENTS_SER");
    }

    [Fact]
    public async Task Bulk_publish_without_entryId_is_400_ERR_PUBSUB_EVENTS_SER()
    {
        var body = """[{"event":{"a":1},"contentType":"application/json"}]""";
        using var resp = await H.Http.PostAsync("/v1.0-alpha1/publish/bulk/pubsub/orders", SidecarClients.Json(body));
        resp.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        ((string)JsonNode.Parse(await resp.Content.ReadAsStringAsync())!["errorCode"]!).Should().Be("ERR_PUBSUB_EVENTS_SER");
    }

    [Fact]
    public async Task PublishByteEventAsync_octet_stream_arrives_as_data_base64()
    {
        var bytes = Guid.NewGuid().ToByteArray();
        var b64 = Convert.ToBase64String(bytes);
        await H.Dapr.PublishByteEventAsync(TestApp.PubSub, "orders", bytes, "application/octet-stream");
        var r = await Wait.ForAsync(() => App.At("/orders").FirstOrDefault(x => DataBase64(x) == b64), "byte event");
        ((string)r.Envelope["datacontenttype"]!).Should().Be("application/octet-stream");
        ((string)r.Envelope["data_base64"]!).Should().Be(b64);
    }

    [Fact]
    public async Task BulkPublishEventAsync_delivers_every_entry()
    {
        var markers = Enumerable.Range(0, 3).Select(_ => NewMarker()).ToList();
        var result = await H.Dapr.BulkPublishEventAsync(TestApp.PubSub, "orders", markers.Select(m => new { marker = m }).ToList());
        result.FailedEntries.Should().BeEmpty();
        foreach (var m in markers)
            (await Arrival("/orders", m)).Envelope["data"]!["marker"]!.GetValue<string>().Should().Be(m);
    }

    [Fact]
    public async Task Event_published_by_another_sidecar_has_that_app_as_source()
    {
        // The dev sidecar's in-memory broker is shared in-process (documented difference), so a second app id can publish to this app.
        var publisher = await H.StartPeerSidecarAsync("publisher");
        using var dapr = SidecarClients.Dapr(publisher);
        var marker = NewMarker();
        await dapr.PublishEventAsync(TestApp.PubSub, "orders", new { marker });
        ((string)(await Arrival("/orders", marker)).Envelope["source"]!).Should().Be(publisher.AppId);
    }

    [Fact]
    public async Task Topic_may_contain_slashes()
    {
        var marker = NewMarker();
        (await Publish("nested/topic", SidecarClients.Json($"{{\"marker\":\"{marker}\"}}"))).StatusCode.Should().Be(HttpStatusCode.NoContent);
        var r = await Arrival("/decl/nested", marker);
        ((string)r.Envelope["topic"]!).Should().Be("nested/topic");
    }

    [Fact]
    public async Task Unknown_pubsub_error_carries_rich_details()
    {
        using var resp = await Publish("orders", SidecarClients.Json("{}"), pubsub: "nope");
        var body = JsonNode.Parse(await resp.Content.ReadAsStringAsync())!;
        var details = body["details"]!.AsArray().Select(d => d!.AsObject()).ToList();
        var info = details.Single(d => (string)d["@type"]! == "type.googleapis.com/google.rpc.ErrorInfo");
        ((string)info["reason"]!).Should().Be("DAPR_PUBSUB_NOT_FOUND");
        ((string)info["domain"]!).Should().Be("dapr.io");
        var resource = details.Single(d => (string)d["@type"]! == "type.googleapis.com/google.rpc.ResourceInfo");
        ((string)resource["resource_type"]!).Should().Be("pubsub", "ResourceInfo keys are snake_case (dapr/kit@6e5616a errors/errors.go)");
        ((string)resource["resource_name"]!).Should().Be("nope");
    }

    [Fact]
    public async Task Bulk_publish_is_also_registered_under_v1_0()
    {
        var marker = NewMarker();
        var body = $$$"""[{"entryId":"a","event":{"marker":"{{{marker}}}"},"contentType":"application/json"}]""";
        using var resp = await H.Http.PostAsync("/v1.0/publish/bulk/pubsub/orders", SidecarClients.Json(body));
        resp.StatusCode.Should().Be(HttpStatusCode.NoContent);
        await Arrival("/orders", marker);
    }

    [Fact]
    public async Task Bulk_publish_entry_content_type_mismatch_is_400()
    {
        var body = """[{"entryId":"a","event":{"not":"base64"},"contentType":"application/octet-stream"}]""";
        using var resp = await H.Http.PostAsync("/v1.0-alpha1/publish/bulk/pubsub/orders", SidecarClients.Json(body));
        resp.StatusCode.Should().Be(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task Http_publish_uses_the_callers_trace_context()
    {
        var marker = NewMarker();
        var traceId = Guid.NewGuid().ToString("N");
        using var req = new HttpRequestMessage(HttpMethod.Post, "/v1.0/publish/pubsub/orders") { Content = SidecarClients.Json($"{{\"marker\":\"{marker}\"}}") };
        req.Headers.TryAddWithoutValidation("traceparent", $"00-{traceId}-0123456789abcdef-01");
        (await H.Http.SendAsync(req)).StatusCode.Should().Be(HttpStatusCode.NoContent);
        var ce = (await Arrival("/orders", marker)).Envelope;
        ((string)ce["traceparent"]!).Split('-')[1].Should().Be(traceId);
    }

    [Fact]
    public async Task Cloudevent_override_keys_are_case_insensitive()
    {
        var marker = NewMarker();
        (await Publish("orders", SidecarClients.Json($"{{\"marker\":\"{marker}\"}}"), "?metadata.cloudevent.TYPE=upper.type")).StatusCode.Should().Be(HttpStatusCode.NoContent);
        ((string)(await Arrival("/orders", marker)).Envelope["type"]!).Should().Be("upper.type", "overrides are matched with mapstructure WeakDecode (daprd pkg/runtime/pubsub/cloudevents.go)");
    }

    [Fact]
    public async Task Application_json_with_parameters_is_parsed()
    {
        var marker = NewMarker();
        (await Publish("orders", new StringContent($"{{\"marker\":\"{marker}\"}}", Encoding.UTF8, "application/json"))).StatusCode.Should().Be(HttpStatusCode.NoContent);
        var ce = (await Arrival("/orders", marker)).Envelope;
        ce["data"]!.GetValueKind().Should().Be(JsonValueKind.Object, "a ;params suffix still counts as application/json (components-contrib contenttype/utils.go)");
    }

    [Fact]
    public async Task Invalid_cloudevent_body_is_500_ERR_PUBSUB_CLOUD_EVENTS_SER()
    {
        using var resp = await Publish("orders", new StringContent("{not json", new MediaTypeHeaderValue("application/cloudevents+json")));
        resp.StatusCode.Should().Be(HttpStatusCode.InternalServerError);
        ((string)JsonNode.Parse(await resp.Content.ReadAsStringAsync())!["errorCode"]!).Should().Be("ERR_PUBSUB_CLOUD_EVENTS_SER");
    }

    [Fact]
    public async Task Cloudevent_traceparent_and_subject_overrides()
    {
        var marker = NewMarker();
        var tp = $"00-{Guid.NewGuid():N}-0123456789abcdef-01";
        await H.Dapr.PublishEventAsync(TestApp.PubSub, "orders", new { marker }, new Dictionary<string, string>
        {
            ["cloudevent.traceparent"] = tp,
            ["cloudevent.traceid"] = "00-ffffffffffffffffffffffffffffffff-0123456789abcdef-01",
            ["cloudevent.subject"] = "subj-1",
        });
        var ce = (await Arrival("/orders", marker)).Envelope;
        ((string)ce["traceparent"]!).Should().Be(tp);
        ((string)ce["traceid"]!).Should().Be(tp, "traceparent wins over traceid (daprd pkg/runtime/pubsub/cloudevents.go)");
        ((string)ce["subject"]!).Should().Be("subj-1");
    }

    [Fact]
    public async Task Query_metadata_prefix_is_case_sensitive_and_first_value_wins()
    {
        var marker = NewMarker();
        (await Publish("orders", SidecarClients.Json($"{{\"marker\":\"{marker}\"}}"), "?Metadata.color=red&metadata.shade=dark&metadata.shade=light")).StatusCode.Should().Be(HttpStatusCode.NoContent);
        var r = await Arrival("/orders", marker);
        r.Header("shade").Should().Be("dark", "only the first value is used (daprd pkg/api/http, getMetadataFromRequest)");
        r.Headers.Should().NotContainKey("color", "the metadata. prefix is case-sensitive (daprd pkg/api/http, getMetadataFromRequest)");
    }
}
