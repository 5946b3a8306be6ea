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

    /// <summary>spec.ignoreErrors: a component whose init fails is left out instead of stopping start-up.</summary>
    public bool IgnoreErrors { get; init; }

    /// <summary>spec.initTimeout, a Go duration; daprd's default (and its fallback for one that does not parse) is 5 s.</summary>
    public TimeSpan InitTimeout { get; init; } = DefaultInitTimeout;

    /// <summary>dapr v1.17.9 pkg/runtime/processor/processor.go defaultComponentInitTimeout.</summary>
    public static readonly TimeSpan DefaultInitTimeout = TimeSpan.FromSeconds(5);

    /// <summary>How daprd names a component in its logs and errors: "pubsub (pubsub.redis/v1)" (dapr utils.ComponentLogName).</summary>
    public string LogName => Version.Length > 0 ? $"{Name} ({Type}/{Version})" : $"{Name} ({Type})";

    /// <summary>The keys this component's type understands (<see cref="MetadataKeys"/>); null before the registry sets them.</summary>
    public IReadOnlySet<string>? KnownKeys { get; init; }

    /// <summary>A metadata value, the key matched case-insensitively as contrib's decoding does.</summary>
    public string? Get(string key)
    {
        // A key read but not listed would never be warned about when misspelt: the list must cover every read.
        if (KnownKeys is { } known && !known.Contains(key))
            throw new InvalidOperationException($"dev sidecar bug: {Type} reads metadata key '{key}', which its known keys do not list");
        return Metadata.FirstOrDefault(kv => string.Equals(kv.Key, key, StringComparison.OrdinalIgnoreCase)).Value;
    }
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

    /// <summary>What daprd would silently ignore in the files (unknown fields), for the sidecar to log as warnings.</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];
}

/// <summary>A resource file that stops start-up: it names the file and what is wrong.</summary>
public sealed class ResourceLoadException(string file, string problem)
    : Exception($"{file}: {problem}")
{
    public string File { get; } = file;
    public string Problem { get; } = problem;
}
