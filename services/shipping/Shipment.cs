using System.Text.Json.Serialization;
using OrderFlow.Contracts;

namespace OrderFlow.Shipping;

[JsonConverter(typeof(JsonStringEnumConverter<ShipmentStatus>))]
public enum ShipmentStatus { Scheduled, Dispatched, Failed }

/// <param name="TraceParent">The trace context of the request that accepted it: the dispatch, done later by the
/// <see cref="Dispatcher"/>, goes on in that trace.</param>
public sealed record Shipment(OrderDetails Order, ShipmentStatus Status, DateTimeOffset AcceptedAt, DateTimeOffset DueAt,
    string? TrackingNumber, string? Reason, DateTimeOffset? DoneAt, string? TraceParent = null);

public static class ShippingRules
{
    /// <summary>Why the address cannot be served, or null.</summary>
    public static string? Undeliverable(Address address, IEnumerable<string> undeliverableCountries) =>
        undeliverableCountries.Contains(address.Country.Trim(), StringComparer.OrdinalIgnoreCase)
            ? $"undeliverable destination: {address.Country.Trim().ToUpperInvariant()}"
            : null;

    public static string TrackingNumber(string orderId) => $"TRK-{orderId}";
}
