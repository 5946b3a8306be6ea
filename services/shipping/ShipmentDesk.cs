using System.Diagnostics;
using Dapr.Client;
using Microsoft.Extensions.Options;
using OrderFlow.Contracts;
using OrderFlow.ServiceDefaults;

namespace OrderFlow.Shipping;

/// <summary>Accepts shipments at once and settles them later; both steps are idempotent per order.</summary>
public sealed class ShipmentDesk(DaprClient dapr, IOptions<ShippingOptions> options, TimeProvider clock, ILogger<ShipmentDesk> logger)
{
    public const string IndexKey = "shipments-index";
    public const string PendingKey = "shipments-pending";

    private static string Key(string orderId) => $"shipment-{orderId}";

    public Task<Shipment?> GetAsync(string orderId, CancellationToken ct) =>
        dapr.GetStateAsync<Shipment?>(Components.StateStore, Key(orderId), cancellationToken: ct);

    public async Task<IReadOnlyList<Shipment>> ListAsync(CancellationToken ct) =>
        (await dapr.ReadIndexedAsync<Shipment>(IndexKey, Key, ct)).OrderBy(s => s.AcceptedAt).ToList();

    /// <summary>Records the shipment as scheduled (once) and returns it; the dispatcher settles it when due.</summary>
    public async Task<Shipment> AcceptAsync(OrderDetails order, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        // The record and both index entries in one transaction; a shipment found settled stays off the pending list.
        var (shipment, created) = await dapr.CreateIndexedAsync(Key(order.OrderId), order.OrderId, [IndexKey, PendingKey],
            () => new Shipment(order, ShipmentStatus.Scheduled, now, now + options.Value.DispatchDelay, null, null, null, Activity.Current?.Id),
            existing => existing.Status == ShipmentStatus.Scheduled ? [IndexKey, PendingKey] : [IndexKey], ct);
        if (created) logger.LogInformation("order {OrderId}: shipment scheduled for {DueAt:HH:mm:ss.fff}", order.OrderId, shipment.DueAt);
        return shipment;
    }

    /// <summary>Dispatches or fails a due shipment and announces it; announced again if it was settled before.</summary>
    public async Task SettleAsync(string orderId, CancellationToken ct)
    {
        // One bulk read of the shipment and its pending-list shard; both writes carry the ETags read there.
        var read = (await dapr.GetBulkStateAsync(Components.StateStore, [Key(orderId), StateExtensions.ShardKey(PendingKey, orderId)], parallelism: 1,
            cancellationToken: ct)).ToDictionary(i => i.Key);
        var shipment = await dapr.UpdateStateAsync<Shipment>(Key(orderId), current =>
        {
            if (current is not { Status: ShipmentStatus.Scheduled }) return null;
            var reason = ShippingRules.Undeliverable(current.Order.ShipTo, options.Value.UndeliverableCountries);
            return reason is null
                ? current with { Status = ShipmentStatus.Dispatched, TrackingNumber = ShippingRules.TrackingNumber(orderId), DoneAt = clock.GetUtcNow() }
                : current with { Status = ShipmentStatus.Failed, Reason = reason, DoneAt = clock.GetUtcNow() };
        }, ct, known: dapr.Typed<Shipment>(read[Key(orderId)]));
        if (shipment is null) return;

        if (shipment.Status == ShipmentStatus.Dispatched)
        {
            logger.LogInformation("order {OrderId}: dispatched as {Tracking}", orderId, shipment.TrackingNumber);
            await dapr.PublishEventAsync(Components.PubSub, Topics.ShipmentDispatched, new ShipmentDispatched(shipment.Order, shipment.TrackingNumber!), ct);
        }
        else if (shipment.Status == ShipmentStatus.Failed)
        {
            logger.LogInformation("order {OrderId}: shipment failed: {Reason}", orderId, shipment.Reason);
            await dapr.PublishEventAsync(Components.PubSub, Topics.ShipmentFailed, new ShipmentFailed(shipment.Order, shipment.Reason!), ct);
        }
        // Off the pending list only once the outcome is announced, so a crash in between settles it again after restart.
        await dapr.RemoveFromIndexAsync(PendingKey, orderId, ct, read[StateExtensions.ShardKey(PendingKey, orderId)]);
    }
}
