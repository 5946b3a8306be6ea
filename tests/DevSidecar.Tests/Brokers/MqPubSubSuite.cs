using DevSidecar.Hosting;
using DevSidecar.Tests.Conformance.Harness;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace DevSidecar.Tests.Brokers;

/// <summary>
/// What a real broker behind the dev sidecar must do (consumer groups and redelivery: dapr/components-contrib@c23900d2
/// pubsub/jetstream/ and pubsub/rabbitmq/;
/// https://docs.dapr.io/developing-applications/building-blocks/pubsub/pubsub-overview/, "At-least-once guarantee" and
/// "Consumer groups and competing consumers"), run against each broker by a subclass: the CloudEvent and headers
/// arrive; instances of one app id compete; app ids fan out; a failed or interrupted delivery is redelivered; the
/// sidecar survives the broker restarting (a broker down at start-up stops it: <see cref="UnreachableBrokerTests"/>). Every test uses fresh topics and app ids, so tests
/// sharing the class's broker do not see each other's events; it makes its topics usable first as a user would
/// (<see cref="BrokerServer.CreateTopicsAsync"/>: a stream each on JetStream, nothing elsewhere).
/// </summary>
public abstract class MqPubSubSuite<TBroker> : IAsyncLifetime where TBroker : BrokerServer
{
    private readonly TBroker _broker;
    private readonly ITestOutputHelper _output;
    private readonly Cluster _run;

    /// <summary>The broker's pub/sub and an in-memory state store. No Resiliency resource: deliveries are attempted
    /// once by the sidecar, as by daprd, so a failure goes straight back to the broker.</summary>
    protected MqPubSubSuite(TBroker broker, ITestOutputHelper output)
    {
        _broker = broker;
        _output = output;
        _run = new Cluster(Harness.ClusterOptions(
            new Dictionary<string, string> { ["pubsub.yaml"] = broker.PubSubYaml(), ["statestore.yaml"] = ComponentYaml.Of("statestore", "state.in-memory") },
            new HarnessOptions { DeliveryRetries = null }));
    }

    private static string Marker() => Guid.NewGuid().ToString("N")[..12];
    private static string AppId(string prefix) => Harness.NewAppId(prefix);
    private static string Topic() => $"t-{Guid.NewGuid():N}"[..14];

    /// <summary>An app subscribed to <paramref name="topics"/> and its sidecar, ready (subscriptions started).</summary>
    private async Task<(EventSinkApp App, Sidecar Sidecar)> StartInstanceAsync(string appId, params string[] topics)
    {
        await _broker.CreateTopicsAsync(topics);
        var app = _run.Own(await EventSinkApp.StartAsync(topics));
        return (app, await _run.StartReadySidecarAsync(appId, app.Port));
    }

    public Task InitializeAsync()
    {
        _output.WriteLine($"{_broker.Binary} starts so far: {string.Join(", ", _broker.StartTimes.Select(t => $"{t.TotalSeconds:0.0} s"))}");
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _run.DisposeAsync();
        // A test that stopped the broker and failed must not leave it down for the next one.
        if (!_broker.IsRunning) await _broker.StartAsync();
    }

    [BrokerFact]
    public async Task Delivers_the_CloudEvent_with_its_headers()
    {
        var topic = Topic();
        var (app, sidecar) = await StartInstanceAsync(AppId("sub"), topic);
        var marker = Marker();
        await SidecarClients.PublishOkAsync(sidecar, topic, marker);

        var delivered = await Wait.ForAsync(() => app.Handled.FirstOrDefault(e => e.Marker == marker), $"event {marker}");
        ((string?)delivered.Envelope["topic"]).Should().Be(topic);
        ((string?)delivered.Envelope["pubsubname"]).Should().Be("pubsub");
        ((string?)delivered.Envelope["specversion"]).Should().Be("1.0");
        ((string?)delivered.Envelope["id"]).Should().NotBeNullOrEmpty();
        ((string?)delivered.Envelope["datacontenttype"]).Should().StartWith("application/json");
        delivered.Headers["Content-Type"].Should().Be("application/cloudevents+json");
        delivered.Headers["pubsubName"].Should().Be("pubsub");
        delivered.Headers.Should().ContainKey("traceparent");
        await Wait.StaysAsync(() => app.Delivered.Count == 1, "delivered once");
    }

    [BrokerFact]
    public async Task Instances_of_one_app_id_compete_and_no_event_is_handled_twice()
    {
        var topic = Topic();
        var appId = AppId("worker");
        var (first, publisher) = await StartInstanceAsync(appId, topic);
        var (second, _) = await StartInstanceAsync(appId, topic);
        // Slow handlers, so that neither instance can drain the queue alone.
        first.Behaviour = second.Behaviour = async (_, _) => { await Task.Delay(50); return 200; };
        var markers = Enumerable.Range(0, 30).Select(_ => Marker()).ToList();
        foreach (var marker in markers) await SidecarClients.PublishOkAsync(publisher, topic, marker);

        await Wait.UntilAsync(() => first.Handled.Count + second.Handled.Count >= markers.Count, "all events handled");
        await Wait.StaysAsync(() => first.Delivered.Count + second.Delivered.Count == markers.Count, "no event delivered twice");
        first.Handled.Select(e => e.Marker).Concat(second.Handled.Select(e => e.Marker)).Should().BeEquivalentTo(markers);
        _output.WriteLine($"shares: {first.Handled.Count} / {second.Handled.Count}");
        first.Handled.Should().NotBeEmpty("both instances take a share");
        second.Handled.Should().NotBeEmpty("both instances take a share");
    }

    [BrokerFact]
    public async Task Different_app_ids_each_get_every_event()
    {
        var topic = Topic();
        var (orders, publisher) = await StartInstanceAsync(AppId("orders"), topic);
        var (billing, _) = await StartInstanceAsync(AppId("billing"), topic);
        var markers = Enumerable.Range(0, 5).Select(_ => Marker()).ToList();
        foreach (var marker in markers) await SidecarClients.PublishOkAsync(publisher, topic, marker);

        await Wait.UntilAsync(() => orders.Handled.Count == 5 && billing.Handled.Count == 5, "every event in both apps");
        orders.Handled.Select(e => e.Marker).Should().BeEquivalentTo(markers);
        billing.Handled.Select(e => e.Marker).Should().BeEquivalentTo(markers);
    }

    [BrokerFact]
    public async Task A_failed_delivery_is_redelivered_by_the_broker_and_then_handled()
    {
        var topic = Topic();
        var (app, sidecar) = await StartInstanceAsync(AppId("flaky"), topic);
        // The sidecar makes one attempt (no Resiliency policy), so a 500 goes back to the broker as a NAK.
        app.Behaviour = (_, attempt) => Task.FromResult(attempt == 1 ? 500 : 200);
        var marker = Marker();
        await SidecarClients.PublishOkAsync(sidecar, topic, marker);

        await Wait.UntilAsync(() => app.HasHandled(marker), "handled on redelivery");
        app.Attempts(marker).Should().Be(2);
        await Wait.StaysAsync(() => app.Attempts(marker) == 2, "acked after the successful attempt");
    }

    [BrokerFact]
    public async Task An_event_whose_instance_crashes_mid_handling_is_handled_by_another_instance()
    {
        var topic = Topic();
        var appId = AppId("crashy");
        var (doomed, doomedSidecar) = await StartInstanceAsync(appId, topic);
        var handling = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        doomed.Behaviour = async (_, _) => { handling.TrySetResult(); await Task.Delay(Timeout.Infinite); return 200; };
        var marker = Marker();
        await SidecarClients.PublishOkAsync(doomedSidecar, topic, marker);
        await Wait.WithDeadline(handling.Task, "the first instance handling the event");

        var (survivor, _) = await StartInstanceAsync(appId, topic);
        await doomed.DisposeAsync();          // the app dies mid-request...
        await doomedSidecar.StopAsync();      // ...and its sidecar goes with it, without acking

        await Wait.UntilAsync(() => survivor.HasHandled(marker), "the event handled by the surviving instance", TimeSpan.FromSeconds(30));
    }

    [BrokerFact]
    public async Task Delivery_resumes_after_the_broker_restarts()
    {
        var topic = Topic();
        var (app, sidecar) = await StartInstanceAsync(AppId("steady"), topic);
        var before = Marker();
        await SidecarClients.PublishOkAsync(sidecar, topic, before);
        await Wait.UntilAsync(() => app.HasHandled(before), "delivery before the restart");

        await _broker.StopAsync();
        await _broker.StartAsync();
        var after = Marker();
        await SidecarClients.PublishWhenBrokerUpAsync(sidecar, topic, after, TimeSpan.FromSeconds(60));
        await Wait.UntilAsync(() => app.HasHandled(after), "delivery after the restart", TimeSpan.FromSeconds(60));
        // Handled is not yet acked: the sidecar acks after the handler answers, and an ack still on its way when the
        // broker stops is lost with it, so both brokers deliver that event once more (at-least-once). Never more.
        app.Handled.Count(e => e.Marker == before).Should().BeInRange(1, 2, "an event is redelivered only if its ack was lost with the broker");
    }
}

[RequiresBroker("nats-server")]
public sealed class JetStreamPubSubTests(NatsServerProcess nats, ITestOutputHelper output)
    : MqPubSubSuite<NatsServerProcess>(nats, output), IClassFixture<NatsServerProcess>;

[RequiresBroker("rabbitmq-server")]
public sealed class RabbitMqPubSubTests(RabbitMqServerProcess rabbit, ITestOutputHelper output)
    : MqPubSubSuite<RabbitMqServerProcess>(rabbit, output), IClassFixture<RabbitMqServerProcess>;
