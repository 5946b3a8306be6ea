using System.Text.Json.Serialization;
using OrderFlow.Contracts;

namespace OrderFlow.Inventory;

/// <summary>One SKU's stock: what can still be sold and what is held for orders in flight.</summary>
public sealed record StockLevel(string Sku, int Available, int Reserved);

[JsonConverter(typeof(JsonStringEnumConverter<ReservationStatus>))]
public enum ReservationStatus { Reserved, Rejected, Released }

/// <summary>What inventory decided for one order; kept so that a redelivered event gets the same answer.</summary>
public sealed record Reservation(string OrderId, IReadOnlyList<OrderItem> Items, ReservationStatus Status, string? Reason,
    DateTimeOffset? ReleasedAt = null);

/// <summary>The stock rules, free of I/O so they can be tested on their own.</summary>
public static class StockRules
{
    /// <summary>Quantities per SKU, with repeated SKUs of one order added up.</summary>
    public static Dictionary<string, int> Demand(IEnumerable<OrderItem> items) =>
        items.GroupBy(i => i.Sku).ToDictionary(g => g.Key, g => g.Sum(i => i.Quantity));

    /// <summary>The levels after reserving the order, or the reason it cannot be reserved (all or nothing).</summary>
    public static (IReadOnlyList<StockLevel>? Levels, string? Rejection) Reserve(IReadOnlyDictionary<string, StockLevel?> levels, IEnumerable<OrderItem> items)
    {
        var updated = new List<StockLevel>();
        foreach (var (sku, quantity) in Demand(items))
        {
            var level = levels.GetValueOrDefault(sku);
            if (level is null) return (null, $"unknown sku: {sku}");
            if (level.Available < quantity) return (null, $"out of stock: {sku} (wanted {quantity}, available {level.Available})");
            updated.Add(level with { Available = level.Available - quantity, Reserved = level.Reserved + quantity });
        }
        return (updated, null);
    }

    /// <summary>The levels after giving a reservation back.</summary>
    public static IReadOnlyList<StockLevel> Release(IReadOnlyDictionary<string, StockLevel?> levels, IEnumerable<OrderItem> items) =>
        Demand(items).Select(d =>
        {
            var level = levels.GetValueOrDefault(d.Key) ?? new StockLevel(d.Key, 0, d.Value);
            return level with { Available = level.Available + d.Value, Reserved = Math.Max(0, level.Reserved - d.Value) };
        }).ToList();
}
