namespace OrderFlow.Monitor;

/// <summary>The "Monitor" configuration section.</summary>
public sealed class MonitorOptions
{
    /// <summary>How often deadlines are checked; a stall is reported at most this long after its deadline.</summary>
    public TimeSpan CheckInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long an order may take to go from one step to the next.</summary>
    public TimeSpan DefaultDeadline { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Deadlines per last step, for the slow ones (shipping after payment-charged).</summary>
    public Dictionary<string, TimeSpan> Deadlines { get; set; } = [];

    /// <summary>Redrive stalled orders by itself (off: an operator decides).</summary>
    public bool AutoRedrive { get; set; }

    public TimeSpan DeadlineAfter(string step) => Deadlines.TryGetValue(step, out var deadline) ? deadline : DefaultDeadline;
}
