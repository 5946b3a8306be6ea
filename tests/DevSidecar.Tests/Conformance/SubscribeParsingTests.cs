using System.Text.Json.Nodes;
using DevSidecar.Tests.Conformance.Harness;

namespace DevSidecar.Tests.Conformance;

// Oracle (versions: Conformance/README.md): GET /dapr/subscribe (404 = no subscriptions, other statuses = none, empty
// body allowed, case-insensitive keys, routes.default wins over route, leading '/' added), daprd dapr/dapr@d8450742
// pkg/runtime/pubsub/subscriptions.go (GetSubscriptionsHTTP); what MapSubscribeHandler writes instead,
// dapr/dotnet-sdk@9a16009d src/Dapr.AspNetCore/DaprEndpointRouteBuilderExtensions.cs.
// The app answers /dapr/subscribe with a hand-written body instead of MapSubscribeHandler.
public sealed class SubscribeParsingTests
{
    private static string NewMarker() => Guid.NewGuid().ToString("N");

    private static async Task<List<JsonObject>> Subscriptions(Harness.Harness h) =>
        JsonNode.Parse(await h.Http.GetStringAsync("/v1.0/metadata"))!["subscriptions"]?.AsArray().Select(s => s!.AsObject()).ToList() ?? [];

    [Theory]
    [InlineData(404, "")]
    [InlineData(500, "boom")]
    [InlineData(200, "")]
    public async Task No_programmatic_subscriptions_but_declarative_ones_work(int status, string body)
    {
        await using var h = await Harness.Harness.StartAsync(new HarnessOptions { Subscribe = new(status, body) });
        h.Sidecar.Ready.IsCompletedSuccessfully.Should().BeTrue();
        (await Subscriptions(h)).Should().NotContain(s => (string)s["type"]! == "PROGRAMMATIC");
        var marker = NewMarker();
        await h.Dapr.PublishEventAsync(TestApp.PubSub, "decl-v1", new { marker });
        await Wait.ForAsync(() => h.RequireApp.At("/decl/v1", marker).FirstOrDefault(), "declarative delivery");
    }

    [Fact]
    public async Task Keys_are_case_insensitive_default_wins_over_route_and_leading_slash_is_added()
    {
        var body = """
            [
              {"PUBSUBNAME":"pubsub","Topic":"custom","route":"/decl/custom-route","Routes":{"Default":"decl/custom-default"}},
              {"pubsubname":"pubsub","topic":"custom-v1","route":"decl/custom-v1"},
              {"pubsubName":"pubsub","topic":"custom-rules","routes":{"rules":[{"match":"event.type == \"r\"","path":"decl/custom-rule"}],"default":"/decl/custom-rules-default"}}
            ]
            """;
        await using var h = await Harness.Harness.StartAsync(new HarnessOptions { Subscribe = new(200, body) });
        var app = h.RequireApp;

        var m1 = NewMarker();
        await h.Dapr.PublishEventAsync(TestApp.PubSub, "custom", new { marker = m1 });
        (await Wait.ForAsync(() => app.Received.FirstOrDefault(r => r.RawBody.Contains(m1)), "custom")).Path.Should().Be("/decl/custom-default");

        var m2 = NewMarker();
        await h.Dapr.PublishEventAsync(TestApp.PubSub, "custom-v1", new { marker = m2 });
        (await Wait.ForAsync(() => app.Received.FirstOrDefault(r => r.RawBody.Contains(m2)), "custom-v1")).Path.Should().Be("/decl/custom-v1");

        var m3 = NewMarker();
        await h.Dapr.PublishEventAsync(TestApp.PubSub, "custom-rules", new { marker = m3 }, new Dictionary<string, string> { ["cloudevent.type"] = "r" });
        (await Wait.ForAsync(() => app.Received.FirstOrDefault(r => r.RawBody.Contains(m3)), "custom-rules")).Path.Should().Be("/decl/custom-rule");

        var subs = await Subscriptions(h);
        subs.Where(s => (string)s["type"]! == "PROGRAMMATIC").Select(s => (string)s["topic"]!).Should().BeEquivalentTo(["custom", "custom-v1", "custom-rules"]);
    }
}
