namespace DevSidecar.Resources;

/// <summary>A Dapr <c>Component</c> resource, after scope filtering and value templating.</summary>
public sealed record ComponentSpec(
    string Name,
    string Type,
    string Version,
    IReadOnlyDictionary<string, string> Metadata,
    IReadOnlyList<string> Scopes,
    string File)
{
    /// <summary>The building block: "pubsub" for "pubsub.redis".</summary>
    public string Kind => Type.Split('.', 2)[0];

    public string? Get(string key) =>
        Metadata.FirstOrDefault(kv => string.Equals(kv.Key, key, StringComparison.OrdinalIgnoreCase)).Value;
}

/// <summary>One routing rule of a subscription: a CEL expression over <c>event.*</c> and the app path.</summary>
public sealed record RouteRule(string Match, string Path);

/// <summary>A subscription, whether declared in YAML (DECLARATIVE) or answered by /dapr/subscribe (PROGRAMMATIC).</summary>
public sealed record SubscriptionSpec(
    string PubSubName,
    string Topic,
    IReadOnlyList<RouteRule> Rules,
    string? DefaultPath,
    IReadOnlyDictionary<string, string> Metadata,
    string? DeadLetterTopic,
    string Type,
    string? Name = null,
    IReadOnlyList<string>? Scopes = null,
    string? File = null)
{
    public bool RawPayload =>
        Metadata.TryGetValue("rawPayload", out var raw) && bool.TryParse(raw, out var on) && on;
}

public sealed record ResourceSet(IReadOnlyList<ComponentSpec> Components, IReadOnlyList<SubscriptionSpec> Subscriptions)
{
    public static readonly ResourceSet Empty = new([], []);

    /// <summary>Every Resiliency resource of the folders, whatever its scopes (<see cref="Resiliency.ResiliencyPolicies"/> filters them).</summary>
    public IReadOnlyList<Resiliency.ResiliencyResource> Resiliencies { get; init; } = [];
}

/// <summary>A resource file that stops start-up: it names the file and what is wrong.</summary>
public sealed class ResourceLoadException(string file, string problem)
    : Exception($"{file}: {problem}")
{
    public string File { get; } = file;
    public string Problem { get; } = problem;
}
