namespace OrderFlow.Inventory;

/// <summary>The "Inventory" configuration section.</summary>
public sealed class InventoryOptions
{
    /// <summary>Stock per SKU written at start-up for SKUs the store does not know yet.</summary>
    public Dictionary<string, int> InitialStock { get; set; } = [];
}
