using System.Text.Json;
using System.Text.Json.Serialization;
using NATS.Client.Core;

namespace DevSidecar.PubSub.JetStream;

/// <summary>
/// The JetStream API requests contrib's pubsub.jetstream makes through nats.go v1.39.1's legacy JetStream context
/// (jsm.go, js.go), sent as nats.go sends them (same subjects, same JSON) and failing with nats.go's error texts, so
/// nats-server accepts and refuses exactly what it would from daprd. Includes the checks nats.go makes on its side
/// before or instead of asking the server (<see cref="CheckConfig"/>, <see cref="DeliverSubjectToBind"/>).
/// </summary>
internal sealed class JetStreamApi(NatsConnection connection, string prefix)
{
    /// <summary>nats.go's default wait for an API reply (DefaultWait).</summary>
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);


    /// <summary>StreamNameBySubject: STREAM.NAMES {"subject": …}; exactly one stream must match.</summary>
    public async Task<string> StreamNameBySubjectAsync(string subject, CancellationToken cancellationToken)
    {
        using var reply = await RequestAsync("STREAM.NAMES", JsonSerializer.SerializeToUtf8Bytes(new StreamNamesRequest(subject), JetStreamJson.Default.StreamNamesRequest), cancellationToken);
        var root = reply.RootElement;
        if (root.TryGetProperty("error", out _) || !root.TryGetProperty("streams", out var streams)
            || streams.ValueKind != JsonValueKind.Array || streams.GetArrayLength() != 1)
            throw new JetStreamException("no stream matches subject");
        return streams[0].GetString()!;
    }

    /// <summary>ConsumerInfo: CONSUMER.INFO.{stream}.{consumer}; null when the consumer does not exist.</summary>
    public async Task<ConsumerInfo?> ConsumerInfoAsync(string stream, string consumer, CancellationToken cancellationToken)
    {
        CheckStreamName(stream);
        CheckConsumerName(consumer);
        using var reply = await RequestAsync($"CONSUMER.INFO.{stream}.{consumer}", [], cancellationToken);
        if (ApiError(reply) is { } error)
        {
            if (error.ErrCode == ConsumerNotFound) return null;
            throw error.ErrCode == StreamNotFound ? new JetStreamException("stream not found") : new JetStreamException(error.Description);
        }
        return reply.Deserialize(JetStreamJson.Default.ConsumerInfo);
    }

    /// <summary>
    /// AddConsumer (jsm.go): a named consumer that exists is taken as it is if <see cref="CheckConfig"/> finds no
    /// difference (the deliver subject, group and filter are not compared), and refused otherwise, without asking the
    /// server; a missing one is created with CONSUMER.CREATE.{stream}.{name}.{filter} (server 2.9+), or the legacy
    /// CONSUMER.CREATE.{stream} for an ephemeral one.
    /// </summary>
    public async Task<ConsumerInfo> AddConsumerAsync(string stream, ConsumerConfig config, CancellationToken cancellationToken)
    {
        if (config.Durable is { } name)
        {
            var existing = await ConsumerInfoOrNullOnMissingStreamAsync(stream, name, cancellationToken);
            if (existing is not null)
            {
                return CheckConfig(existing.Config, config) is null
                    ? existing
                    : throw new JetStreamException($"consumer name already in use: creating consumer \"{name}\" on stream \"{stream}\"");
            }
        }
        CheckStreamName(stream);
        string subject;
        if (config.Durable is not { } durable) subject = $"CONSUMER.CREATE.{stream}";
        else
        {
            CheckConsumerName(durable);
            if (!ServerIsAtLeast(2, 9)) subject = $"CONSUMER.DURABLE.CREATE.{stream}.{durable}";
            else if (config.FilterSubject is null or ">") subject = $"CONSUMER.CREATE.{stream}.{durable}";
            else if (config.FilterSubject.StartsWith('.') || config.FilterSubject.EndsWith('.'))
                throw new JetStreamException($"invalid filter subject: \"{config.FilterSubject}\"");
            else subject = $"CONSUMER.CREATE.{stream}.{durable}.{config.FilterSubject}";
        }
        var request = JsonSerializer.SerializeToUtf8Bytes(new CreateConsumerRequest(stream, config), JetStreamJson.Default.CreateConsumerRequest);
        using var reply = await RequestAsync(subject, request, cancellationToken);
        if (ApiError(reply) is { } error)
        {
            throw error.ErrCode switch
            {
                StreamNotFound => new JetStreamException("stream not found"),
                ConsumerNotFound => new JetStreamException("consumer not found"),
                _ => new JetStreamException(error.Description),
            };
        }
        return reply.Deserialize(JetStreamJson.Default.ConsumerInfo)!;
    }

    /// <summary>AddConsumer goes on to create when the stream is missing; the create then fails with "stream not found".</summary>
    private async Task<ConsumerInfo?> ConsumerInfoOrNullOnMissingStreamAsync(string stream, string consumer, CancellationToken cancellationToken)
    {
        try
        {
            return await ConsumerInfoAsync(stream, consumer, cancellationToken);
        }
        catch (JetStreamException e) when (e.Message == "nats: stream not found")
        {
            return null;
        }
    }

    /// <summary>
    /// What nats.go's Subscribe / QueueSubscribe with nats.Bind checks on the consumer (processConsInfo) before it
    /// subscribes to the consumer's own deliver subject, which is the first creator's inbox, not this caller's.
    /// </summary>
    public static string DeliverSubjectToBind(ConsumerInfo info, string topic, string? queue)
    {
        var config = info.Config;
        if (config.FilterSubject is { Length: > 0 } filter && filter != topic) throw new JetStreamException("subject does not match consumer");
        if (string.IsNullOrEmpty(config.DeliverSubject)) throw new JetStreamException("must use pull subscribe to bind to pull based consumer");
        var group = config.DeliverGroup;
        if (string.IsNullOrEmpty(group))
        {
            if (queue is not null) throw new BindException("cannot create a queue subscription for a consumer without a deliver group");
            if (info.PushBound) throw new BindException("consumer is already bound to a subscription");
        }
        else if (queue is null) throw new BindException($"cannot create a subscription for a consumer with a deliver group \"{group}\"");
        else if (queue != group) throw new BindException($"cannot create a queue subscription \"{queue}\" for a consumer with a deliver group \"{group}\"");
        return config.DeliverSubject;
    }

    /// <summary>
    /// nats.go's checkConfig: the first of the requested settings that differs from the existing consumer's, or null.
    /// Only what the request sets is compared; deliver subject, deliver group and filter subject are not.
    /// </summary>
    public static string? CheckConfig(ConsumerConfig existing, ConsumerConfig requested)
    {
        if (requested.Durable is { } d && d != existing.Durable) return "durable";
        if (requested.DeliverPolicy != existing.DeliverPolicy) return "deliver policy";
        if (requested.OptStartSeq > 0 && requested.OptStartSeq != existing.OptStartSeq) return "optional start sequence";
        if (requested.OptStartTime is { } t && t != existing.OptStartTime) return "optional start time";
        if (requested.AckPolicy != existing.AckPolicy) return "ack policy";
        if (requested.AckWait > 0 && requested.AckWait != existing.AckWait) return "ack wait";
        if (requested.MaxDeliver > 0 && requested.MaxDeliver != existing.MaxDeliver) return "max deliver";
        if (requested.ReplayPolicy != existing.ReplayPolicy) return "replay policy";
        if (requested.RateLimit > 0 && requested.RateLimit != existing.RateLimit) return "rate limit";
        if (requested.MaxAckPending > 0 && requested.MaxAckPending != existing.MaxAckPending) return "max ack pending";
        if (requested.FlowControl && !existing.FlowControl) return "flow control";
        if (requested.Heartbeat > 0 && requested.Heartbeat != existing.Heartbeat) return "heartbeat";
        if (requested.Replicas > 0 && requested.Replicas != existing.Replicas) return "replicas";
        if (requested.MemoryStorage && !existing.MemoryStorage) return "memory storage";
        return null;
    }

    private const int ConsumerNotFound = 10014;
    private const int StreamNotFound = 10059;

    private async Task<JsonDocument> RequestAsync(string api, byte[] body, CancellationToken cancellationToken)
    {
        NatsMsg<byte[]> reply;
        try
        {
            reply = await connection.RequestAsync<byte[], byte[]>(prefix + api, body,
                replyOpts: new NatsSubOpts { Timeout = Wait, ThrowIfNoResponders = true }, cancellationToken: cancellationToken);
        }
        catch (NatsNoRespondersException)
        {
            throw new JetStreamException("jetstream not enabled");
        }
        catch (NatsNoReplyException)
        {
            throw new JetStreamException("timeout");
        }
        return JsonDocument.Parse(reply.Data ?? []);
    }

    private static ApiErrorReply? ApiError(JsonDocument reply) =>
        reply.RootElement.TryGetProperty("error", out var error) ? error.Deserialize(JetStreamJson.Default.ApiErrorReply) : null;

    private static void CheckStreamName(string stream)
    {
        if (stream.Length == 0) throw new JetStreamException("stream name is required");
        if (stream.AsSpan().IndexOfAny(". ") >= 0) throw new JetStreamException("invalid stream name");
    }

    private static void CheckConsumerName(string consumer)
    {
        if (consumer.Length == 0) throw new JetStreamException("consumer name is required");
        if (consumer.AsSpan().IndexOfAny(". ") >= 0) throw new JetStreamException("invalid consumer name");
    }

    private bool ServerIsAtLeast(int major, int minor) =>
        Version.TryParse((connection.ServerInfo?.Version ?? "0.0.0").Split('-')[0], out var v) && (v.Major, v.Minor).CompareTo((major, minor)) >= 0;

}

/// <summary>
/// A consumer's configuration with nats.go v1.39.1's JSON names, order and omissions (ConsumerConfig in jsm.go):
/// durations in nanoseconds; deliver_policy, ack_policy, replay_policy and num_replicas always written.
/// </summary>
internal sealed record ConsumerConfig
{
    [JsonPropertyName("durable_name")] public string? Durable { get; init; }
    [JsonPropertyName("name")] public string? Name { get; init; }
    [JsonPropertyName("deliver_policy"), JsonIgnore(Condition = JsonIgnoreCondition.Never)] public string DeliverPolicy { get; init; } = "all";
    [JsonPropertyName("opt_start_seq")] public ulong OptStartSeq { get; init; }
    [JsonPropertyName("opt_start_time")] public DateTimeOffset? OptStartTime { get; init; }
    [JsonPropertyName("ack_policy"), JsonIgnore(Condition = JsonIgnoreCondition.Never)] public string AckPolicy { get; init; } = "explicit";
    [JsonPropertyName("ack_wait")] public long AckWait { get; init; }
    [JsonPropertyName("max_deliver")] public long MaxDeliver { get; init; }
    [JsonPropertyName("backoff")] public long[]? BackOff { get; init; }
    [JsonPropertyName("filter_subject")] public string? FilterSubject { get; init; }
    [JsonPropertyName("replay_policy"), JsonIgnore(Condition = JsonIgnoreCondition.Never)] public string ReplayPolicy { get; init; } = "instant";
    [JsonPropertyName("rate_limit_bps")] public ulong RateLimit { get; init; }
    [JsonPropertyName("max_ack_pending")] public long MaxAckPending { get; init; }
    [JsonPropertyName("flow_control")] public bool FlowControl { get; init; }
    [JsonPropertyName("idle_heartbeat")] public long Heartbeat { get; init; }
    [JsonPropertyName("deliver_subject")] public string? DeliverSubject { get; init; }
    [JsonPropertyName("deliver_group")] public string? DeliverGroup { get; init; }
    [JsonPropertyName("num_replicas"), JsonIgnore(Condition = JsonIgnoreCondition.Never)] public int Replicas { get; init; }
    [JsonPropertyName("mem_storage")] public bool MemoryStorage { get; init; }

    public static long Nanos(TimeSpan t) => t.Ticks * 100;
}

/// <summary>What the server says about a consumer (the part contrib and nats.go read).</summary>
internal sealed record ConsumerInfo(
    [property: JsonPropertyName("stream_name")] string Stream,
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("config")] ConsumerConfig Config,
    [property: JsonPropertyName("push_bound")] bool PushBound);

internal sealed record StreamNamesRequest([property: JsonPropertyName("subject")] string Subject);

internal sealed record CreateConsumerRequest(
    [property: JsonPropertyName("stream_name"), JsonIgnore(Condition = JsonIgnoreCondition.Never)] string Stream,
    [property: JsonPropertyName("config")] ConsumerConfig Config);

internal sealed record ApiErrorReply(
    [property: JsonPropertyName("code")] int Code,
    [property: JsonPropertyName("err_code")] int ErrCode,
    [property: JsonPropertyName("description")] string Description);

/// <summary>The API bodies' JSON, source-generated (the sidecar is trimmed / AOT-compiled); Go's omitempty is WhenWritingDefault.</summary>
[JsonSerializable(typeof(StreamNamesRequest))]
[JsonSerializable(typeof(CreateConsumerRequest))]
[JsonSerializable(typeof(ConsumerInfo))]
[JsonSerializable(typeof(ApiErrorReply))]
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingDefault)]
internal sealed partial class JetStreamJson : JsonSerializerContext;

/// <summary>A JetStream failure, worded as nats.go words it ("nats: …"), which daprd logs and returns.</summary>
public class JetStreamException(string description) : Exception($"nats: {description}");

/// <summary>nats.go's plain errors from binding a subscription (processConsInfo), which carry no "nats: " prefix.</summary>
internal sealed class BindException(string message) : Exception(message);
