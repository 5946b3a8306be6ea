namespace OrderFlow.Patterns;

/// <summary>The "Patterns" configuration section.</summary>
public sealed class PatternsOptions
{
    /// <summary>Names this instance among those sharing the app id; stable across restarts so a restart resumes its own jobs.</summary>
    public string InstanceId { get; set; } = "";

    /// <summary>How long one step of a slow job takes.</summary>
    public TimeSpan JobStepTime { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>How long handling one queue-group work item takes.</summary>
    public TimeSpan WorkItemProcessingTime { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>How long a reply-to requester waits when the request does not say.</summary>
    public TimeSpan ReplyTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How often a waiting requester looks for a reply another instance stored.</summary>
    public TimeSpan ReplyPollInterval { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>Unit prices the responder knows; it does not answer for other skus.</summary>
    public Dictionary<string, decimal> Prices { get; set; } = new(StringComparer.OrdinalIgnoreCase);
}
