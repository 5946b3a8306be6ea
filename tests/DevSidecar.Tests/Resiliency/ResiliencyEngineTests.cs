using DevSidecar.Resiliency;
using DevSidecar.Resources;
using Microsoft.Extensions.Logging.Abstractions;

namespace DevSidecar.Tests.Resiliency;

// Oracle: daprd v1.17.9 pkg/resiliency/resiliency.go (decoding, targets, Default…Policy names, scopes), policy.go (the
// runner), retry.go (matching), breaker/circuitbreaker.go on sony/gobreaker v0.5.0; dapr/kit v0.17.1 retry/retry.go
// (defaults); https://docs.dapr.io/operations/resiliency/policies/.
public sealed class ResiliencyEngineTests
{
    private static ResiliencyResource Parse(string yaml, string file = "resiliency.yaml") =>
        ResiliencyResource.Parse((Dictionary<object, object>)YamlValues.ReadSingle(yaml)!, file);

    private static ResiliencyPolicies Policies(string appId, params string[] yamls) =>
        new(yamls.Select(y => Parse(y)), appId, NullLogger.Instance);

    private const string Sample = """
        apiVersion: dapr.io/v1alpha1
        kind: Resiliency
        metadata:
          name: sample
        spec:
          policies:
            timeouts:
              short: 50ms
              plain: 1500
            retries:
              three: { policy: constant, duration: 10ms, maxRetries: 3 }
              forever: { policy: constant }
              expo: { policy: exponential, maxInterval: 2s, maxRetries: 4 }
              only5xx: { policy: constant, duration: 1ms, maxRetries: 2, matching: { httpStatusCodes: "500,502-504" } }
            circuitBreakers:
              cb: { maxRequests: 1, timeout: 100ms, trip: consecutiveFailures > 2 }
          targets:
            apps:
              orders: { timeout: short, retry: three, circuitBreaker: cb }
            components:
              pubsub:
                inbound: { retry: three }
                outbound: { timeout: plain }
        """;

    [Fact]
    public void Policies_decode_with_kit_defaults_and_integer_durations_in_milliseconds()
    {
        var r = Parse(Sample);
        r.Timeouts["short"].Should().Be(TimeSpan.FromMilliseconds(50));
        r.Timeouts["plain"].Should().Be(TimeSpan.FromMilliseconds(1500));
        r.Retries["three"].Should().Match<RetryPolicy>(p => p.Kind == BackOffKind.Constant && p.Duration == TimeSpan.FromMilliseconds(10) && p.MaxRetries == 3);
        r.Retries["forever"].Should().Match<RetryPolicy>(p => p.Duration == TimeSpan.FromSeconds(5) && p.MaxRetries == -1, "kit's DefaultConfig: 5s, retry for ever");
        r.Retries["expo"].Should().Match<RetryPolicy>(p => p.Kind == BackOffKind.Exponential && p.MaxInterval == TimeSpan.FromSeconds(2));
        r.CircuitBreakers["cb"].Should().Match<CircuitBreakerPolicy>(p => p.MaxRequests == 1 && p.Timeout == TimeSpan.FromMilliseconds(100));
        r.Apps["orders"].Should().Be(new PolicyNames("short", "three", "cb"));
        r.Components["pubsub"].Should().Be(new ComponentTarget(new PolicyNames(null, "three", null), new PolicyNames("plain", null, null)));
    }

    [Theory]
    [InlineData("retries:\n      bad: { policy: linear }", "unrecognized retry policy")]
    [InlineData("retries:\n      bad: { matching: { httpStatusCodes: \"600\" } }", "code 600 is not valid")]
    [InlineData("retries:\n      bad: { matching: { httpStatusCodes: \"504-500\" } }", "start value should not bigger than end value")]
    [InlineData("timeouts:\n      bad: soon", "is not a duration")]
    [InlineData("circuitBreakers:\n      bad: { trip: \"consecutiveFailures >\" }", "trip")]
    public void A_policy_daprd_cannot_decode_stops_start_up_naming_it(string policies, string problem)
    {
        var act = () => Parse($"""
            apiVersion: dapr.io/v1alpha1
            kind: Resiliency
            metadata:
              name: broken
            spec:
              policies:
                {policies}
            """);
        act.Should().Throw<ResourceLoadException>().WithMessage($"*resiliency 'broken'*bad*{problem}*");
    }

    [Fact]
    public void Exponential_back_off_grows_by_half_with_jitter_up_to_max_interval_and_stops_after_max_retries()
    {
        var backOff = Parse(Sample).Retries["expo"].Start();
        var waits = Enumerable.Range(0, 5).Select(_ => backOff.Next()).ToList();
        waits[4].Should().BeNull("maxRetries 4");
        double[] centres = [500, 750, 1125, 1687.5];
        for (var i = 0; i < 4; i++)
            waits[i]!.Value.TotalMilliseconds.Should().BeInRange(centres[i] * 0.5, centres[i] * 1.5 + 1, $"retry {i + 1}: ±50% around {centres[i]} ms");
    }

    [Fact]
    public async Task A_retry_policy_makes_one_plus_max_retries_attempts_waiting_its_duration_between_them()
    {
        var policy = Policies("any", Sample).ComponentInbound("pubsub", ComponentKind.Pubsub);
        var attempts = new List<DateTime>();
        var act = () => policy.RunAsync<bool>(_ => { attempts.Add(DateTime.UtcNow); throw new InvalidOperationException("boom"); }, CancellationToken.None);
        await act.Should().ThrowAsync<InvalidOperationException>().WithMessage("boom");
        attempts.Should().HaveCount(4);
        attempts.Zip(attempts.Skip(1), (a, b) => b - a).Should().OnlyContain(gap => gap >= TimeSpan.FromMilliseconds(9));
    }

    [Fact]
    public async Task Matching_retries_only_the_listed_status_codes()
    {
        var policy = new PolicyDefinition("t", TimeSpan.Zero, Parse(Sample).Retries["only5xx"], null, NullLogger.Instance);
        var attempts = 0;
        var notListed = () => policy.RunAsync<bool>(_ => { attempts++; throw new StatusCodeException(501, "not listed"); }, CancellationToken.None);
        await notListed.Should().ThrowAsync<StatusCodeException>();
        attempts.Should().Be(1);

        attempts = 0;
        var listed = () => policy.RunAsync<bool>(_ => { attempts++; throw new StatusCodeException(503, "listed"); }, CancellationToken.None);
        await listed.Should().ThrowAsync<StatusCodeException>();
        attempts.Should().Be(3);

        attempts = 0;
        var permanent = () => policy.RunAsync<bool>(_ => { attempts++; throw new PermanentFailureException(new TimeoutException("permanent")); }, CancellationToken.None);
        await permanent.Should().ThrowAsync<TimeoutException>();
        attempts.Should().Be(1);
    }

    [Fact]
    public async Task A_timeout_abandons_the_attempt_as_context_deadline_exceeded()
    {
        var policy = Policies("orders", Sample).Endpoint("orders", "slow");
        policy.Timeout.Should().Be(TimeSpan.FromMilliseconds(50));
        var attempts = 0;
        Task<bool> Slow(CancellationToken ct) { attempts++; return Task.Delay(TimeSpan.FromSeconds(5), ct).ContinueWith(_ => true, ct); }
        var noBreaker = new PolicyDefinition("t", policy.Timeout, policy.Retry, null, NullLogger.Instance);
        await ((Func<Task>)(() => noBreaker.RunAsync(Slow, CancellationToken.None))).Should().ThrowAsync<DeadlineExceededException>().WithMessage("context deadline exceeded");
        attempts.Should().Be(4, "each of the 1 + 3 attempts timed out");

        attempts = 0;
        await ((Func<Task>)(() => policy.RunAsync(Slow, CancellationToken.None))).Should().ThrowAsync<CircuitBreakerOpenException>()
            .WithMessage("circuit breaker is open", "a timed-out attempt is a failure for the breaker, which opens after the third and ends the retries");
        attempts.Should().Be(3);
    }

    [Fact]
    public async Task A_circuit_breaker_opens_after_the_trip_rejects_until_its_timeout_then_lets_one_call_through()
    {
        var policies = Policies("caller", Sample);
        var calls = 0;
        Task<bool> Failing(CancellationToken _) { calls++; throw new InvalidOperationException("down"); }
        var breaker = policies.Endpoint("orders", "m").Breaker!;
        for (var i = 0; i < 3; i++)
            await ((Func<Task>)(() => breaker.ExecuteAsync(() => Failing(default)))).Should().ThrowAsync<InvalidOperationException>();
        breaker.Current.Should().Be(CircuitBreaker.State.Open);
        await ((Func<Task>)(() => breaker.ExecuteAsync(() => Failing(default)))).Should().ThrowAsync<CircuitBreakerOpenException>().WithMessage("circuit breaker is open");
        calls.Should().Be(3);
        policies.Endpoint("orders", "other").Breaker!.Current.Should().Be(CircuitBreaker.State.Closed, "daprd keeps one breaker per app method");

        await Wait.UntilAsync(() => breaker.Current == CircuitBreaker.State.HalfOpen, "half-open after the breaker's timeout");
        (await breaker.ExecuteAsync(() => Task.FromResult(true))).Should().BeTrue();
        breaker.Current.Should().Be(CircuitBreaker.State.Closed, "maxRequests (1) successes close it");
    }

    [Theory]
    [InlineData("consecutiveFailures > 2", 3, 3, 0, true)]
    [InlineData("consecutiveFailures > 2", 2, 2, 0, false)]
    [InlineData("requests >= 10 && totalFailures >= 5", 10, 5, 5, true)]
    [InlineData("requests >= 10 && totalFailures >= 5", 9, 5, 5, false)]
    [InlineData("(consecutiveFailures > 5) || !(totalSuccesses > 0)", 1, 1, 0, true)]
    [InlineData("unknownCount > 1", 9, 9, 9, false)]
    public void Trip_expressions_over_the_breaker_counts(string trip, long requests, long consecutiveFailures, long totalSuccesses, bool trips) =>
        TripExpression.Parse(trip).Evaluate(new CircuitBreaker.Counts(requests, totalSuccesses, Math.Max(consecutiveFailures, requests - totalSuccesses), 0, consecutiveFailures))
            .Should().Be(trips);

    [Fact]
    public void Targets_without_a_policy_of_their_own_take_the_most_specific_default()
    {
        var policies = Policies("any", """
            apiVersion: dapr.io/v1alpha1
            kind: Resiliency
            metadata:
              name: defaults
            spec:
              policies:
                timeouts:
                  DefaultTimeoutPolicy: 7s
                retries:
                  DefaultRetryPolicy: { maxRetries: 1 }
                  DefaultPubsubComponentInboundRetryPolicy: { maxRetries: 2 }
                  DefaultAppRetryPolicy: { maxRetries: 3 }
              targets:
                components:
                  statestore: { outbound: { retry: DefaultRetryPolicy } }
            """);
        policies.ComponentInbound("pubsub", ComponentKind.Pubsub).Retry!.MaxRetries.Should().Be(2);
        policies.ComponentOutbound("pubsub", ComponentKind.Pubsub).Retry!.MaxRetries.Should().Be(1);
        policies.Endpoint("orders", "m").Retry!.MaxRetries.Should().Be(3);
        policies.Endpoint("orders", "m").Timeout.Should().Be(TimeSpan.FromSeconds(7));
        policies.ComponentOutbound("statestore", ComponentKind.Statestore).Timeout.Should().Be(TimeSpan.Zero, "a target of its own takes no defaults");
    }

    [Fact]
    public void Scoped_resources_apply_only_to_their_app_ids_and_nothing_applies_without_a_policy()
    {
        var scoped = Sample.Replace("spec:", "scopes: [orders]\nspec:", StringComparison.Ordinal);
        Policies("orders", scoped).ComponentInbound("pubsub", ComponentKind.Pubsub).Retry.Should().NotBeNull();
        var other = Policies("payments", scoped);
        other.ComponentInbound("pubsub", ComponentKind.Pubsub).Should().Match<PolicyDefinition>(p => p.Retry == null && p.Timeout == TimeSpan.Zero && p.Breaker == null);
        other.AppTargeted("orders").Should().BeFalse();
        other.BuiltInServiceRetries().Retry.Should().Match<RetryPolicy>(r => r.MaxRetries == 3 && r.Duration == TimeSpan.FromSeconds(1) && r.Kind == BackOffKind.Constant);
    }

    [Fact]
    public void A_resiliency_below_the_first_document_of_a_file_is_refused_because_daprd_would_not_read_it()
    {
        using var folder = new TempFolder("resiliency-");
        folder.WriteFile("both.yaml", ComponentYaml.Of("pubsub", "pubsub.in-memory") + "---\n" + Sample);
        var act = () => ResourceLoader.Load([folder.Path], "app", new HashSet<string> { "pubsub.in-memory" });
        act.Should().Throw<ResourceLoadException>().WithMessage("*must be the first document of its file*");

        folder.WriteFile("both.yaml", Sample);
        ResourceLoader.Load([folder.Path], "app", new HashSet<string>()).Resiliencies.Should().ContainSingle(r => r.Name == "sample");
    }
}
