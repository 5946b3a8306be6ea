using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using DevSidecar.Hosting;

namespace DevSidecar.PubSub;

/// <summary>
/// Builds the CloudEvent envelope as daprd does on publish (runtime/pubsub/cloudevents.go, contrib pubsub/envelope.go)
/// and as it does on the subscriber side for raw payloads.
/// </summary>
public static class CloudEvents
{
    public const string ContentType = "application/cloudevents+json";
    public const string DefaultType = "com.dapr.event.sent";

    // Keys of cloudevent.* metadata that override envelope fields, matched case-insensitively as mapstructure does.
    private static readonly string[] OverridableFields = ["id", "source", "type", "subject", "traceid", "tracestate", "traceparent"];

    public sealed record PublishContext(string PubSub, string Topic, string SourceAppId, string TraceParent, string? TraceState);

    /// <summary>Wraps a published body into the envelope; throws <see cref="FormatException"/> for an invalid CloudEvent body.</summary>
    public static byte[] Wrap(ReadOnlySpan<byte> body, string? contentType, IReadOnlyDictionary<string, string> metadata, PublishContext context)
    {
        var mediaType = contentType?.Split(';', 2)[0].Trim().ToLowerInvariant();
        JsonObject envelope;
        if (mediaType == ContentType)
        {
            try
            {
                envelope = JsonNode.Parse(body) as JsonObject ?? throw new FormatException("the body is not a JSON object");
            }
            catch (JsonException e)
            {
                throw new FormatException(e.Message);
            }
            envelope.TryAdd("id", Guid.NewGuid().ToString());
            envelope.TryAdd("source", "Dapr");
            envelope.TryAdd("type", DefaultType);
            envelope.TryAdd("specversion", "1.0");
            AddTraceIfMissing(envelope, context);
        }
        else
        {
            envelope = new JsonObject
            {
                ["id"] = Guid.NewGuid().ToString(),
                ["source"] = context.SourceAppId,
                ["type"] = DefaultType,
                ["specversion"] = "1.0",
                ["datacontenttype"] = contentType ?? "text/plain",
            };
            SetData(envelope, body, mediaType);
            AddTraceIfMissing(envelope, context);
            ApplyOverrides(envelope, metadata);
        }
        envelope["topic"] = context.Topic;
        envelope["pubsubname"] = context.PubSub;
        envelope.TryAdd("time", Rfc3339Local(DateTimeOffset.Now));
        if (TtlFromMetadata(metadata) is { } ttl)
            envelope["expiration"] = DateTimeOffset.UtcNow.Add(ttl).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
        return SortedJson(envelope);
    }

    /// <summary>The envelope daprd makes for a subscription with rawPayload: the broker bytes as data_base64.</summary>
    public static byte[] FromRawPayload(ReadOnlySpan<byte> data, string topic, string pubsub) => SortedJson(new JsonObject
    {
        ["id"] = Guid.NewGuid().ToString(),
        ["specversion"] = "1.0",
        ["datacontenttype"] = "application/octet-stream",
        ["source"] = "Dapr",
        ["type"] = DefaultType,
        ["topic"] = topic,
        ["pubsubname"] = pubsub,
        ["data_base64"] = Convert.ToBase64String(data),
    });

    /// <summary>ttlInSeconds (or ttl, seconds or a duration) from publish metadata; throws FormatException when invalid.</summary>
    public static TimeSpan? TtlFromMetadata(IReadOnlyDictionary<string, string> metadata)
    {
        if (metadata.TryGetValue("ttlInSeconds", out var seconds))
            return long.TryParse(seconds, out var s) && s >= 0 ? TimeSpan.FromSeconds(s) : throw new FormatException($"ttlInSeconds '{seconds}' is not a non-negative integer");
        if (metadata.TryGetValue("ttl", out var ttl))
        {
            if (long.TryParse(ttl, out var s2) && s2 >= 0) return TimeSpan.FromSeconds(s2);
            return GoDuration.TryParse(ttl, out var d) ? d : throw new FormatException($"ttl '{ttl}' is not a duration");
        }
        return null;
    }

    internal static void SetData(JsonObject envelope, ReadOnlySpan<byte> body, string? mediaType)
    {
        if (mediaType == "application/json")
        {
            try
            {
                envelope["data"] = body.IsEmpty ? null : JsonNode.Parse(body);
                return;
            }
            catch (JsonException)
            {
                // daprd keeps an unparsable JSON body as a string.
            }
        }
        if (mediaType == "application/octet-stream")
            envelope["data_base64"] = Convert.ToBase64String(body);
        else
            envelope["data"] = Encoding.UTF8.GetString(body);
    }

    private static void AddTraceIfMissing(JsonObject envelope, PublishContext context)
    {
        if (!envelope.ContainsKey("traceparent") && !envelope.ContainsKey("traceid"))
        {
            envelope["traceid"] = context.TraceParent;
            envelope["traceparent"] = context.TraceParent;
        }
        else if (!envelope.ContainsKey("traceparent"))
        {
            envelope["traceparent"] = envelope["traceid"]?.DeepClone();
        }
        else if (!envelope.ContainsKey("traceid"))
        {
            envelope["traceid"] = envelope["traceparent"]?.DeepClone();
        }
        if (context.TraceState is { Length: > 0 } state) envelope.TryAdd("tracestate", state);
    }

    private static void ApplyOverrides(JsonObject envelope, IReadOnlyDictionary<string, string> metadata)
    {
        foreach (var (key, value) in metadata)
        {
            if (!key.StartsWith("cloudevent.", StringComparison.OrdinalIgnoreCase)) continue;
            var field = key["cloudevent.".Length..].ToLowerInvariant();
            if (OverridableFields.Contains(field)) envelope[field] = value;
        }
        // traceparent wins over traceid.
        if (metadata.Keys.Any(k => k.Equals("cloudevent.traceparent", StringComparison.OrdinalIgnoreCase)))
            envelope["traceid"] = envelope["traceparent"]?.DeepClone();
        else if (metadata.Keys.Any(k => k.Equals("cloudevent.traceid", StringComparison.OrdinalIgnoreCase)))
            envelope["traceparent"] = envelope["traceid"]?.DeepClone();
    }

    /// <summary>daprd's envelope is a Go map, so its JSON keys come out sorted.</summary>
    internal static byte[] SortedJson(JsonObject envelope)
    {
        var sorted = new JsonObject();
        foreach (var (key, value) in envelope.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList())
        {
            envelope.Remove(key);
            sorted[key] = value;
        }
        return JsonSerializer.SerializeToUtf8Bytes(sorted, SidecarJson.Default.JsonObject);
    }

    /// <summary>RFC3339 to the second with the local offset, as Go's time.Now().Format(time.RFC3339).</summary>
    internal static string Rfc3339Local(DateTimeOffset now) =>
        now.Offset == TimeSpan.Zero
            ? now.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture)
            : now.ToString("yyyy-MM-dd'T'HH:mm:sszzz", CultureInfo.InvariantCulture);
}

/// <summary>Parses Go duration strings such as "1h30m", "10s", "250ms".</summary>
public static class GoDuration
{
    public static bool TryParse(string text, out TimeSpan duration)
    {
        duration = TimeSpan.Zero;
        var i = 0;
        if (text.Length == 0) return false;
        while (i < text.Length)
        {
            var start = i;
            while (i < text.Length && (char.IsDigit(text[i]) || text[i] == '.')) i++;
            if (start == i || !double.TryParse(text[start..i], NumberStyles.Float, CultureInfo.InvariantCulture, out var value)) return false;
            var unitStart = i;
            while (i < text.Length && !char.IsDigit(text[i])) i++;
            var perUnit = text[unitStart..i] switch
            {
                "ns" => TimeSpan.FromTicks(1) / 100,
                "us" or "µs" => TimeSpan.FromTicks(10),
                "ms" => TimeSpan.FromMilliseconds(1),
                "s" => TimeSpan.FromSeconds(1),
                "m" => TimeSpan.FromMinutes(1),
                "h" => TimeSpan.FromHours(1),
                _ => TimeSpan.MinValue,
            };
            if (perUnit == TimeSpan.MinValue) return false;
            duration += perUnit * value;
        }
        return true;
    }
}
