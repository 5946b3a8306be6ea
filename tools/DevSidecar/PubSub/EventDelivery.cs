using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using DevSidecar.Hosting;
using DevSidecar.Resources;
using Microsoft.Extensions.Logging;

namespace DevSidecar.PubSub;

/// <summary>
/// Delivers one subscription's messages to the app as daprd does (runtime/subscription, postman/http):
/// POST with the broker's exact bytes as application/cloudevents+json, the reply read as SUCCESS / RETRY / DROP,
/// 404 = drop, anything else = retry with back-off; expired events and drops go to the dead-letter topic if one is set.
/// </summary>
public sealed class EventDelivery
{
    private readonly SubscriptionSpec _subscription;
    private readonly IPubSub _pubsub;
    private readonly AppChannel.AppChannel _app;
    private readonly SidecarOptions _options;
    private readonly ILogger _logger;
    private readonly List<(RouteMatcher Matcher, string Path)> _rules;
    private readonly DeliveryFaults _faults;

    public EventDelivery(SubscriptionSpec subscription, IPubSub pubsub, AppChannel.AppChannel app, SidecarOptions options, DeliveryFaults faults, ILogger logger)
    {
        _faults = faults;
        _subscription = subscription;
        _pubsub = pubsub;
        _app = app;
        _options = options;
        _logger = logger;
        _rules = subscription.Rules.Select(r => (RouteMatcher.Compile(r.Match), r.Path)).ToList();
    }

    private enum Outcome { Success, Retry, Drop }

    public async Task HandleAsync(BrokerMessage message, CancellationToken cancellationToken)
    {
        byte[] body;
        JsonElement cloudEvent;
        try
        {
            body = _subscription.RawPayload
                ? CloudEvents.FromRawPayload(message.Data.Span, message.Topic, _pubsub.Spec.Name)
                : message.Data.ToArray();
            using var doc = JsonDocument.Parse(body);
            cloudEvent = doc.RootElement.Clone();
        }
        catch (JsonException e)
        {
            await DeadLetterOrFailAsync(message, $"the message is not a CloudEvent: {e.Message}", cancellationToken);
            return;
        }

        if (IsExpired(cloudEvent))
        {
            _logger.LogWarning("dropping expired event {Id} on topic {Topic}", Id(cloudEvent), message.Topic);
            await DeadLetterAsync(message, cancellationToken);
            return;
        }

        if (_faults.ShouldDrop(message.Topic, Field(cloudEvent, "id")))
        {
            _logger.LogWarning("FAULT INJECTION: dropped event {Id} on topic {Topic} instead of delivering it", Id(cloudEvent), message.Topic);
            return;
        }

        var path = Route(cloudEvent);
        if (path is null)
        {
            _logger.LogWarning("no route matches event {Id} on topic {Topic}; dropped", Id(cloudEvent), message.Topic);
            await DeadLetterAsync(message, cancellationToken);
            return;
        }

        var backoff = _options.DeliveryInitialBackoff;
        for (var attempt = 0; ; attempt++)
        {
            var (outcome, detail) = await PostAsync(path, body, message, cloudEvent, cancellationToken);
            switch (outcome)
            {
                case Outcome.Success:
                    return;
                case Outcome.Drop:
                    _logger.LogWarning("app dropped event {Id} on topic {Topic} ({Detail})", Id(cloudEvent), message.Topic, detail);
                    await DeadLetterAsync(message, cancellationToken);
                    return;
            }
            if (attempt >= _options.DeliveryMaxRetries)
            {
                await DeadLetterOrFailAsync(message, $"delivery of event {Id(cloudEvent)} to /{path.TrimStart('/')} failed after {attempt + 1} attempts: {detail}", cancellationToken);
                return;
            }
            _logger.LogInformation("retrying event {Id} on topic {Topic} in {Delay} ms ({Detail})", Id(cloudEvent), message.Topic, (int)backoff.TotalMilliseconds, detail);
            await Task.Delay(backoff, cancellationToken);
            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, _options.DeliveryMaxBackoff.Ticks));
        }
    }

    private async Task<(Outcome, string)> PostAsync(string path, byte[] body, BrokerMessage message, JsonElement cloudEvent, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, _app.UriFor(path));
        request.Content = new ByteArrayContent(body);
        // Exactly this string: Dapr.AspNetCore's UseCloudEvents matches it case-sensitively.
        request.Content.Headers.ContentType = new MediaTypeHeaderValue(CloudEvents.ContentType);
        foreach (var (key, value) in message.Metadata)
        {
            if (!key.Equals("content-length", StringComparison.OrdinalIgnoreCase)) request.Headers.TryAddWithoutValidation(key, value);
        }
        request.Headers.TryAddWithoutValidation("pubsubName", _pubsub.Spec.Name);
        if (Field(cloudEvent, "traceparent") is { } traceparent) request.Headers.TryAddWithoutValidation("traceparent", traceparent);
        if (Field(cloudEvent, "tracestate") is { Length: > 0 } tracestate) request.Headers.TryAddWithoutValidation("tracestate", tracestate);
        _app.Stamp(request);

        try
        {
            using var response = await _app.Http.SendAsync(request, cancellationToken);
            if (response.StatusCode == HttpStatusCode.NotFound) return (Outcome.Drop, "404 from the app");
            if (!response.IsSuccessStatusCode) return (Outcome.Retry, $"the app answered {(int)response.StatusCode}");
            var reply = await response.Content.ReadAsByteArrayAsync(cancellationToken);
            return StatusOf(reply) switch
            {
                null or "SUCCESS" => (Outcome.Success, ""),
                "DROP" => (Outcome.Drop, "status DROP"),
                "RETRY" => (Outcome.Retry, "status RETRY"),
                var other => (Outcome.Retry, $"unknown status '{other}'"),
            };
        }
        catch (HttpRequestException e)
        {
            return (Outcome.Retry, $"the app is unreachable: {e.Message}");
        }
    }

    /// <summary>A 2xx reply's <c>status</c>; null when the body is empty, not JSON, or has none (all mean success).</summary>
    private static string? StatusOf(byte[] reply)
    {
        if (reply.Length == 0) return null;
        try
        {
            using var doc = JsonDocument.Parse(reply);
            return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("status", out var status)
                ? status.ValueKind == JsonValueKind.String ? status.GetString() : status.ToString()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private string? Route(JsonElement cloudEvent)
    {
        foreach (var (matcher, path) in _rules)
        {
            if (matcher.Matches(cloudEvent)) return path;
        }
        return _subscription.DefaultPath;
    }

    private static bool IsExpired(JsonElement cloudEvent) =>
        Field(cloudEvent, "expiration") is { } expiration
        && DateTimeOffset.TryParse(expiration, out var at)
        && at < DateTimeOffset.UtcNow;

    private async Task DeadLetterOrFailAsync(BrokerMessage message, string problem, CancellationToken cancellationToken)
    {
        if (_subscription.DeadLetterTopic is null)
        {
            // Handing the failure back lets a broker that can redeliver do so; in-memory logs and forgets it.
            throw new EventDeliveryException(problem);
        }
        _logger.LogWarning("{Problem}; sending it to dead-letter topic {Topic}", problem, _subscription.DeadLetterTopic);
        await DeadLetterAsync(message, cancellationToken);
    }

    private async Task DeadLetterAsync(BrokerMessage message, CancellationToken cancellationToken)
    {
        if (_subscription.DeadLetterTopic is not { } deadLetterTopic) return;
        await _pubsub.PublishAsync(message with { Topic = deadLetterTopic }, cancellationToken);
    }

    private static string? Field(JsonElement cloudEvent, string name) =>
        cloudEvent.ValueKind == JsonValueKind.Object && cloudEvent.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static string Id(JsonElement cloudEvent) => Field(cloudEvent, "id") ?? "(no id)";
}

public sealed class EventDeliveryException(string message) : Exception(message);
