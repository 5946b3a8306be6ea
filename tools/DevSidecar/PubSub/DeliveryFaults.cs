namespace DevSidecar.PubSub;

/// <summary>
/// FAULT INJECTION, for tests and demos only: makes this sidecar lose events meant for its app, the way an
/// at-most-once broker or a crashed subscriber would, so the flow monitor can be shown catching it. Off unless a rule
/// is set through POST /v1.0-devsidecar/faults/drop. A dropped event is acknowledged to the broker and never delivered.
/// </summary>
public sealed class DeliveryFaults
{
    /// <summary>Drop the next <see cref="Count"/> events of the topic, and/or each one with probability <see cref="Rate"/>.</summary>
    public sealed record DropRule(string Topic, int? Count, double? Rate, int? Seed);

    public sealed record DroppedEvent(string Topic, string? Id, DateTimeOffset At);

    private readonly Lock _lock = new();
    private readonly Dictionary<string, (DropRule Rule, int Left, Random Random)> _rules = new(StringComparer.Ordinal);
    private readonly List<DroppedEvent> _dropped = [];

    public void Set(DropRule rule)
    {
        lock (_lock) _rules[rule.Topic] = (rule, rule.Count ?? 0, rule.Seed is { } seed ? new Random(seed) : new Random());
    }

    public void Clear()
    {
        lock (_lock)
        {
            _rules.Clear();
            _dropped.Clear();
        }
    }

    public IReadOnlyList<DropRule> Rules
    {
        get { lock (_lock) return _rules.Values.Select(r => r.Rule with { Count = r.Left }).ToList(); }
    }

    public IReadOnlyList<DroppedEvent> Dropped
    {
        get { lock (_lock) return [.. _dropped]; }
    }

    /// <summary>Whether to lose this event; records it when so.</summary>
    public bool ShouldDrop(string topic, string? eventId)
    {
        lock (_lock)
        {
            if (!_rules.TryGetValue(topic, out var entry)) return false;
            var drop = entry.Left > 0 || (entry.Rule.Rate is { } rate && entry.Random.NextDouble() < rate);
            if (entry.Left > 0) _rules[topic] = entry with { Left = entry.Left - 1 };
            if (drop) _dropped.Add(new DroppedEvent(topic, eventId, DateTimeOffset.UtcNow));
            return drop;
        }
    }
}
