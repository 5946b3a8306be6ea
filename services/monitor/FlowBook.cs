using System.Text.Json;
using Dapr;
using Dapr.Client;
using Microsoft.Extensions.Options;
using OrderFlow.Contracts;
using OrderFlow.ServiceDefaults;

namespace OrderFlow.Monitor;

/// <summary>Every order's timeline, kept in the state store, and the two decisions on it: stalled, and redrive.</summary>
public sealed class FlowBook(DaprClient dapr, IOptions<MonitorOptions> options, TimeProvider clock, FlowChanges changes,
    ILogger<FlowBook> logger)
{
    private const string IndexKey = "flows-index";

    /// <summary>The flows still in progress or stalled: what the stall detector checks, so its work does not grow with history.</summary>
    public const string OpenIndexKey = "flows-open";

    private static string Key(string orderId) => $"flow-{orderId}";

    public Task<Flow?> GetAsync(string orderId, CancellationToken ct) =>
        dapr.GetStateAsync<Flow?>(Components.StateStore, Key(orderId), cancellationToken: ct);

    public Task<IReadOnlyList<Flow>> ListAsync(CancellationToken ct) => dapr.ReadIndexedAsync<Flow>(IndexKey, Key, ct);

    public Task<IReadOnlyList<Flow>> ListOpenAsync(CancellationToken ct) => dapr.ReadIndexedAsync<Flow>(OpenIndexKey, Key, ct);

    /// <summary>
    /// Records a flow event in two calls for most events: one bulk read of the flow and its two index shards (with their
    /// ETags), then one ETag-guarded write of the flow, in one transaction with the shards whenever they must change.
    /// A flow's start costs one more: its index entries are written BEFORE the flow is created (first-write, single key),
    /// so whoever reads the flow finds it indexed already, and the event that ends it removes it from the open index
    /// under the shard's ETag. (One transaction of flow and shards would be one call fewer, but state.redis does not
    /// enforce first-write in a transaction and applies its operations one by one, components-contrib v1.17.6
    /// state/redis/redis.go: two first events of one order racing would both write the flow, and one step be lost.)
    /// Events of one order arrive concurrently and out of order (the outbox announces order-placed a second after the
    /// later steps may have run), so every attempt makes the shards match the flow as read: an ended flow listed as
    /// open (a racer's start that lost its creation to the end) is removed, and the write that ends a flow always
    /// carries the open shard's ETag, so that a shard read before a racer's add cannot pass. Events without an order
    /// id are not flow events and are ignored.
    /// </summary>
    public async Task RecordAsync(string topic, JsonElement data, string? app, string? traceId, CancellationToken ct)
    {
        if (!data.TryGetProperty("order", out var order) || !order.TryGetProperty("orderId", out var id) || id.GetString() is not { } orderId)
        {
            logger.LogWarning("event on {Topic} carries no order id; ignored", topic);
            return;
        }
        var step = new FlowStep(topic, clock.GetUtcNow(), app, traceId);
        string flowKey = Key(orderId), indexShard = StateExtensions.ShardKey(IndexKey, orderId), openShard = StateExtensions.ShardKey(OpenIndexKey, orderId);
        for (var attempt = 1; ; attempt++)
        {
            var items = (await dapr.GetBulkStateAsync(Components.StateStore, [flowKey, indexShard, openShard], parallelism: 1, cancellationToken: ct))
                .ToDictionary(i => i.Key);
            var (current, etag) = dapr.Typed<Flow>(items[flowKey]);
            var indexed = new Shard(dapr, items[indexShard]);
            var open = new Shard(dapr, items[openShard]);
            bool done;
            if (current is null)
            {
                var started = Flow.Start(orderId, step, data);
                done = await ListAsync(orderId, indexed, started.IsOpen ? open : null, ct) && await dapr.TryCreateStateAsync(flowKey, started, ct);
                if (done) changes.Announce(orderId);
            }
            else
            {
                var next = current.With(step, data);
                var flow = next ?? current;
                var ended = current.IsOpen && !flow.IsOpen;
                done = await WriteAsync(orderId, flowKey, flow, next is not null, etag, indexed, open.Lists(orderId) != flow.IsOpen || ended ? (open, flow.IsOpen) : null, ct);
                if (done && next is not null) changes.Announce(orderId);
            }
            if (done) return;
            if (attempt == 100) throw new InvalidOperationException($"gave up recording {topic} of order {orderId} after 100 conflicting writes");
            await Task.Delay(Random.Shared.Next(1, 5 + attempt), ct);
        }
    }

    /// <summary>An index shard as a bulk read returned it.</summary>
    private readonly record struct Shard(string Key, List<string> Ids, string ETag)
    {
        public Shard(DaprClient dapr, BulkStateItem item) : this(item.Key, dapr.Typed<List<string>>(item).Value ?? [], item.ETag ?? "") { }

        public bool Exists => ETag.Length > 0;
        public bool Lists(string id) => Ids.Contains(id);
        public List<string> With(string id, bool listed) => listed ? (Lists(id) ? Ids : [.. Ids, id]) : [.. Ids.Where(i => i != id)];
    }

    /// <summary>Lists a flow about to be created in the flows index and (<paramref name="open"/> given) the open index:
    /// one transaction under the shards' ETags; a shard not written yet has no ETag, so it takes the single-key path.
    /// False when a shard changed since the read, for the caller to read again (its create has not happened).</summary>
    private async Task<bool> ListAsync(string orderId, Shard indexed, Shard? open, CancellationToken ct)
    {
        Shard[] shards = [indexed, .. open is { } o ? [o] : Array.Empty<Shard>()];
        var missing = shards.Where(s => !s.Lists(orderId)).ToList();
        if (missing.Count == 0) return true;
        if (missing.Any(s => !s.Exists))
        {
            foreach (var shard in missing) await dapr.AddToIndexAsync(shard.Key == indexed.Key ? IndexKey : OpenIndexKey, orderId, ct);
            return true;
        }
        try
        {
            await dapr.ExecuteStateTransactionAsync(Components.StateStore, [.. missing.Select(s => ShardWrite(s, s.With(orderId, true)))], cancellationToken: ct);
            return true;
        }
        catch (DaprException)
        {
            return false;
        }
    }

    /// <summary>
    /// Writes the flow (unless unchanged) under its ETag, with the flows shard when it misses the flow and the open shard
    /// when <paramref name="open"/> says it must be written (listing the flow or not), all in one transaction; false when
    /// something changed since the read (ETag conflict), for the caller to read again.
    /// </summary>
    private async Task<bool> WriteAsync(string orderId, string flowKey, Flow flow, bool changed, string etag, Shard indexed, (Shard Shard, bool Listed)? open,
        CancellationToken ct)
    {
        var shardWrites = new List<(Shard Shard, bool Listed)>();
        if (!indexed.Lists(orderId)) shardWrites.Add((indexed, true));
        if (open is { } o) shardWrites.Add(o);
        if (shardWrites.Count == 0)
            return !changed || await dapr.TrySaveStateAsync(Components.StateStore, flowKey, flow, etag, FirstWrite, cancellationToken: ct);
        if (shardWrites.Any(w => !w.Shard.Exists))
        {
            // The first entry of a shard (once per shard, ever): no ETag to carry the check, so the single-key way,
            // after the flow: the add reads the flow again (AddToOpenIndexAsync), the removal reads the shard afresh.
            if (changed && !await dapr.TrySaveStateAsync(Components.StateStore, flowKey, flow, etag, FirstWrite, cancellationToken: ct)) return false;
            foreach (var (shard, listed) in shardWrites)
            {
                if (shard.Key == indexed.Key) await dapr.AddToIndexAsync(IndexKey, orderId, ct);
                else if (listed) await AddToOpenIndexAsync(orderId, ct);
                else await dapr.RemoveFromIndexAsync(OpenIndexKey, orderId, ct);
            }
            return true;
        }
        try
        {
            // The flow is written even when unchanged: its ETag is what ties the shards to the flow as read.
            await dapr.ExecuteStateTransactionAsync(Components.StateStore,
                [
                    new StateTransactionRequest(flowKey, JsonSerializer.SerializeToUtf8Bytes(flow, dapr.JsonSerializerOptions), StateOperationType.Upsert,
                        etag: etag, options: FirstWrite),
                    .. shardWrites.Select(w => ShardWrite(w.Shard, w.Shard.With(orderId, w.Listed))),
                ], cancellationToken: ct);
            return true;
        }
        catch (DaprException)
        {
            return false;
        }
    }

    private static readonly StateOptions FirstWrite = new() { Concurrency = ConcurrencyMode.FirstWrite };

    private StateTransactionRequest ShardWrite(Shard shard, List<string> ids) =>
        new(shard.Key, JsonSerializer.SerializeToUtf8Bytes(ids, dapr.JsonSerializerOptions), StateOperationType.Upsert, etag: shard.ETag, options: FirstWrite);

    /// <summary>Records which style ran the order (found once, by <see cref="FlowStyles"/>).</summary>
    public async Task SetStyleAsync(string orderId, string style, CancellationToken ct)
    {
        var changed = false;
        await dapr.UpdateStateAsync<Flow>(Key(orderId), current =>
        {
            changed = current is not null && current.Style != style;
            return changed ? current! with { Style = style } : null;
        }, ct);
        if (changed) changes.Announce(orderId);
    }

    /// <summary>
    /// Adds an open flow to the open index, then reads the flow again: events of one order are delivered concurrently
    /// (the outbox announces order-placed a second after the later steps may have run), so the event that ends the flow
    /// can remove it from the index before this add lands. Whichever of the two writes the index last, one of them sees
    /// the flow ended and removes it.
    /// </summary>
    private async Task AddToOpenIndexAsync(string orderId, CancellationToken ct)
    {
        await dapr.AddToIndexAsync(OpenIndexKey, orderId, ct);
        if (await GetAsync(orderId, ct) is { IsOpen: false }) await dapr.RemoveFromIndexAsync(OpenIndexKey, orderId, ct);
    }

    /// <summary>
    /// Records that an event of the flow reached the dead-letter topic: a subscriber failed it beyond the resiliency
    /// policy's retries (or dropped it), so the flow will not move on by itself. The flow is marked DeadLettered until
    /// it moves again or is redriven.
    /// </summary>
    public async Task RecordDeadLetterAsync(string? topic, JsonElement data, CancellationToken ct)
    {
        if (!data.TryGetProperty("order", out var order) || !order.TryGetProperty("orderId", out var id) || id.GetString() is not { } orderId)
        {
            logger.LogWarning("a dead-lettered event of {Topic} carries no order id; ignored", topic);
            return;
        }
        topic ??= "(unknown topic)";
        var deadLetter = new DeadLetter(topic, clock.GetUtcNow(),
            $"an event of {topic} reached {Topics.FlowDeadLetter}: a subscriber failed it beyond its retries or dropped it");
        var wasOpen = false;
        var flow = await dapr.UpdateStateAsync<Flow>(Key(orderId), current =>
        {
            wasOpen = current is { IsOpen: true };
            // An ended flow stays ended; a flow the monitor has not seen yet starts with the dead-lettered step.
            if (current is { IsOpen: false }) return null;
            var flow = current ?? Flow.Start(orderId, new FlowStep(topic, deadLetter.At, null, null), data);
            return flow with { Status = FlowStatus.DeadLettered, StalledAt = null, DeadLetter = deadLetter };
        }, ct);
        if (flow is not { Status: FlowStatus.DeadLettered }) return;
        await dapr.AddToIndexAsync(IndexKey, orderId, ct);
        if (!wasOpen) await AddToOpenIndexAsync(orderId, ct);
        changes.Announce(orderId);
        logger.LogWarning("order {OrderId}: an event of {Topic} was dead-lettered; flow marked DeadLettered", orderId, topic);
    }

    /// <summary>When the flow's next step is overdue.</summary>
    public DateTimeOffset DueAt(Flow flow) => flow.LastStep.At + options.Value.DeadlineAfter(flow.Last.Topic);

    /// <summary>Marks the flow stalled if it still is overdue; returns it only when this call stalled it.</summary>
    public async Task<Flow?> StallIfOverdueAsync(string orderId, CancellationToken ct)
    {
        Flow? stalled = null;
        await dapr.UpdateStateAsync<Flow>(Key(orderId), current =>
        {
            stalled = null;
            if (current is not { Status: FlowStatus.InProgress } || clock.GetUtcNow() <= DueAt(current)) return null;
            return stalled = current with { Status = FlowStatus.Stalled, StalledAt = clock.GetUtcNow() };
        }, ct);
        if (stalled is not null) changes.Announce(orderId);
        return stalled;
    }

    /// <summary>
    /// Publishes the last good step's event again, so the service that should have reacted to it does (handlers are
    /// idempotent, so whoever did react already changes nothing). Only a stalled or dead-lettered flow is redriven: a
    /// second request finds it in progress again and does nothing.
    /// </summary>
    public async Task<Flow?> RedriveAsync(string orderId, CancellationToken ct)
    {
        Flow? redriven = null;
        await dapr.UpdateStateAsync<Flow>(Key(orderId), current =>
        {
            redriven = null;
            if (current is not { NeedsRedrive: true }) return null;
            return redriven = current with { Status = FlowStatus.InProgress, StalledAt = null, Redrives = current.Redrives + 1 };
        }, ct);
        if (redriven is null) return null;
        changes.Announce(orderId);
        await dapr.PublishEventAsync(Components.PubSub, redriven.Last.Topic, redriven.Last.Data, ct);
        logger.LogWarning("order {OrderId} redriven: {Topic} published again", orderId, redriven.Last.Topic);
        return redriven;
    }
}
