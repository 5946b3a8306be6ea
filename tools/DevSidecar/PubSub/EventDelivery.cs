using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text;
using DevSidecar.Invocation;
using DevSidecar.Resiliency;
using DevSidecar.Resources;
using Microsoft.Extensions.Logging;

using DevSidecar.Tracing;

namespace DevSidecar.PubSub;

/// <summary>
/// Delivers one subscription's messages to the app as daprd 1.17 does (pkg/runtime/subscription/subscription.go,
/// postman/http/http.go): POST with the broker's exact bytes as application/cloudevents+json; a 2xx is read as
/// SUCCESS (also an empty or non-JSON body) / DROP / RETRY / any other status = retry; 404 drops; any other status and
/// an unreachable app are retriable failures. A retriable failure is retried only under the component's inbound
/// Resiliency policy (its timeout bounds each attempt, its circuit breaker counts them); without one there is exactly
/// one attempt. A dropped event goes to the dead-letter topic if one is set, and is acknowledged. A failure that is
/// left (retries exhausted or none) goes to the dead-letter topic if one is set and is then acknowledged; with no
/// dead-letter topic it is handed back to the broker, which does what its component does (redis acks, RabbitMQ nacks
/// with requeueInFailure, JetStream NAKs, in-memory logs it).
/// </summary>
public sealed class EventDelivery
{
    private readonly SubscriptionSpec _subscription;
    private readonly IPubSub _pubsub;
    private readonly AppChannel.AppChannel _app;
    private readonly ResiliencyPolicies _resiliency;
    private readonly ILogger _logger;
    private readonly List<(RouteMatcher Matcher, string Path)> _rules;
    private readonly DeliveryFaults _faults;
    private readonly SidecarTracing _tracing;

    public EventDelivery(SubscriptionSpec subscription, IPubSub pubsub, AppChannel.AppChannel app, ResiliencyPolicies resiliency, DeliveryFaults faults, SidecarTracing tracing, ILogger logger)
    {
        _faults = faults;
        _tracing = tracing;
        _subscription = subscription;
        _pubsub = pubsub;
        _app = app;
        _resiliency = resiliency;
        _logger = logger;
        _rules = subscription.Rules.Select(r => (RouteMatcher.Compile(r.Match), r.Path)).ToList();
    }

    public async Task HandleAsync(BrokerMessage message, CancellationToken cancellationToken)
    {
        // daprd sets the pubsubName metadata on every message it takes; it reaches the app as a header and goes with a
        // dead-lettered copy.
        message = message with { Metadata = new Dictionary<string, string>(message.Metadata, StringComparer.Ordinal) { ["pubsubName"] = _pubsub.Spec.Name } };
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
            await DeadLetterOrFailAsync(message, $"error deserializing cloud event in pubsub {_pubsub.Spec.Name} and topic {message.Topic}: {e.Message}", cancellationToken);
            return;
        }

        if (IsExpired(cloudEvent))
        {
            _logger.LogWarning("dropping expired pub/sub event {Id} on topic {Topic}", Id(cloudEvent), message.Topic);
            await TryDeadLetterAsync(message, cancellationToken);
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
            _logger.LogDebug("no matching route for event {Id} in pubsub {PubSub} and topic {Topic}; skipping", Id(cloudEvent), _pubsub.Spec.Name, message.Topic);
            await TryDeadLetterAsync(message, cancellationToken);
            return;
        }

        var policy = _resiliency.ComponentInbound(_pubsub.Spec.Name, ComponentKind.Pubsub);
        try
        {
            await policy.RunAsync(async ct =>
            {
                var dropped = await PostAsync(path, body, message, cloudEvent, ct);
                if (dropped is not null && _subscription.DeadLetterTopic is not null && !await TryDeadLetterAsync(message, ct))
                    throw new EventDeliveryException(dropped); // daprd hands the drop back when the dead-letter publish failed
                return true;
            }, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            await DeadLetterOrFailAsync(message, $"delivery of event {Id(cloudEvent)} to /{path.TrimStart('/')} failed: {e.Message}", cancellationToken);
        }
    }

    /// <summary>One attempt: null when the app took the event, the reason when it dropped it; throws when it is to be retried.</summary>
    private async Task<string?> PostAsync(string path, byte[] body, BrokerMessage message, JsonElement cloudEvent, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, _app.UriFor(path));
        request.Content = new ByteArrayContent(body);
        // Exactly this string: Dapr.AspNetCore's UseCloudEvents matches it case-sensitively.
        request.Content.Headers.ContentType = new MediaTypeHeaderValue(CloudEvents.ContentType);
        foreach (var (key, value) in message.Metadata)
        {
            if (!key.Equals("content-length", StringComparison.OrdinalIgnoreCase)) request.Headers.TryAddWithoutValidation(key, value);
        }
        var tracestate = Field(cloudEvent, "tracestate");
        // The span is the current activity while the request is sent, so an HttpClient span is its child, not a new trace.
        using var span = TraceContext.StartDelivery(_tracing, message.Topic, Field(cloudEvent, "traceparent") ?? Field(cloudEvent, "traceid"), tracestate);
        if (span is not null)
        {
            request.Headers.TryAddWithoutValidation("traceparent", span.TraceParent);
            if (span.TraceState is { } state) request.Headers.TryAddWithoutValidation("tracestate", state);
        }
        _app.Stamp(request);

        HttpResponseMessage response;
        try
        {
            response = await _app.Http.SendAsync(request, cancellationToken);
            span?.SetHttpStatus((int)response.StatusCode);
        }
        catch (HttpRequestException e)
        {
            throw new EventDeliveryException($"error returned from app channel while sending pub/sub event to app: {e.Message}");
        }
        using (response)
        {
            var status = (int)response.StatusCode;
            var reply = await response.Content.ReadAsByteArrayAsync(cancellationToken);
            if (response.StatusCode == HttpStatusCode.NotFound)
            {
                _logger.LogError("non-retriable error returned from app while processing pub/sub event {Id}: {Body}. status code returned: {Status}",
                    Id(cloudEvent), Encoding.UTF8.GetString(reply), status);
                return "404 from the app";
            }
            if (status is < 200 or > 299)
            {
                var text = $"retriable error returned from app while processing pub/sub event {Id(cloudEvent)}, topic: {message.Topic}, body: {Encoding.UTF8.GetString(reply)}. status code returned: {status}";
                _logger.LogWarning("{Error}", text);
                throw new StatusCodeException(status, text);
            }
            switch (StatusOf(reply))
            {
                case null or "" or "SUCCESS":
                    return null;
                case "DROP":
                    _logger.LogWarning("DROP status returned from app while processing pub/sub event {Id}", Id(cloudEvent));
                    return "status DROP";
                case "RETRY":
                    throw new EventDeliveryException($"RETRY status returned from app while processing pub/sub event {Id(cloudEvent)}");
                case var other:
                    throw new EventDeliveryException($"unknown status returned from app while processing pub/sub event {Id(cloudEvent)}, status: {other}");
            }
        }
    }

    /// <summary>A 2xx reply's <c>status</c>; null when the body is empty, not JSON, or has none (all mean success).</summary>
    private static string? StatusOf(byte[] reply)
    {
        if (reply.Length == 0) return null;
        try
        {
            using var doc = JsonDocument.Parse(reply);
            // A status that is not a string fails daprd's decoding into its AppResponse, which it takes as success.
            return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("status", out var status)
                   && status.ValueKind == JsonValueKind.String
                ? status.GetString()
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

    /// <summary>A failure that is left: to the dead-letter topic if one is set and the publish works, else back to the broker.</summary>
    private async Task DeadLetterOrFailAsync(BrokerMessage message, string problem, CancellationToken cancellationToken)
    {
        if (_subscription.DeadLetterTopic is not null && await TryDeadLetterAsync(message, cancellationToken))
        {
            _logger.LogWarning("{Problem}; sent to dead-letter topic {Topic}", problem, _subscription.DeadLetterTopic);
            return;
        }
        // Handing the failure back lets the broker do what its component does (redeliver, requeue, drop, log).
        throw new EventDeliveryException(problem);
    }

    /// <summary>
    /// Publishes the message as it came from the broker (same bytes, content type and metadata) to the dead-letter topic
    /// on the same pub/sub, under its outbound policy (subscription.go sendToDeadLetter); false when none is set or it failed.
    /// </summary>
    private async Task<bool> TryDeadLetterAsync(BrokerMessage message, CancellationToken cancellationToken)
    {
        if (_subscription.DeadLetterTopic is not { } deadLetterTopic) return false;
        try
        {
            await _resiliency.ComponentOutbound(_pubsub.Spec.Name, ComponentKind.Pubsub)
                .RunAsync(async ct => { await _pubsub.PublishAsync(message with { Topic = deadLetterTopic }, ct); return true; }, cancellationToken);
            return true;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _logger.LogError("error sending message to dead letter, origin topic: {Topic} dead letter topic {DeadLetterTopic} err: {Error}",
                message.Topic, deadLetterTopic, e.Message);
            return false;
        }
    }

    private static string? Field(JsonElement cloudEvent, string name) =>
        cloudEvent.ValueKind == JsonValueKind.Object && cloudEvent.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static string Id(JsonElement cloudEvent) => Field(cloudEvent, "id") ?? "(no id)";
}

/// <summary>A delivery that failed in a way a retry may fix (daprd's retriable errors).</summary>
public sealed class EventDeliveryException(string message) : Exception(message);
