using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using DevSidecar.Hosting;
using DevSidecar.PubSub;
using DevSidecar.Resources;
using Microsoft.Extensions.Logging;

namespace DevSidecar.State;

/// <summary>
/// daprd's transactional outbox (daprd v1.17.9 pkg/runtime/pubsub/outbox.go, wired in pkg/api/grpc/grpc.go and
/// pkg/api/http/http.go ExecuteStateTransaction). A state store with <c>outboxPublishPubsub</c> and
/// <c>outboxPublishTopic</c> turns every transaction on it, by any app, into two phases:
/// <list type="number">
/// <item>Before the transaction: for each upsert, a CloudEvent (id <c>outbox-&lt;uuid&gt;</c>, source the app id, the
/// value as data) is published to the internal topic <c>{namespace}{appId}{publishTopic}outbox</c> on
/// <c>outboxPubsub</c> (default: the publish pubsub), and an upsert of the marker key <c>outbox-&lt;uuid&gt;</c>
/// (no app-id prefix, value "0") joins the transaction. A failed publish fails the call (ERR_PUBLISH_OUTBOX) and
/// nothing is stored.</item>
/// <item>The app's own sidecars consume the internal topic: they poll the store for the marker (after
/// <see cref="SidecarOptions.OutboxScanDelay"/>, daprd's 1 s; back-off for 10 s more); found, they publish the event to <c>outboxPublishTopic</c> with topic and pubsubname replaced, then
/// delete the marker. Not found (the transaction failed), the message is refused for redelivery, or dropped with
/// <c>outboxDiscardWhenMissingState</c>.</item>
/// </list>
/// An upsert with metadata <c>outbox.projection: true</c> is not stored: its value becomes the event of the upsert of
/// the same key. So what is published is exactly what the store's Multi kept of the markers: on state.redis, whose
/// failed transactions are partly applied, a transaction that failed on another operation still publishes.
/// </summary>
public sealed class StateOutbox(ComponentRegistry components, SidecarOptions options, ILogger logger)
{
    private const string MarkerPrefix = "outbox-";

    public sealed record Config(string PublishPubSub, string PublishTopic, string OutboxPubSub, bool DiscardWhenMissingState);

    /// <summary>The store's outbox settings, or null when both outboxPublishPubsub and outboxPublishTopic are not set.</summary>
    public static Config? ConfigOf(ComponentSpec spec)
    {
        var pubsub = spec.Get("outboxPublishPubsub");
        var topic = spec.Get("outboxPublishTopic");
        if (string.IsNullOrEmpty(pubsub) || string.IsNullOrEmpty(topic)) return null;
        return new Config(pubsub, topic, spec.Get("outboxPubsub") is { Length: > 0 } outbox ? outbox : pubsub,
            IsTruthy(spec.Get("outboxDiscardWhenMissingState")));
    }

    public string InternalTopic(Config config) => options.Namespace + options.AppId + config.PublishTopic + "outbox";

    /// <summary>Phase one: publishes one internal event per upsert and returns the operations to run, markers added and
    /// projections taken out. Throws the publish error (daprd answers it with ERR_PUBLISH_OUTBOX).</summary>
    public async Task<IReadOnlyList<StateWrite>> PublishInternalAsync(Config config, IReadOnlyList<(StateWrite Write, bool JsonValue)> operations,
        string traceParent, string? traceState, CancellationToken cancellationToken)
    {
        var projections = operations.Where(o => !o.Write.IsDelete && IsTruthy(o.Write.Metadata.GetValueOrDefault("outbox.projection")))
            .GroupBy(o => o.Write.Key).ToDictionary(g => g.Key, g => g.Last());
        var kept = operations.Where(o => !projections.Values.Contains(o)).ToList();
        var result = kept.Select(o => o.Write).ToList();
        IPubSub? pubsub = null; // looked up at the first upsert: a transaction of deletes publishes nothing
        foreach (var operation in kept.Where(o => !o.Write.IsDelete))
        {
            var marker = MarkerPrefix + Guid.NewGuid();
            var payload = projections.TryGetValue(operation.Write.Key, out var projection) ? projection : operation;
            var envelope = Envelope(marker, config, payload, traceParent, traceState);
            foreach (var (key, value) in operation.Write.Metadata)
                if (key is not ("data" or "id")) envelope[key] = value;
            pubsub ??= PubSub(config.OutboxPubSub);
            await pubsub.PublishAsync(new BrokerMessage(InternalTopic(config), CloudEvents.SortedJson(envelope), CloudEvents.ContentType,
                new Dictionary<string, string>()), cancellationToken);
            result.Add(new StateWrite(marker, "\"0\""u8.ToArray(), null, Concurrency.Unspecified, StateWrite.NoMetadata));
        }
        return result;
    }

    private IPubSub PubSub(string name) =>
        components.PubSubs.TryGetValue(name, out var pubsub) ? pubsub : throw new InvalidOperationException($"pubsub '{name}' not found");

    /// <summary>contrib's NewCloudEventsEnvelope as the outbox calls it: no type, subject or topic, traceparent empty
    /// and the span's trace in traceid.</summary>
    private JsonObject Envelope(string id, Config config, (StateWrite Write, bool JsonValue) payload, string traceParent, string? traceState)
    {
        var contentType = payload.Write.Metadata.GetValueOrDefault("contentType");
        var isJson = string.Equals(contentType, "application/json", StringComparison.OrdinalIgnoreCase);
        // gRPC values are bytes, used as they are; HTTP values are decoded JSON, re-marshalled for a JSON content type
        // and printed with Go's %v otherwise.
        var data = !payload.JsonValue ? payload.Write.Value!
            : isJson ? Encoding.UTF8.GetBytes(Sorted(JsonNode.Parse(payload.Write.Value!))?.ToJsonString() ?? "null")
            : Encoding.UTF8.GetBytes(GoPrint(JsonNode.Parse(payload.Write.Value!)));
        var envelope = new JsonObject
        {
            ["id"] = id,
            ["specversion"] = "1.0",
            ["datacontenttype"] = string.IsNullOrEmpty(contentType) ? "text/plain" : contentType,
            ["source"] = options.AppId,
            ["type"] = CloudEvents.DefaultType,
            ["topic"] = "",
            ["pubsubname"] = config.OutboxPubSub,
            ["traceid"] = traceParent,
            ["traceparent"] = "",
            ["tracestate"] = traceState ?? "",
            ["time"] = CloudEvents.Rfc3339Local(DateTimeOffset.Now),
        };
        CloudEvents.SetData(envelope, data, string.IsNullOrEmpty(contentType) ? "text/plain" : contentType.Split(';', 2)[0].Trim().ToLowerInvariant());
        return envelope;
    }

    /// <summary>Phase two: this sidecar's consumers of its internal topics (daprd starts them once the app is ready).</summary>
    public async Task<IReadOnlyList<IAsyncDisposable>> SubscribeAsync(CancellationToken cancellationToken)
    {
        var handles = new List<IAsyncDisposable>();
        foreach (var store in components.StateStores.Values)
        {
            if (ConfigOf(store.Spec) is not { } config) continue;
            if (!components.PubSubs.TryGetValue(config.OutboxPubSub, out var pubsub))
            {
                logger.LogWarning("could not subscribe to internal outbox topic: outbox pubsub {PubSub} not loaded", config.OutboxPubSub);
                continue;
            }
            var group = pubsub.Spec.Get("consumerID") is { Length: > 0 } id ? id : options.AppId;
            handles.Add(await pubsub.SubscribeAsync(InternalTopic(config), group, new Dictionary<string, string>(),
                (message, ct) => ForwardAsync(store, config, message, ct), cancellationToken));
        }
        return handles;
    }

    private async Task ForwardAsync(IStateStore store, Config config, BrokerMessage message, CancellationToken cancellationToken)
    {
        var envelope = JsonNode.Parse(message.Data.Span) as JsonObject ?? throw new JsonException("the outbox message is not a JSON object");
        var marker = envelope["id"] is JsonValue v && v.TryGetValue<string>(out var text) ? text : "";
        // daprd sleeps 1 s (defaultStateScanDelay), then polls for 10 s: on a broker that hands the consumer one message
        // at a time, that caps announcements at one a second.
        await Task.Delay(options.OutboxScanDelay, cancellationToken);
        if (!await RetryAsync(async () => await store.GetAsync(marker, cancellationToken) is { Value.Length: > 0 }, cancellationToken))
        {
            var error = $"cannot publish outbox message to topic {config.PublishTopic} with pubsub {config.PublishPubSub}: outbox state not found";
            if (config.DiscardWhenMissingState)
            {
                logger.LogError("failed to publish outbox topic to pubsub {PubSub}: {Error}, discarding message", config.PublishPubSub, error);
                return;
            }
            logger.LogError("failed to publish outbox topic to pubsub {PubSub}: {Error}, rejecting for later processing", config.PublishPubSub, error);
            throw new InvalidOperationException(error);
        }

        envelope["topic"] = config.PublishTopic;
        envelope["pubsubname"] = config.PublishPubSub;
        var pubsub = PubSub(config.PublishPubSub);
        await pubsub.PublishAsync(new BrokerMessage(config.PublishTopic, CloudEvents.SortedJson(envelope),
            (string?)envelope["datacontenttype"] ?? "", new Dictionary<string, string>()), cancellationToken);
        await RetryAsync(async () =>
        {
            await store.WriteAsync(new StateWrite(marker, null, null, Concurrency.Unspecified, StateWrite.NoMetadata), cancellationToken);
            return true;
        }, cancellationToken);
    }

    /// <summary>daprd's back-off here: 500 ms, times 3, at most 3 s apart, for 10 s. An exception counts as a failed try.</summary>
    private static async Task<bool> RetryAsync(Func<Task<bool>> attempt, CancellationToken cancellationToken)
    {
        var deadline = DateTimeOffset.UtcNow + TimeSpan.FromSeconds(10);
        var interval = TimeSpan.FromMilliseconds(500);
        while (true)
        {
            try
            {
                if (await attempt()) return true;
            }
            catch (Exception e) when (e is not OperationCanceledException && DateTimeOffset.UtcNow < deadline) { }
            if (DateTimeOffset.UtcNow + interval > deadline) return false;
            await Task.Delay(interval, cancellationToken);
            interval = TimeSpan.FromTicks(Math.Min(interval.Ticks * 3, TimeSpan.FromSeconds(3).Ticks));
        }
    }

    /// <summary>dapr/kit strings.IsTruthy.</summary>
    private static bool IsTruthy(string? value) =>
        value?.Trim().ToLowerInvariant() is "y" or "yes" or "true" or "t" or "on" or "1";

    /// <summary>Go's json.Marshal of a decoded value: object keys sorted.</summary>
    private static JsonNode? Sorted(JsonNode? node) => node switch
    {
        JsonObject o => new JsonObject(o.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => KeyValuePair.Create(kv.Key, Sorted(kv.Value)))),
        JsonArray a => new JsonArray(a.Select(Sorted).ToArray()),
        _ => node?.DeepClone(),
    };

    /// <summary>Go's fmt "%v" of a value json.Unmarshal decoded (maps sorted, numbers float64).</summary>
    private static string GoPrint(JsonNode? node) => node switch
    {
        null => "<nil>",
        JsonObject o => "map[" + string.Join(' ', o.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Key + ":" + GoPrint(kv.Value))) + "]",
        JsonArray a => "[" + string.Join(' ', a.Select(GoPrint)) + "]",
        JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
        JsonValue v when v.GetValueKind() == JsonValueKind.Number => GoFloat(v.GetValue<double>()),
        _ => node.ToJsonString(),
    };

    /// <summary>%v of a float64: strconv's shortest 'g', so exponent form when the exponent is below -4 or from 6 on
    /// (1e+06, 1.5e-05).</summary>
    private static string GoFloat(double value)
    {
        if (value == 0) return "0";
        var shortest = Math.Abs(value).ToString("E16", CultureInfo.InvariantCulture);
        var roundTrip = Math.Abs(value).ToString("R", CultureInfo.InvariantCulture);
        var digits = roundTrip.Split('E')[0].Replace(".", "", StringComparison.Ordinal).TrimStart('0').TrimEnd('0');
        var exponent = int.Parse(shortest.Split('E')[1], CultureInfo.InvariantCulture);
        var sign = value < 0 ? "-" : "";
        if (exponent < -4 || exponent >= 6)
        {
            var mantissa = digits.Length > 1 ? digits[0] + "." + digits[1..] : digits;
            return $"{sign}{mantissa}e{(exponent < 0 ? "-" : "+")}{Math.Abs(exponent):00}";
        }
        return sign + Math.Abs(value).ToString("0.#################", CultureInfo.InvariantCulture);
    }
}
