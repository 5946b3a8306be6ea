namespace OrderFlow.Patterns;

/// <summary>The patterns app's topics, all on the suite's pubsub component.</summary>
public static class PatternTopics
{
    public const string WorkItems = "work-items";
    public const string PriceRequests = "price-requests";
    /// <summary>Replies whose receiver keeps them in the state store (the suite's way).</summary>
    public const string PriceReplies = "price-replies";
    /// <summary>Replies whose receiver only looks in its own memory for a waiting requester (the essay's way).</summary>
    public const string PriceRepliesInMemory = "price-replies-in-memory";
    public const string JobFinished = "job-finished";
}
