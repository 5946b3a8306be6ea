using System.Text.Json;
using Dapr;
using Dapr.Client;
using OrderFlow.Contracts;
using OrderFlow.ServiceDefaults;

namespace OrderFlow.Inventory;

/// <summary>
/// Reserves and releases stock in the state store. A reservation changes the stock levels and records the decision
/// in one transaction guarded by ETags, so concurrent orders cannot oversell and a redelivered event cannot reserve twice.
/// </summary>
public sealed class Warehouse(DaprClient dapr, TimeProvider clock, ILogger<Warehouse> logger)
{
    private const string SkuIndexKey = "skus-index";
    private const int MaxAttempts = 200;
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private static string StockKey(string sku) => $"stock-{sku}";
    private static string ReservationKey(string orderId) => $"reservation-{orderId}";

    public Task<StockLevel?> GetStockAsync(string sku, CancellationToken ct) =>
        dapr.GetStateAsync<StockLevel?>(Components.StateStore, StockKey(sku), cancellationToken: ct);

    public async Task<IReadOnlyList<StockLevel>> ListStockAsync(CancellationToken ct) =>
        (await dapr.ReadIndexedAsync<StockLevel>(SkuIndexKey, StockKey, ct)).OrderBy(l => l.Sku, StringComparer.Ordinal).ToList();

    /// <summary>Sets what is available for a SKU (demos and tests); what is reserved stays.</summary>
    public async Task<StockLevel> SetAvailableAsync(string sku, int available, CancellationToken ct)
    {
        var level = await dapr.UpdateStateAsync<StockLevel>(StockKey(sku), current =>
            (current ?? new StockLevel(sku, 0, 0)) with { Available = available }, ct);
        await dapr.AddToIndexAsync(SkuIndexKey, sku, ct);
        return level!;
    }

    /// <summary>Writes the initial stock of a SKU unless the store knows it already.</summary>
    public async Task SeedAsync(string sku, int available, CancellationToken ct)
    {
        await dapr.UpdateStateAsync<StockLevel>(StockKey(sku), current => current is null ? new StockLevel(sku, available, 0) : null, ct);
        await dapr.AddToIndexAsync(SkuIndexKey, sku, ct);
    }

    public Task<Reservation?> GetReservationAsync(string orderId, CancellationToken ct) =>
        dapr.GetStateAsync<Reservation?>(Components.StateStore, ReservationKey(orderId), cancellationToken: ct);

    /// <summary>Reserves every item of the order or none, then announces the outcome (again, for a repeated request).</summary>
    public async Task<StepResult> ReserveAsync(OrderDetails order, CancellationToken ct)
    {
        var reservation = await DecideAsync(order, ct);
        if (reservation.Status == ReservationStatus.Rejected)
        {
            await dapr.PublishEventAsync(Components.PubSub, Topics.StockRejected, new StockRejected(order, reservation.Reason!), ct);
            return new StepResult(false, reservation.Reason);
        }
        await dapr.PublishEventAsync(Components.PubSub, Topics.StockReserved, new StockReserved(order), ct);
        return new StepResult(true);
    }

    /// <summary>Gives a reservation back (compensation) and announces it; a rejected or unknown reservation holds nothing to give back.</summary>
    public async Task<StepResult> ReleaseAsync(OrderDetails order, string reason, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            var (reservation, etag) = await dapr.GetStateAndETagAsync<Reservation?>(Components.StateStore, ReservationKey(order.OrderId), cancellationToken: ct);
            if (reservation is not { Status: ReservationStatus.Reserved }) break;

            var levels = await ReadLevelsAsync(reservation.Items, ct);
            var released = StockRules.Release(levels.ToDictionary(l => l.Key, l => l.Value.Level), reservation.Items);
            var operations = released.Select(l => Upsert(StockKey(l.Sku), l, levels[l.Sku].ETag))
                .Append(Upsert(ReservationKey(order.OrderId), reservation with { Status = ReservationStatus.Released, Reason = reason, ReleasedAt = clock.GetUtcNow() }, etag))
                .ToList();
            if (await TryTransactAsync(operations, ct))
            {
                logger.LogInformation("released stock of order {OrderId}: {Reason}", order.OrderId, reason);
                break;
            }
            await BackOffAsync(attempt, order.OrderId, ct);
        }
        await dapr.PublishEventAsync(Components.PubSub, Topics.StockReleased, new StockReleased(order, reason), ct);
        return new StepResult(true);
    }

    private async Task<Reservation> DecideAsync(OrderDetails order, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            if (await GetReservationAsync(order.OrderId, ct) is { } existing) return existing;

            var levels = await ReadLevelsAsync(order.Items, ct);
            var (reserved, rejection) = StockRules.Reserve(levels.ToDictionary(l => l.Key, l => l.Value.Level), order.Items);
            var reservation = new Reservation(order.OrderId, order.Items,
                reserved is null ? ReservationStatus.Rejected : ReservationStatus.Reserved, rejection);

            // The reservation is written first-write (no ETag): a second writer for the same order fails the transaction.
            var operations = (reserved ?? []).Select(l => Upsert(StockKey(l.Sku), l, levels[l.Sku].ETag))
                .Append(Upsert(ReservationKey(order.OrderId), reservation, etag: null))
                .ToList();
            if (await TryTransactAsync(operations, ct))
            {
                logger.LogInformation("order {OrderId}: stock {Outcome}{Reason}", order.OrderId,
                    reservation.Status == ReservationStatus.Reserved ? "reserved" : "rejected", rejection is null ? "" : $" ({rejection})");
                return reservation;
            }
            await BackOffAsync(attempt, order.OrderId, ct);
        }
    }

    private async Task<Dictionary<string, (StockLevel? Level, string ETag)>> ReadLevelsAsync(IEnumerable<OrderItem> items, CancellationToken ct)
    {
        var levels = new Dictionary<string, (StockLevel?, string)>();
        foreach (var sku in StockRules.Demand(items).Keys)
        {
            var (level, etag) = await dapr.GetStateAndETagAsync<StockLevel?>(Components.StateStore, StockKey(sku), cancellationToken: ct);
            levels[sku] = (level, etag ?? "");
        }
        return levels;
    }

    private static StateTransactionRequest Upsert<T>(string key, T value, string? etag) =>
        new(key, JsonSerializer.SerializeToUtf8Bytes(value, Json), StateOperationType.Upsert,
            string.IsNullOrEmpty(etag) ? null : etag,
            options: string.IsNullOrEmpty(etag) ? new StateOptions { Concurrency = ConcurrencyMode.FirstWrite } : null);

    /// <summary>False when another writer got there first (an ETag no longer matches); daprd reports that as an internal error.</summary>
    private async Task<bool> TryTransactAsync(IReadOnlyList<StateTransactionRequest> operations, CancellationToken ct)
    {
        try
        {
            await dapr.ExecuteStateTransactionAsync(Components.StateStore, operations, cancellationToken: ct);
            return true;
        }
        catch (DaprException e) when (e.InnerException is Grpc.Core.RpcException { StatusCode: Grpc.Core.StatusCode.Internal } rpc
                                      && rpc.Status.Detail.Contains("etag", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }
    }

    private static Task BackOffAsync(int attempt, string orderId, CancellationToken ct)
    {
        if (attempt >= MaxAttempts) throw new InvalidOperationException($"order {orderId}: gave up after {MaxAttempts} conflicting stock updates");
        return Task.Delay(Random.Shared.Next(1, 5 + Math.Min(attempt, 50)), ct);
    }
}
