using DevSidecar.Resources;
using DevSidecar.Api;
using DevSidecar.Hosting;
using DevSidecar.Invocation;
using DevSidecar.Resiliency;

namespace DevSidecar.PubSub;

/// <summary>One entry of a bulk publish, after its event has been turned into bytes.</summary>
public sealed record BulkEntry(string EntryId, byte[] Event, string ContentType, IReadOnlyDictionary<string, string> Metadata);

public sealed record FailedEntry(string EntryId, string Error);

/// <summary>Publishing behind both the HTTP and the gRPC front end: envelope, metadata rules and daprd's error codes.</summary>
public sealed class PublishApi(ComponentRegistry components, SidecarOptions options, ResiliencyPolicies resiliency)
{
    /// <summary>A publish as daprd's publisher makes it: under the component's outbound policy (publisher/publisher.go).</summary>
    public Task PublishWithPolicyAsync(IPubSub pubsub, BrokerMessage message, CancellationToken cancellationToken) =>
        resiliency.ComponentOutbound(pubsub.Spec.Name, ComponentKind.Pubsub)
            .RunAsync(async ct => { await pubsub.PublishAsync(message, ct); return true; }, cancellationToken);

    public IPubSub PubSub(string name)
    {
        if (string.IsNullOrEmpty(name)) throw DaprError.PubSubEmpty();
        if (components.PubSubs.Count == 0) throw DaprError.PubSubNotConfigured();
        return components.PubSubs.TryGetValue(name, out var pubsub) ? pubsub : throw DaprError.PubSubNotFound(name);
    }

    public async Task PublishAsync(string pubsubName, string topic, byte[] body, string? contentType,
        IReadOnlyDictionary<string, string> metadata, string? traceParent, string? traceState, CancellationToken cancellationToken)
    {
        var pubsub = PubSub(pubsubName);
        if (string.IsNullOrEmpty(topic)) throw DaprError.TopicEmpty(pubsubName);
        var message = ToMessage(pubsubName, topic, body, contentType, metadata, traceParent, traceState);
        try
        {
            await PublishWithPolicyAsync(pubsub, message, cancellationToken);
        }
        catch (Exception e) when (e is not DaprError and not OperationCanceledException)
        {
            throw DaprError.PubSubPublish(pubsubName, topic, e.Message);
        }
    }

    /// <summary>Publishes every entry; answers the ones that failed (daprd reports them, it does not throw).</summary>
    public async Task<IReadOnlyList<FailedEntry>> BulkPublishAsync(string pubsubName, string topic, IReadOnlyList<BulkEntry> entries,
        IReadOnlyDictionary<string, string> metadata, string? traceParent, string? traceState, CancellationToken cancellationToken)
    {
        var pubsub = PubSub(pubsubName);
        if (string.IsNullOrEmpty(topic)) throw DaprError.TopicEmpty(pubsubName);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var entry in entries)
        {
            if (string.IsNullOrEmpty(entry.EntryId)) throw DaprError.PubSubEvents(pubsubName, "error: entryId is duplicated or not present for entry");
            if (!seen.Add(entry.EntryId)) throw DaprError.PubSubEvents(pubsubName, $"error: entryId is duplicated or not present for entry {entry.EntryId}");
        }
        var messages = entries.Select(entry =>
        {
            var merged = new Dictionary<string, string>(metadata, StringComparer.Ordinal);
            foreach (var (k, v) in entry.Metadata) merged[k] = v; // entry metadata overrides request metadata
            return (entry.EntryId, Message: ToMessage(pubsubName, topic, entry.Event, entry.ContentType, merged, traceParent, traceState));
        }).ToList();

        var failed = new List<FailedEntry>();
        foreach (var (entryId, message) in messages)
        {
            try
            {
                await PublishWithPolicyAsync(pubsub, message, cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                failed.Add(new FailedEntry(entryId, e.Message));
            }
        }
        return failed;
    }

    private BrokerMessage ToMessage(string pubsubName, string topic, byte[] body, string? contentType,
        IReadOnlyDictionary<string, string> metadata, string? traceParent, string? traceState)
    {
        bool raw;
        try
        {
            raw = metadata.TryGetValue("rawPayload", out var rawText) && GoBool.Parse(rawText);
        }
        catch (FormatException e)
        {
            throw DaprError.PubSubMetadata(pubsubName, e.Message);
        }
        if (raw) return new BrokerMessage(topic, body, contentType ?? "application/octet-stream", metadata);

        byte[] envelope;
        try
        {
            envelope = CloudEvents.Wrap(body, contentType, metadata,
                new CloudEvents.PublishContext(pubsubName, topic, options.AppId, traceParent ?? TraceContext.NewTraceParent(), traceState));
        }
        catch (FormatException e)
        {
            throw DaprError.PubSubCloudEvent(pubsubName, e.Message);
        }
        return new BrokerMessage(topic, envelope, CloudEvents.ContentType, metadata);
    }
}

/// <summary>Go's strconv.ParseBool, which daprd uses for boolean metadata.</summary>
public static class GoBool
{
    public static bool Parse(string text) => text switch
    {
        "1" or "t" or "T" or "TRUE" or "true" or "True" => true,
        "0" or "f" or "F" or "FALSE" or "false" or "False" => false,
        _ => throw new FormatException($"strconv.ParseBool: parsing \"{text}\": invalid syntax"),
    };
}
