namespace OrderFlow.Shipping;

/// <summary>The "Shipping" configuration section.</summary>
public sealed class ShippingOptions
{
    /// <summary>How long after accepting a shipment it is dispatched: the slow step of the flow.</summary>
    public TimeSpan DispatchDelay { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Country codes no carrier delivers to; a shipment there fails (case-insensitive).</summary>
    public List<string> UndeliverableCountries { get; set; } = ["AQ"];
}
