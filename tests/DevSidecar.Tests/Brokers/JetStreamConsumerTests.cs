using System.Net;
using DevSidecar.Hosting;
using DevSidecar.Tests.Conformance.Harness;
using Microsoft.Extensions.Logging;
using NATS.Client.Core;
using NATS.Client.JetStream;

namespace DevSidecar.Tests.Brokers;

/// <summary>
/// Where nats-server and nats.go accept or refuse pubsub.jetstream's subscriptions, as daprd meets them
/// (components-contrib v1.17.6 pubsub/jetstream/jetstream.go with nats.go v1.39.1 jsm.go AddConsumer / js.go
/// processConsInfo; daprd 1.17.9 pkg/runtime/processor/subscriber/subscriber.go logs a failed Subscribe, keeps the app
/// running and retries). Streams are made as a user makes them; the sidecar never creates one. Each test has fresh
/// topics and app ids on the class's nats-server.
/// </summary>
[RequiresBroker("nats-server")]
public sealed class JetStreamConsumerTests(NatsServerProcess nats) : IClassFixture<NatsServerProcess>, IAsyncLifetime
{
    private readonly List<Cluster> _clusters = [];

    private static string Topic() => $"t-{Guid.NewGuid():N}"[..14];
    private static string Marker() => Guid.NewGuid().ToString("N")[..12];

    /// <summary>Sidecars on a pubsub.jetstream component with exactly <paramref name="metadata"/> (plus natsURL);
    /// each delivery is tried once, so a failure goes straight back to the broker.</summary>
    private Cluster ClusterWith(params (string Key, string Value)[] metadata)
    {
        var cluster = Harness.ClusterWith(ComponentYaml.Join(
                ComponentYaml.Of("pubsub", "pubsub.jetstream", [("natsURL", nats.Url), .. metadata]),
                ComponentYaml.Of("statestore", "state.in-memory")),
            new HarnessOptions { DeliveryRetries = null });
        _clusters.Add(cluster);
        return cluster;
    }

    /// <summary>The suite's settings: durable consumer and deliver group per app id.</summary>
    private Cluster SuiteCluster(string ackWait = "1s") =>
        ClusterWith(("durableName", "{appID}"), ("queueGroupName", "{appID}"), ("ackWait", ackWait), ("maxDeliver", "10"));

    private static async Task<(EventSinkApp App, Sidecar Sidecar)> StartAsync(Cluster cluster, string appId, params string[] topics)
    {
        var app = cluster.Own(await EventSinkApp.StartAsync(topics));
        return (app, await cluster.StartReadySidecarAsync(appId, app.Port));
    }

    [BrokerFact]
    public async Task A_topic_no_stream_stores_is_refused_until_its_stream_exists_while_the_app_runs()
    {
        var topic = Topic();
        var cluster = SuiteCluster();
        var (app, sidecar) = await StartAsync(cluster, Harness.NewAppId("nostream"), topic);

        cluster.Logs.Any(LogLevel.Error,
                $"Failed to start subscription for pubsub pubsub, topic {topic}: failed to subscribe to topic {topic}: nats: no stream matches subject")
            .Should().BeTrue("daprd logs the refused subscription and goes on");
        using (var refused = await SidecarClients.PublishAsync(sidecar, topic, Marker()))
        {
            refused.StatusCode.Should().Be(HttpStatusCode.InternalServerError);
            (await refused.Content.ReadAsStringAsync()).Should().Contain("ERR_PUBSUB_PUBLISH_MESSAGE").And.Contain("nats: no response from stream");
        }

        await nats.CreateTopicsAsync(topic);
        await Wait.UntilAsync(() => cluster.Logs.Any(LogLevel.Information, $"Successfully started subscription after retry for pubsub pubsub, topic {topic}"),
            "the subscription retried in the background");
        var marker = Marker();
        await SidecarClients.PublishOkAsync(sidecar, topic, marker);
        await Wait.UntilAsync(() => app.HasHandled(marker), "the event delivered once the stream exists");
    }

    [BrokerFact]
    public async Task One_app_gets_only_one_of_two_topics_stored_in_one_stream()
    {
        var (first, second) = (Topic(), Topic());
        await JetStreamStreams.CreateAsync(nats.Url, [new JetStreamStreams.Stream($"shared-{first}", [first, second])]);
        var cluster = SuiteCluster();
        var (app, sidecar) = await StartAsync(cluster, Harness.NewAppId("shared"), first, second);

        // Both subscriptions use the consumer named durableName; the one made second finds the first one's filter.
        await Wait.UntilAsync(() => cluster.Logs.Any(LogLevel.Error, "nats: subject does not match consumer"), "the second topic refused");
        var (markerFirst, markerSecond) = (Marker(), Marker());
        await SidecarClients.PublishOkAsync(sidecar, first, markerFirst);
        await SidecarClients.PublishOkAsync(sidecar, second, markerSecond);
        await Wait.UntilAsync(() => app.Handled.Count == 1, "one of the two topics delivered");
        await Wait.StaysAsync(() => app.Delivered.Count == 1, "the other topic never delivered");
    }

    [BrokerFact]
    public async Task Instances_of_one_app_id_share_the_first_ones_push_consumer_and_deliver_group()
    {
        var topic = Topic();
        await nats.CreateTopicsAsync(topic);
        var appId = Harness.NewAppId("pair");
        var cluster = SuiteCluster();
        await StartAsync(cluster, appId, topic);
        await StartAsync(cluster, appId, topic);

        await using var connection = new NatsConnection(new NatsOpts { Url = nats.Url });
        var js = new NatsJSContext(connection);
        var consumers = new List<string>();
        await foreach (var name in js.ListConsumerNamesAsync(topic)) consumers.Add(name);
        consumers.Should().Equal([appId], "contrib names the consumer durableName, once for all instances");
        var config = (await js.GetConsumerAsync(topic, appId)).Info.Config;
        config.DeliverGroup.Should().Be(appId, "a push consumer whose deliver group is queueGroupName");
        config.DeliverSubject.Should().StartWith("_INBOX.");
        config.FilterSubject.Should().Be(topic);
        cluster.Logs.Any(LogLevel.Error, "subscription").Should().BeFalse("the second instance joins without being refused");
    }

    /// <summary>
    /// As `dapr run -f` starts them: both may find no consumer and create one; the server then refuses the later
    /// create while the other inbox has a subscriber ("consumer name already in use"), and the refused sidecar joins on
    /// its retry. Either way both end up taking events.
    /// </summary>
    [BrokerFact]
    public async Task Instances_started_at_once_end_up_competing()
    {
        var topic = Topic();
        await nats.CreateTopicsAsync(topic);
        var appId = Harness.NewAppId("race");
        var cluster = SuiteCluster();
        var started = await Task.WhenAll(StartAsync(cluster, appId, topic), StartAsync(cluster, appId, topic));
        var (first, second) = (started[0].App, started[1].App);

        await Wait.UntilAsync(async () =>
        {
            await SidecarClients.PublishOkAsync(started[0].Sidecar, topic, Marker());
            return first.Handled.Count > 0 && second.Handled.Count > 0;
        }, "both instances taking events", Wait.EndToEndTimeout);
    }

    [BrokerFact]
    public async Task An_instance_whose_settings_differ_from_the_consumers_is_refused_and_gets_nothing()
    {
        var topic = Topic();
        await nats.CreateTopicsAsync(topic);
        var appId = Harness.NewAppId("drift");
        var (first, publisher) = await StartAsync(SuiteCluster(ackWait: "1s"), appId, topic);
        var changed = SuiteCluster(ackWait: "2s");
        var (second, _) = await StartAsync(changed, appId, topic);

        changed.Logs.Any(LogLevel.Error, $"nats: consumer name already in use: creating consumer \"{appId}\" on stream \"{topic}\"")
            .Should().BeTrue("nats.go compares the settings with the existing consumer's and refuses");
        var markers = Enumerable.Range(0, 6).Select(_ => Marker()).ToList();
        foreach (var marker in markers) await SidecarClients.PublishOkAsync(publisher, topic, marker);
        await Wait.UntilAsync(() => first.Handled.Count == markers.Count, "every event handled by the first instance");
        second.Delivered.Should().BeEmpty();
    }

    [BrokerFact]
    public async Task Without_queueGroupName_a_second_instance_is_refused()
    {
        var topic = Topic();
        await nats.CreateTopicsAsync(topic);
        var appId = Harness.NewAppId("solo");
        var cluster = ClusterWith(("durableName", "{appID}"), ("ackWait", "1s"));
        var (first, publisher) = await StartAsync(cluster, appId, topic);
        var (second, _) = await StartAsync(cluster, appId, topic);

        cluster.Logs.Any(LogLevel.Error, "consumer is already bound to a subscription").Should().BeTrue();
        var marker = Marker();
        await SidecarClients.PublishOkAsync(publisher, topic, marker);
        await Wait.UntilAsync(() => first.HasHandled(marker), "the event handled by the first instance");
        await Wait.StaysAsync(() => second.Delivered.Count == 0, "nothing for the refused instance");
    }

    [BrokerFact]
    public async Task With_parallel_concurrency_a_failed_delivery_is_not_redelivered()
    {
        var topic = Topic();
        await nats.CreateTopicsAsync(topic);
        var cluster = ClusterWith(("durableName", "{appID}"), ("queueGroupName", "{appID}"), ("ackWait", "1s"), ("concurrencyMode", "parallel"));
        var (app, sidecar) = await StartAsync(cluster, Harness.NewAppId("parallel"), topic);
        app.Behaviour = (_, _) => Task.FromResult(500);
        var marker = Marker();
        await SidecarClients.PublishOkAsync(sidecar, topic, marker);

        await Wait.UntilAsync(() => app.Attempts(marker) == 1, "the event delivered");
        // nats.go acked it on receipt (contrib asks for no manual acks), so the NAK finds it acknowledged.
        await Wait.StaysAsync(() => app.Attempts(marker) == 1, "no redelivery after ackWait", TimeSpan.FromSeconds(3));
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var cluster in _clusters) await cluster.DisposeAsync();
    }
}
