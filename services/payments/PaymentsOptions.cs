namespace OrderFlow.Payments;

/// <summary>The "Payments" configuration section.</summary>
public sealed class PaymentsOptions
{
    /// <summary>The most one order may cost a customer without a limit of their own.</summary>
    public decimal DefaultLimit { get; set; } = 1000m;

    /// <summary>Limits per customer id.</summary>
    public Dictionary<string, decimal> Limits { get; set; } = [];

    public decimal LimitOf(string customerId) => Limits.TryGetValue(customerId, out var limit) ? limit : DefaultLimit;
}
