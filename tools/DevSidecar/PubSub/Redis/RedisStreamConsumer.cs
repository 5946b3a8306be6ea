using System.Collections.Concurrent;
using System.Text.Json;
using System.Threading.Channels;
using DevSidecar.Hosting;
using DevSidecar.Resources.Redis;
using DevSidecar.Resources;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace DevSidecar.PubSub.Redis;

/// <summary>
/// One subscription to a redis stream as a member of a consumer group (contrib pubsub/redis):
/// <list type="bullet">
/// <item>a reader does blocking <c>XREADGROUP &gt;</c> on a connection of its own (a blocked command would stall
/// every other caller of a shared multiplexer) and queues up to <c>queueDepth</c> entries;</item>
/// <item><c>concurrency</c> workers hand them to the handler and <c>XACK</c> them afterwards, also when the handler
/// failed (contrib v1.17.6 pubsub/redis/redis.go processMessage), unless it failed after <c>processingTimeout</c>;
/// a handler that failed late or was cancelled by shutdown leaves its entry pending;</item>
/// <item>every <c>redeliverInterval</c> a reclaimer <c>XAUTOCLAIM</c>s entries pending longer than
/// <c>processingTimeout</c>, so the message of a consumer that died is delivered again.</item>
/// </list>
/// The consumer name is the group name, as in contrib. Redis being down or restarted is survived: errors are
/// logged once per outage, reads retry with back-off, and a group lost with the data is created again.
/// </summary>
public sealed class RedisStreamConsumer : IAsyncDisposable
{
    private static readonly TimeSpan ReadBlock = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(5);

    private readonly ComponentSpec _spec;
    private readonly ConnectionMultiplexer _shared;
    private readonly ConnectionMultiplexer _readerConnection;
    private readonly RedisStreamsSettings _settings;
    private readonly int _database;
    private readonly string _topic;
    private readonly string _group;
    private readonly MessageHandler _handler;
    private readonly ILogger _logger;
    private readonly Channel<StreamMessage> _queue;
    private readonly ConcurrentDictionary<string, byte> _taken = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private readonly CancellationTokenSource _abort = new();
    private readonly Lock _lock = new();
    private Task _reader = Task.CompletedTask;
    private Task _reclaimer = Task.CompletedTask;
    private Task[] _workers = [];
    private Task? _disposed;

    private sealed record StreamMessage(string Id, byte[] Data, IReadOnlyDictionary<string, string> Metadata);

    private RedisStreamConsumer(ComponentSpec spec, int database, ConnectionMultiplexer shared, ConnectionMultiplexer readerConnection,
        RedisStreamsSettings settings, string topic, string group, MessageHandler handler, ILogger logger)
    {
        _spec = spec;
        _database = database;
        _shared = shared;
        _readerConnection = readerConnection;
        _settings = settings;
        _topic = topic;
        _group = group;
        _handler = handler;
        _logger = logger;
        _queue = Channel.CreateBounded<StreamMessage>(settings.QueueDepth);
    }

    public static async Task<RedisStreamConsumer> StartAsync(ComponentSpec spec, RedisConnector connector, ConnectionMultiplexer shared,
        RedisStreamsSettings settings, string topic, string group, MessageHandler handler, ILogger logger)
    {
        var readerConnection = await connector.ConnectAsync($"reading topic {topic}");
        var consumer = new RedisStreamConsumer(spec, connector.Database, shared, readerConnection, settings, topic, group, handler, logger);
        consumer._reader = Task.Run(consumer.ReadLoopAsync);
        consumer._reclaimer = Task.Run(consumer.ReclaimLoopAsync);
        consumer._workers = Enumerable.Range(0, settings.Concurrency).Select(_ => Task.Run(consumer.WorkAsync)).ToArray();
        return consumer;
    }

    private IDatabase Shared => _shared.GetDatabase(_database);

    private async Task ReadLoopAsync()
    {
        var stop = _stop.Token;
        var groupReady = false;
        var failing = false;
        var backoff = TimeSpan.FromMilliseconds(100);
        while (!stop.IsCancellationRequested)
        {
            try
            {
                if (!groupReady)
                {
                    await EnsureGroupAsync();
                    groupReady = true;
                }
                var entries = await ReadNewAsync().WaitAsync(stop);
                if (failing)
                {
                    _logger.LogInformation("{Component}: reading topic {Topic} for group {Group} again", _spec.Name, _topic, _group);
                    failing = false;
                    backoff = TimeSpan.FromMilliseconds(100);
                }
                foreach (var entry in entries)
                {
                    _taken.TryAdd(entry.Id, 0);
                    await _queue.Writer.WriteAsync(entry, stop);
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                break;
            }
            catch (RedisServerException e) when (e.Message.StartsWith("NOGROUP", StringComparison.Ordinal))
            {
                // The stream or group is gone (e.g. redis restarted without persistence): create it again.
                _logger.LogWarning("{Component}: consumer group {Group} of topic {Topic} is gone; creating it again", _spec.Name, _group, _topic);
                groupReady = false;
            }
            catch (Exception e)
            {
                if (!failing)
                    _logger.LogError("{Component}: reading topic {Topic} failed: {Error}; retrying with back-off until redis answers",
                        _spec.Name, _topic, e.Message);
                failing = true;
                try { await Task.Delay(backoff, stop); } catch (OperationCanceledException) { break; }
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxBackoff.Ticks));
            }
        }
    }

    /// <summary>XGROUP CREATE at "0" with MKSTREAM: a new group reads the stream's history, as contrib's does.</summary>
    private async Task EnsureGroupAsync()
    {
        try
        {
            await Shared.StreamCreateConsumerGroupAsync(_topic, _group, "0", createStream: true);
        }
        catch (RedisServerException e) when (e.Message.StartsWith("BUSYGROUP", StringComparison.Ordinal)) { }
    }

    /// <summary>A blocking XREADGROUP for new entries; StackExchange.Redis has no blocking variant, so it is sent raw.</summary>
    private async Task<IReadOnlyList<StreamMessage>> ReadNewAsync()
    {
        var db = _readerConnection.GetDatabase(_database);
        var result = await db.ExecuteAsync("XREADGROUP", "GROUP", _group, _group, "COUNT", _settings.QueueDepth,
            "BLOCK", (long)ReadBlock.TotalMilliseconds, "STREAMS", _topic, ">");
        if (result.IsNull) return [];
        var messages = new List<StreamMessage>();
        foreach (var entry in EntriesOf((RedisResult[])result!))
        {
            var parts = (RedisResult[])entry!;
            var fields = parts[1].IsNull ? [] : (RedisResult[])parts[1]!;
            var values = new NameValueEntry[fields.Length / 2];
            for (var i = 0; i < values.Length; i++) values[i] = new((RedisValue)fields[2 * i], (RedisValue)fields[2 * i + 1]);
            messages.Add(ToMessage((string)parts[0]!, values));
        }
        return messages;
    }

    /// <summary>The entries of the one stream read: RESP2 answers [[name, entries]], RESP3 a map {name: entries}.</summary>
    private static RedisResult[] EntriesOf(RedisResult[] streams) =>
        streams.Length == 2 && streams[0].Resp2Type != ResultType.Array
            ? (RedisResult[])streams[1]!
            : (RedisResult[])((RedisResult[])streams[0]!)[1]!;

    private async Task ReclaimLoopAsync()
    {
        if (_settings.RedeliverInterval <= TimeSpan.Zero) return;
        var stop = _stop.Token;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await ReclaimAsync(stop);
                await Task.Delay(_settings.RedeliverInterval, stop);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                // Outages are reported by the reader; a missing group is created by it too.
                _logger.LogDebug("{Component}: reclaiming pending messages of topic {Topic} failed: {Error}", _spec.Name, _topic, e.Message);
                try { await Task.Delay(_settings.RedeliverInterval, stop); } catch (OperationCanceledException) { break; }
            }
        }
    }

    /// <summary>XAUTOCLAIM every entry idle longer than processingTimeout (its consumer died or stalled) and queue it again.</summary>
    private async Task ReclaimAsync(CancellationToken stop)
    {
        RedisValue start = "0-0";
        do
        {
            var claimed = await Shared.StreamAutoClaimAsync(_topic, _group, _group, (long)_settings.ProcessingTimeout.TotalMilliseconds, start, _settings.QueueDepth);
            foreach (var entry in claimed.ClaimedEntries)
            {
                if (entry.IsNull || !_taken.TryAdd(entry.Id!, 0)) continue; // already queued or being handled here
                _logger.LogInformation("{Component}: redelivering message {Id} of topic {Topic}, pending longer than {Timeout}",
                    _spec.Name, entry.Id, _topic, _settings.ProcessingTimeout);
                await _queue.Writer.WriteAsync(ToMessage(entry.Id!, entry.Values), stop);
            }
            // Entries trimmed from the stream while pending can never be delivered: drop them from the pending list.
            if (claimed.DeletedIds.Length > 0) await Shared.StreamAcknowledgeAsync(_topic, _group, claimed.DeletedIds);
            start = claimed.NextStartId;
        } while (start != "0-0" && !stop.IsCancellationRequested);
    }

    private async Task WorkAsync()
    {
        var stop = _stop.Token;
        try
        {
            while (await _queue.Reader.WaitToReadAsync(stop))
            {
                while (!stop.IsCancellationRequested && _queue.Reader.TryRead(out var message)) await HandleAsync(message);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested) { }
    }

    private async Task HandleAsync(StreamMessage message)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            await _handler(new BrokerMessage(_topic, message.Data, CloudEvents.ContentType, message.Metadata), _abort.Token);
        }
        catch (Exception) when (_abort.IsCancellationRequested)
        {
            _logger.LogInformation("{Component}: message {Id} of topic {Topic} was being handled at shutdown; left pending for redelivery",
                _spec.Name, message.Id, _topic);
            return;
        }
        catch (Exception e) when (_settings.ProcessingTimeout > TimeSpan.Zero && _settings.RedeliverInterval > TimeSpan.Zero
                                  && started.Elapsed >= _settings.ProcessingTimeout)
        {
            // contrib runs the handler under a processingTimeout deadline and does not ack a failure once it passed
            // (pubsub/redis/redis.go processMessage): the entry stays pending and is reclaimed, i.e. delivered again.
            _logger.LogError("{Component}: handling message {Id} of topic {Topic} failed after processingTimeout ({Timeout}): {Error}; left pending for redelivery",
                _spec.Name, message.Id, _topic, _settings.ProcessingTimeout, e.Message);
            _taken.TryRemove(message.Id, out _);
            return;
        }
        catch (Exception e)
        {
            // contrib ≥ 1.17 acknowledges failed messages too: retries belong to resiliency policies and dead-letter topics.
            _logger.LogError("{Component}: handling message {Id} of topic {Topic} failed: {Error}; acknowledged (not redelivered), as daprd's redis pub/sub does",
                _spec.Name, message.Id, _topic, e.Message);
        }
        finally
        {
            _taken.TryRemove(message.Id, out _);
        }
        try
        {
            await Shared.StreamAcknowledgeAsync(_topic, _group, message.Id);
        }
        catch (Exception e)
        {
            _logger.LogWarning("{Component}: acknowledging message {Id} of topic {Topic} failed: {Error}; it will be redelivered",
                _spec.Name, message.Id, _topic, e.Message);
        }
    }

    private static StreamMessage ToMessage(string id, NameValueEntry[] values)
    {
        byte[] data = [];
        IReadOnlyDictionary<string, string> metadata = new Dictionary<string, string>();
        foreach (var field in values)
        {
            if (field.Name == "data") data = (byte[])field.Value!;
            else if (field.Name == "metadata" && !field.Value.IsNullOrEmpty)
            {
                try { metadata = JsonSerializer.Deserialize((string)field.Value!, SidecarJson.Default.DictionaryStringString) ?? metadata; }
                catch (JsonException) { /* a foreign producer's field: deliver the data without it */ }
            }
        }
        return new StreamMessage(id, data, metadata);
    }

    /// <summary>Cancels the handlers still running (shutdown grace is over); their messages stay pending.</summary>
    public void Abort()
    {
        _stop.Cancel();
        _abort.Cancel();
    }

    /// <summary>Stops taking messages and waits for the handlers in flight (queued, unhandled ones stay pending).</summary>
    public ValueTask DisposeAsync()
    {
        lock (_lock) _disposed ??= StopAsync();
        return new ValueTask(_disposed);
    }

    private async Task StopAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll([_reader, _reclaimer, .. _workers]);
        await _readerConnection.DisposeAsync();
    }
}
