using Dapr;
using Dapr.Client;
using OrderFlow.Contracts;
using OrderFlow.ServiceDefaults;

namespace OrderFlow.Inventory;

/// <summary>
/// Reserves and releases stock in the state store with single-key writes only, each guarded by its ETag.
/// <para>Why not one transaction over the levels and the reservation: components-contrib v1.17.6 state/redis/redis.go
/// runs each operation of a transaction as its own script in MULTI/EXEC, so an operation whose ETag no longer matches
/// fails while the others still apply, and first-write is not enforced inside a transaction; daprd
/// (pkg/api/grpc/grpc.go, v1.17.9) answers Internal, "error while executing state transaction: …". A reservation could
/// be stored while its stock write lost the race, and the next delivery would announce stock never taken.</para>
/// <para>The protocol: the reservation record is the commit point, and every attempt (one delivery of one event) has an
/// id of its own. (1) For each SKU the attempt takes the stock at once and notes it as pending under its id, in one
/// write of the level; a SKU short of stock ends it with a rejection. (2) It writes the record, first-write, naming
/// itself as the decider; if another attempt of the order got there first, that one's decision holds. (3) It settles
/// each level by the recorded decision: the decider's stock stays (its note goes), any other attempt's goes back. A
/// delivery that finds the record decided only settles (idempotent) and announces. A release notes its intent on each
/// level without giving anything back, moves the record Reserved → Released under the record's ETag (one winner), and
/// then settles: only the recorded release gives stock back, once. A crash leaves notes that the next delivery of the
/// order settles; until then the noted stock stays held, never sold twice.</para>
/// </summary>
public sealed class Warehouse(DaprClient dapr, TimeProvider clock, ILogger<Warehouse> logger)
{
    private const string SkuIndexKey = "skus-index";
    private static readonly TimeSpan WaitForOtherAttempt = TimeSpan.FromSeconds(3);

    private static string StockKey(string sku) => $"stock-{sku}";
    private static string ReservationKey(string orderId) => $"reservation-{orderId}";
    private static string NewAttemptId() => Guid.NewGuid().ToString("N");

    public Task<StockLevel?> GetStockAsync(string sku, CancellationToken ct) =>
        dapr.GetStateAsync<StockLevel?>(Components.StateStore, StockKey(sku), cancellationToken: ct);

    public async Task<IReadOnlyList<StockLevel>> ListStockAsync(CancellationToken ct) =>
        (await dapr.ReadIndexedAsync<StockLevel>(SkuIndexKey, StockKey, ct)).OrderBy(l => l.Sku, StringComparer.Ordinal).ToList();

    /// <summary>Sets what is available for a SKU (demos and tests); what is reserved or pending stays.</summary>
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
        await SettleAsync(reservation, ct);
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
        var (reservation, etag) = await dapr.GetStateAndETagAsync<Reservation?>(Components.StateStore, ReservationKey(order.OrderId), cancellationToken: ct);
        if (reservation is { Status: ReservationStatus.Reserved })
        {
            var release = new PendingChange(order.OrderId, NewAttemptId(), 0, PendingKind.Release);
            await NoteReleaseAsync(reservation, release, ct);
            reservation = await CommitReleaseAsync(reservation with
            {
                Status = ReservationStatus.Released, Reason = reason, ReleasedAt = clock.GetUtcNow(), ReleasedBy = release.AttemptId,
            }, etag, ct);
        }
        if (reservation is { Status: ReservationStatus.Released }) await SettleAsync(reservation, ct);
        await dapr.PublishEventAsync(Components.PubSub, Topics.StockReleased, new StockReleased(order, reason), ct);
        return new StepResult(true);
    }

    /// <summary>The order's recorded decision: found, or made by this attempt, or by a concurrent one that recorded first.</summary>
    private async Task<Reservation> DecideAsync(OrderDetails order, CancellationToken ct)
    {
        // One bulk read of the record and every level the order needs; the first write of each level carries its ETag.
        var skus = StockRules.Demand(order.Items).Keys.ToList();
        var read = (await dapr.GetBulkStateAsync(Components.StateStore, [ReservationKey(order.OrderId), .. skus.Select(StockKey)], parallelism: 1,
            cancellationToken: ct)).ToDictionary(i => i.Key);
        if (dapr.Typed<Reservation>(read[ReservationKey(order.OrderId)]).Value is { } decided) return decided;

        var attemptId = NewAttemptId();
        var shortage = await TakeStockAsync(order, attemptId, ct, sku => dapr.Typed<StockLevel>(read[StockKey(sku)]));
        // Stock short because a duplicate delivery of this very order holds it: its decision is moments away, and
        // rejecting now would race it for a worse answer.
        if (shortage is { HeldByAnotherAttempt: true } && await AwaitDecisionAsync(order.OrderId, ct) is { } theirs) return theirs;

        var mine = new Reservation(order.OrderId, order.Items, shortage is null ? ReservationStatus.Reserved : ReservationStatus.Rejected,
            shortage?.Reason, DecidedBy: attemptId);
        if (await dapr.TryCreateStateAsync(ReservationKey(order.OrderId), mine, ct))
        {
            logger.LogInformation("order {OrderId}: stock {Outcome}{Reason}", order.OrderId,
                shortage is null ? "reserved" : "rejected", shortage is null ? "" : $" ({shortage.Reason})");
            return mine;
        }
        return await GetReservationAsync(order.OrderId, ct)
               ?? throw new InvalidOperationException($"order {order.OrderId}: the reservation was written by another attempt, yet is not there");
    }

    private sealed record Shortage(string Reason, bool HeldByAnotherAttempt);

    /// <summary>Phase 1: takes each SKU's quantity and notes it pending under <paramref name="attemptId"/>; stops at the
    /// first SKU short of stock (what was taken goes back when the decision is settled).</summary>
    private async Task<Shortage?> TakeStockAsync(OrderDetails order, string attemptId, CancellationToken ct,
        Func<string, (StockLevel?, string)> known)
    {
        foreach (var (sku, quantity) in StockRules.Demand(order.Items).OrderBy(d => d.Key, StringComparer.Ordinal))
        {
            var reservation = new PendingChange(order.OrderId, attemptId, quantity, PendingKind.Reserve);
            Shortage? shortage = null;
            await dapr.UpdateStateAsync<StockLevel>(StockKey(sku), level =>
            {
                var (next, reason) = StockRules.Reserve(level, sku, reservation);
                shortage = reason is null ? null : new Shortage(reason, StockRules.HeldByAnotherAttempt(level, order.OrderId, attemptId));
                return next;
            }, ct, known: known(sku));
            if (shortage is not null) return shortage;
        }
        return null;
    }

    /// <summary>The order's decision once another attempt records it; null if none does within a short while (that attempt died).</summary>
    private async Task<Reservation?> AwaitDecisionAsync(string orderId, CancellationToken ct)
    {
        var deadline = clock.GetUtcNow() + WaitForOtherAttempt;
        for (var delay = 5; clock.GetUtcNow() < deadline; delay = Math.Min(delay * 2, 200))
        {
            if (await GetReservationAsync(orderId, ct) is { } decided) return decided;
            await Task.Delay(delay, ct);
        }
        return null;
    }

    /// <summary>Release phase 1: notes the release on each level (and settles the reservation there, should a cut-off
    /// delivery have left it pending), so the release can be applied exactly once after it is recorded.</summary>
    private Task NoteReleaseAsync(Reservation reservation, PendingChange release, CancellationToken ct) =>
        Task.WhenAll(StockRules.Demand(reservation.Items).Select(d =>
        {
            var noted = release with { Quantity = d.Value };
            return dapr.UpdateStateAsync<StockLevel>(StockKey(d.Key), level =>
            {
                if (level is null) return null;
                var settled = StockRules.Settle(level, reservation);
                if (!StockRules.Carries(settled, noted)) return StockRules.NoteRelease(settled, noted);
                return ReferenceEquals(settled, level) ? null : settled;
            }, ct);
        }));

    /// <summary>Release phase 2: Reserved → Released under the record's ETag; the decision that holds (this or a concurrent release).</summary>
    private async Task<Reservation> CommitReleaseAsync(Reservation released, string etag, CancellationToken ct)
    {
        try
        {
            if (await dapr.TrySaveStateAsync(Components.StateStore, ReservationKey(released.OrderId), released, etag, cancellationToken: ct))
            {
                logger.LogInformation("released stock of order {OrderId}: {Reason}", released.OrderId, released.Reason);
                return released;
            }
        }
        catch (DaprException)
        {
            // A write whose answer was lost, or a store that reports the conflict as an error: the record tells.
            if (await GetReservationAsync(released.OrderId, ct) is { Status: ReservationStatus.Released } decided) return decided;
            throw;
        }
        return await GetReservationAsync(released.OrderId, ct) is { Status: ReservationStatus.Released } winner
            ? winner
            : throw new InvalidOperationException($"order {released.OrderId}: the reservation changed, yet is not released");
    }

    /// <summary>Phase 3: resolves what the order has pending on each level by its recorded decision. Idempotent.</summary>
    private Task SettleAsync(Reservation decision, CancellationToken ct) =>
        Task.WhenAll(StockRules.Demand(decision.Items).Keys.Select(sku =>
            dapr.UpdateStateAsync<StockLevel>(StockKey(sku), level =>
            {
                if (level is null) return null;
                var settled = StockRules.Settle(level, decision);
                return ReferenceEquals(settled, level) ? null : settled;
            }, ct)));
}
