using System.Text.Json.Serialization;
using OrderFlow.Contracts;

namespace OrderFlow.Shipping;

[JsonConverter(typeof(JsonStringEnumConverter<ShipmentStatus>))]
public enum ShipmentStatus { Scheduled, Dispatched, Failed }

public sealed record Shipment(OrderDetails Order, ShipmentStatus Status, DateTimeOffset AcceptedAt, DateTimeOffset DueAt,
    string? TrackingNumber, string? Reason, DateTimeOffset? DoneAt);

public static class ShippingRules
{
    /// <summary>Why the address cannot be served, or null.</summary>
    public static string? Undeliverable(Address address, IEnumerable<string> undeliverableCountries) =>
        undeliverableCountries.Contains(address.Country.Trim(), StringComparer.OrdinalIgnoreCase)
            ? $"undeliverable destination: {address.Country.Trim().ToUpperInvariant()}"
            : null;

    public static string TrackingNumber(string orderId) => $"TRK-{orderId}";
}
