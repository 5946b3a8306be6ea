namespace OrderFlow.Orders;

/// <summary>The "Orders:Progress" configuration section: how <see cref="OrderProgress"/> streams.</summary>
public sealed record OrderProgressOptions
{
    /// <summary>How often the order is re-read while it is not terminal.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>A stream longer than this ends with end(complete: false); the client may reconnect.</summary>
    public TimeSpan MaxDuration { get; set; } = TimeSpan.FromMinutes(5);
}
