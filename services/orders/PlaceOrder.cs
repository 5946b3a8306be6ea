using System.Text.RegularExpressions;
using OrderFlow.Contracts;

namespace OrderFlow.Orders;

/// <summary>The body of POST /orders. Everything is nullable so that a missing field is a validation error, not a binding failure.</summary>
public sealed record PlaceOrder(string? OrderId, string? CustomerId, IReadOnlyList<OrderItem>? Items, decimal? Amount, Address? ShipTo)
{
    private static readonly Regex IdPattern = new("^[A-Za-z0-9_-]{1,64}$", RegexOptions.Compiled);

    /// <summary>Problems by field, as problem details' <c>errors</c>; empty when the order is valid.</summary>
    public Dictionary<string, string[]> Validate()
    {
        var errors = new Dictionary<string, string[]>();
        if (OrderId is not null && !IdPattern.IsMatch(OrderId))
            errors["orderId"] = ["must be 1-64 letters, digits, '-' or '_'"];
        if (string.IsNullOrWhiteSpace(CustomerId))
            errors["customerId"] = ["is required"];
        if (Items is null || Items.Count == 0)
            errors["items"] = ["at least one item is required"];
        else
        {
            for (var i = 0; i < Items.Count; i++)
            {
                if (string.IsNullOrWhiteSpace(Items[i].Sku)) errors[$"items[{i}].sku"] = ["is required"];
                if (Items[i].Quantity is < 1 or > 1000) errors[$"items[{i}].quantity"] = ["must be between 1 and 1000"];
            }
        }
        if (Amount is null or <= 0)
            errors["amount"] = ["must be greater than 0"];
        if (ShipTo is null)
            errors["shipTo"] = ["is required"];
        else
        {
            if (string.IsNullOrWhiteSpace(ShipTo.Street)) errors["shipTo.street"] = ["is required"];
            if (string.IsNullOrWhiteSpace(ShipTo.City)) errors["shipTo.city"] = ["is required"];
            if (string.IsNullOrWhiteSpace(ShipTo.Country)) errors["shipTo.country"] = ["is required"];
        }
        return errors;
    }

    /// <summary>The order's details once valid; a missing id becomes a new one.</summary>
    public OrderDetails ToDetails() =>
        new(OrderId ?? Guid.NewGuid().ToString("N"), CustomerId!.Trim(), Items!, Amount!.Value, ShipTo!);
}
