using System.Text.Json;
using Dapr.Client;
using Microsoft.Extensions.Options;
using OrderFlow.Contracts;
using OrderFlow.ServiceDefaults;

namespace OrderFlow.Monitor;

/// <summary>Every order's timeline, kept in the state store, and the two decisions on it: stalled, and redrive.</summary>
public sealed class FlowBook(DaprClient dapr, IOptions<MonitorOptions> options, TimeProvider clock, FlowChanges changes, FlowStyles styles,
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

    /// <summary>Records a flow event; events without an order id are not flow events and are ignored.</summary>
    public async Task RecordAsync(string topic, JsonElement data, string? app, string? traceId, CancellationToken ct)
    {
        if (!data.TryGetProperty("order", out var order) || !order.TryGetProperty("orderId", out var id) || id.GetString() is not { } orderId)
        {
            logger.LogWarning("event on {Topic} carries no order id; ignored", topic);
            return;
        }
        var step = new FlowStep(topic, clock.GetUtcNow(), app, traceId);
        bool started = false, repeated = false, ended = false;
        var flow = await dapr.UpdateStateAsync<Flow>(Key(orderId), current =>
        {
            var next = current is null ? Flow.Start(orderId, step, data) : current.With(step, data);
            (started, repeated, ended) = (current is null, next is null, current is { IsOpen: true } && next is { IsOpen: false });
            return next;
        }, ct);
        // The indexes change only when a flow starts and when it ends, not on every event. A redelivered event (the step
        // is known already) sets them again, which repairs a crash between writing the flow and its indexes.
        if (started || repeated) await dapr.AddToIndexAsync(IndexKey, orderId, ct);
        if (flow!.IsOpen && (started || repeated)) await AddToOpenIndexAsync(orderId, ct);
        else if (!flow.IsOpen && (ended || repeated)) await dapr.RemoveFromIndexAsync(OpenIndexKey, orderId, ct);
        if (!repeated) changes.Announce(orderId);
        if (flow.Style is null && step.Step != Topics.OrderPlaced) styles.Resolve(orderId);
    }

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
