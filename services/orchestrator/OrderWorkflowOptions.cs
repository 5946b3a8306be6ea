namespace OrderFlow.Orchestrator;

/// <summary>Read by the starter, which copies them into each instance's <see cref="OrderWorkflowInput"/>.</summary>
public sealed class OrderWorkflowOptions
{
    /// <summary>How long the workflow waits for shipping's outcome before it gives up and compensates.</summary>
    public TimeSpan ShipmentTimeout { get; set; } = TimeSpan.FromMinutes(5);
}
