using System.Collections.Concurrent;
using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace DevSidecar.Tests.Resiliency;

// Oracle: daprd v1.17.9 pkg/api/http/directmessaging.go (the app's policy around each invocation; an answer outside
// 200-399 is a failed attempt, the last one is passed back), pkg/messaging/direct_messaging.go (without a policy of the
// target app only DaprBuiltInServiceRetries, for an unreachable sidecar), pkg/runtime/subscription/subscription.go
// (ComponentInboundPolicy around each delivery; with none a single attempt; then the dead-letter topic or the broker),
// pkg/resiliency/breaker (gobreaker's "circuit breaker is open"), pkg/messages ERR_DIRECT_INVOKE.
public sealed class ResiliencyRuntimeTests : IAsyncLifetime
{
    private const string Resiliency = """
        apiVersion: dapr.io/v1alpha1
        kind: Resiliency
        metadata:
          name: runtime
        spec:
          policies:
            timeouts:
              quick: 300ms
            retries:
              fourTimes: { policy: constant, duration: 150ms, maxRetries: 4 }
              twice: { policy: constant, duration: 100ms, maxRetries: 2 }
            circuitBreakers:
              tripAfterThree: { maxRequests: 1, timeout: 30s, trip: consecutiveFailures > 2 }
          targets:
            apps:
              flaky: { retry: fourTimes }
              fragile: { circuitBreaker: tripAfterThree }
              sluggish: { timeout: quick, retry: twice }
            components:
              retried: { inbound: { retry: twice } }
        """;

    private static readonly string Subscriptions = string.Join("\n---\n",
        Subscription("plain", "poison-plain", "/poison", null),
        Subscription("retried", "poison-retried", "/poison", "poison-dlq"),
        Subscription("retried", "poison-dlq", "/dlq", null),
        Subscription("retried", "gone", "/missing", "gone-dlq"),
        Subscription("retried", "gone-dlq", "/dlq", null));

    private static string Subscription(string pubsub, string topic, string route, string? deadLetterTopic) => $"""
        apiVersion: dapr.io/v2alpha1
        kind: Subscription
        metadata:
          name: {topic}
        spec:
          pubsubname: {pubsub}
          topic: {topic}
          routes:
            default: {route}
        {(deadLetterTopic is null ? "" : $"  deadLetterTopic: {deadLetterTopic}\n")}scopes:
          - plainapp
        """;

    private readonly Cluster _cluster = new(new ClusterOptions
    {
        ResourceFiles = new Dictionary<string, string>
        {
            ["components.yaml"] = ComponentYaml.Join(ComponentYaml.Of("plain", "pubsub.in-memory"), ComponentYaml.Of("retried", "pubsub.in-memory")),
            ["resiliency.yaml"] = Resiliency,
            ["subscriptions.yaml"] = Subscriptions,
        },
        ConsoleLogLevel = Microsoft.Extensions.Logging.LogLevel.None,
    });

    private readonly ConcurrentDictionary<string, ConcurrentQueue<DateTime>> _calls = new();
    private readonly ConcurrentQueue<string> _deadLettered = new();
    private HttpClient _http = null!;
    private DevSidecar.Hosting.Sidecar _caller = null!;

    public async Task InitializeAsync()
    {
        var app = LoopbackApp.Create();
        // /fail/{key}/{times}: 500 for the first `times` calls of the key, then 200; /slow sleeps past the timeout.
        app.Map("/fail/{key}/{times:int}", (string key, int times) =>
            Calls(key).Count <= times ? Results.Text("not yet", statusCode: 500) : Results.Text("ok"));
        app.Map("/slow/{key}", async (string key) => { Calls(key); await Task.Delay(TimeSpan.FromSeconds(2)); return Results.Text("late"); });
        app.MapPost("/poison", async (HttpRequest request) =>
        {
            var id = (string)JsonNode.Parse(await new StreamReader(request.Body).ReadToEndAsync())!["data"]!["marker"]!;
            Calls(id);
            return Results.StatusCode(500);
        });
        app.MapPost("/dlq", async (HttpRequest request) =>
        {
            _deadLettered.Enqueue((string)JsonNode.Parse(await new StreamReader(request.Body).ReadToEndAsync())!["data"]!["marker"]!);
            return Results.Ok();
        });
        await app.StartAsync();
        _cluster.Own(app);
        var port = app.BoundPort();
        foreach (var appId in new[] { "flaky", "fragile", "sluggish", "plainapp" }) await _cluster.StartReadySidecarAsync(appId, port);
        _caller = await _cluster.StartSidecarAsync("caller", appPort: null);
        _http = SidecarClients.Http(_caller);
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _cluster.DisposeAsync();
    }

    private ConcurrentQueue<DateTime> Calls(string key)
    {
        var calls = _calls.GetOrAdd(key, _ => new());
        calls.Enqueue(DateTime.UtcNow);
        return calls;
    }

    private int CallsOf(string key) => _calls.TryGetValue(key, out var calls) ? calls.Count : 0;

    private static string Key() => Guid.NewGuid().ToString("N")[..10];

    [Fact]
    public async Task Invocation_under_the_apps_retry_policy_is_repeated_until_it_succeeds_waiting_between_attempts()
    {
        var key = Key();
        using var response = await _http.GetAsync($"v1.0/invoke/flaky/method/fail/{key}/3");
        response.StatusCode.Should().Be(HttpStatusCode.OK);
        (await response.Content.ReadAsStringAsync()).Should().Be("ok");
        var calls = _calls[key].ToList();
        calls.Should().HaveCount(4, "three failures, then the success");
        calls.Zip(calls.Skip(1), (a, b) => b - a).Should().OnlyContain(gap => gap >= TimeSpan.FromMilliseconds(140), "constant 150ms between attempts");
    }

    [Fact]
    public async Task Invocation_passes_back_the_last_failed_answer_once_retries_are_exhausted()
    {
        var key = Key();
        using var response = await _http.GetAsync($"v1.0/invoke/flaky/method/fail/{key}/100");
        response.StatusCode.Should().Be(HttpStatusCode.InternalServerError);
        (await response.Content.ReadAsStringAsync()).Should().Be("not yet", "the app's own answer, not a sidecar error");
        CallsOf(key).Should().Be(5, "1 + maxRetries 4");
    }

    [Fact]
    public async Task Invocation_without_a_policy_for_the_app_is_attempted_once()
    {
        var key = Key();
        using var response = await _http.GetAsync($"v1.0/invoke/plainapp/method/fail/{key}/1");
        response.StatusCode.Should().Be(HttpStatusCode.InternalServerError, "daprd's built-in retries cover an unreachable sidecar only");
        await Wait.StaysAsync(() => CallsOf(key) == 1, "no second attempt", TimeSpan.FromSeconds(1));
    }

    [Fact]
    public async Task An_open_circuit_breaker_rejects_invocations_with_daprds_error_without_calling_the_app()
    {
        var key = Key();
        for (var i = 0; i < 3; i++)
        {
            using var failed = await _http.GetAsync($"v1.0/invoke/fragile/method/fail/{key}/100");
            failed.StatusCode.Should().Be(HttpStatusCode.InternalServerError);
        }
        using var rejected = await _http.GetAsync($"v1.0/invoke/fragile/method/fail/{key}/100");
        rejected.StatusCode.Should().Be(HttpStatusCode.InternalServerError);
        var error = JsonNode.Parse(await rejected.Content.ReadAsStringAsync())!;
        ((string)error["errorCode"]!).Should().Be("ERR_DIRECT_INVOKE");
        ((string)error["message"]!).Should().Be("failed to invoke, id: fragile, err: circuit breaker is open");
        CallsOf(key).Should().Be(3, "the breaker opened after the third consecutive failure (trip: consecutiveFailures > 2)");
    }

    [Fact]
    public async Task A_timeout_cuts_each_attempt_and_the_caller_gets_context_deadline_exceeded()
    {
        var key = Key();
        using var response = await _http.GetAsync($"v1.0/invoke/sluggish/method/slow/{key}");
        response.StatusCode.Should().Be(HttpStatusCode.InternalServerError);
        ((string)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["message"]!)
            .Should().Be("failed to invoke, id: sluggish, err: context deadline exceeded");
        CallsOf(key).Should().Be(3, "each of the 1 + 2 attempts timed out");
    }

    [Fact]
    public async Task Without_a_policy_a_failed_delivery_is_attempted_once()
    {
        var marker = Key();
        await PublishAsync("plain", "poison-plain", marker);
        await Wait.UntilAsync(() => CallsOf(marker) == 1, "the first delivery");
        await Wait.StaysAsync(() => CallsOf(marker) == 1, "no retry without a Resiliency policy (in-memory does not redeliver)", TimeSpan.FromSeconds(2));
    }

    [Fact]
    public async Task Under_an_inbound_policy_a_poison_event_is_retried_exactly_max_retries_then_dead_lettered()
    {
        var marker = Key();
        await PublishAsync("retried", "poison-retried", marker);
        await Wait.UntilAsync(() => _deadLettered.Contains(marker), "the poison event on its dead-letter topic");
        CallsOf(marker).Should().Be(3, "1 + maxRetries 2, then the dead-letter topic");
        var calls = _calls[marker].ToList();
        calls.Zip(calls.Skip(1), (a, b) => b - a).Should().OnlyContain(gap => gap >= TimeSpan.FromMilliseconds(90));
    }

    [Fact]
    public async Task A_404_drops_the_event_to_the_dead_letter_topic_without_retries_even_under_a_policy()
    {
        var marker = Key();
        await PublishAsync("retried", "gone", marker);
        await Wait.UntilAsync(() => _deadLettered.Contains(marker), "the dropped event on its dead-letter topic");
        await Wait.StaysAsync(() => _deadLettered.Count(m => m == marker) == 1, "dead-lettered once, no retry", TimeSpan.FromSeconds(1));
    }

    private async Task PublishAsync(string pubsub, string topic, string marker)
    {
        using var response = await _http.PostAsync($"v1.0/publish/{pubsub}/{topic}", SidecarClients.Json($$"""{"marker":"{{marker}}"}"""));
        response.StatusCode.Should().Be(HttpStatusCode.NoContent);
    }
}
