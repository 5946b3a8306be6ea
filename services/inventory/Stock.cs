using System.Text.Json.Serialization;
using OrderFlow.Contracts;

namespace OrderFlow.Inventory;

/// <summary>
/// One SKU's stock: what can still be sold and what is held for orders in flight. <paramref name="Pending"/> lists the
/// changes of reservations and releases not committed yet (see <see cref="Warehouse"/>); null when there are none, so
/// a level at rest carries no history.
/// </summary>
public sealed record StockLevel(string Sku, int Available, int Reserved,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<PendingChange>? Pending = null);

[JsonConverter(typeof(JsonStringEnumConverter<PendingKind>))]
public enum PendingKind { Reserve, Release }

/// <summary>
/// A change one attempt made (Reserve: stock already taken) or means to make (Release: stock not given back yet) to a
/// level, until the attempt's decision is recorded; <paramref name="AttemptId"/> tells the attempts of one order apart.
/// </summary>
public sealed record PendingChange(string OrderId, string AttemptId, int Quantity, PendingKind Kind);

[JsonConverter(typeof(JsonStringEnumConverter<ReservationStatus>))]
public enum ReservationStatus { Reserved, Rejected, Released }

/// <summary>
/// What inventory decided for one order; kept so that a redelivered event gets the same answer. It is the commit point
/// of the stock changes: <paramref name="DecidedBy"/> is the attempt whose reservation counts, <paramref name="ReleasedBy"/>
/// the attempt whose release does.
/// </summary>
public sealed record Reservation(string OrderId, IReadOnlyList<OrderItem> Items, ReservationStatus Status, string? Reason,
    DateTimeOffset? ReleasedAt = null, string? DecidedBy = null, string? ReleasedBy = null);

/// <summary>The stock rules, free of I/O so they can be tested on their own.</summary>
public static class StockRules
{
    /// <summary>Quantities per SKU, with repeated SKUs of one order added up.</summary>
    public static Dictionary<string, int> Demand(IEnumerable<OrderItem> items) =>
        items.GroupBy(i => i.Sku).ToDictionary(g => g.Key, g => g.Sum(i => i.Quantity));

    /// <summary>Whether <paramref name="level"/> already carries <paramref name="change"/> (a write whose answer was lost, or a retry).</summary>
    public static bool Carries(StockLevel level, PendingChange change) => level.Pending?.Contains(change) == true;

    /// <summary>Why <paramref name="quantity"/> of <paramref name="sku"/> cannot be taken from <paramref name="level"/>; null when it can.</summary>
    public static string? Shortage(StockLevel? level, string sku, int quantity) =>
        level is null ? $"unknown sku: {sku}"
        : level.Available < quantity ? $"out of stock: {sku} (wanted {quantity}, available {level.Available})"
        : null;

    /// <summary>Whether another attempt of the same order holds stock of <paramref name="level"/> (a duplicate delivery in flight).</summary>
    public static bool HeldByAnotherAttempt(StockLevel? level, string orderId, string attemptId) =>
        level?.Pending?.Any(p => p.OrderId == orderId && p.AttemptId != attemptId && p.Kind == PendingKind.Reserve) == true;

    /// <summary>
    /// One attempt's reservation on one level: the level to write (null: nothing to write), or why it cannot be taken.
    /// A level that already carries it (a write whose answer was lost) is neither taken from again nor found short.
    /// </summary>
    public static (StockLevel? Next, string? Shortage) Reserve(StockLevel? level, string sku, PendingChange reservation)
    {
        if (level is not null && Carries(level, reservation)) return (null, null);
        if (Shortage(level, sku, reservation.Quantity) is { } shortage) return (null, shortage);
        return (Take(level!, reservation), null);
    }

    /// <summary>The level with a pending reservation taken: its quantity moves from available to reserved at once, so
    /// no other order can sell it; it goes back if the attempt's decision does not count (<see cref="Settle"/>).</summary>
    public static StockLevel Take(StockLevel level, PendingChange reservation) => level with
    {
        Available = level.Available - reservation.Quantity,
        Reserved = level.Reserved + reservation.Quantity,
        Pending = [.. level.Pending ?? [], reservation],
    };

    /// <summary>The level with a pending release noted: nothing is given back until the release is recorded, since
    /// stock given back early could be sold and then not be there to take back if the release does not count.</summary>
    public static StockLevel NoteRelease(StockLevel level, PendingChange release) => level with
    {
        Pending = [.. level.Pending ?? [], release],
    };

    /// <summary>
    /// The level with every pending change of <paramref name="decision"/>'s order resolved by the recorded decision:
    /// the deciding attempt's reservation stays (its note goes), any other attempt's is given back; the recording
    /// attempt's release is applied, any other's dropped; a release not recorded yet stays pending.
    /// Returns <paramref name="level"/> itself when that changes nothing.
    /// </summary>
    public static StockLevel Settle(StockLevel level, Reservation decision)
    {
        if (level.Pending?.Any(p => p.OrderId == decision.OrderId) != true) return level;
        var (available, reserved) = (level.Available, level.Reserved);
        var stillPending = new List<PendingChange>();
        foreach (var change in level.Pending)
        {
            if (change.OrderId != decision.OrderId) stillPending.Add(change);
            else if (change.Kind == PendingKind.Reserve)
            {
                var counts = decision.Status is ReservationStatus.Reserved or ReservationStatus.Released && change.AttemptId == decision.DecidedBy;
                if (!counts) (available, reserved) = (available + change.Quantity, reserved - change.Quantity);
            }
            else if (decision.Status != ReservationStatus.Released) stillPending.Add(change);
            else if (change.AttemptId == decision.ReleasedBy) (available, reserved) = (available + change.Quantity, reserved - change.Quantity);
        }
        if (stillPending.Count == level.Pending.Count) return level;
        return level with { Available = available, Reserved = reserved, Pending = stillPending.Count == 0 ? null : stillPending };
    }
}
