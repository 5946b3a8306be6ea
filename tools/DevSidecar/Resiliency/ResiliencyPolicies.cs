using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace DevSidecar.Resiliency;

/// <summary>The component kinds daprd names in default policy names (DefaultPubsubComponentInboundRetryPolicy, …).</summary>
public enum ComponentKind { Pubsub, Statestore }

/// <summary>
/// The Resiliency resources of one sidecar, merged as daprd merges them (pkg/resiliency/resiliency.go
/// FromConfigurations: resources scoped to other app ids are left out, a later policy or target of the same name
/// replaces an earlier one), and the policy for each kind of call: <see cref="Endpoint"/> for service invocation,
/// <see cref="ComponentInbound"/> for deliveries to the app, <see cref="ComponentOutbound"/> for calls to a component.
/// A target without a policy of its own gets the default ones (Default[App|PubsubComponentInbound|ComponentInbound|
/// Component]RetryPolicy, …Timeout…, …CircuitBreaker…); with none of those, nothing applies and the call runs once.
/// </summary>
public sealed class ResiliencyPolicies
{
    private const string BuiltInServiceRetriesName = "DaprBuiltInServiceRetries";

    private readonly ILogger _logger;
    private readonly Dictionary<string, TimeSpan> _timeouts = new(StringComparer.Ordinal);
    private readonly Dictionary<string, RetryPolicy> _retries = new(StringComparer.Ordinal);
    private readonly Dictionary<string, CircuitBreakerPolicy> _breakers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, PolicyNames> _apps = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ComponentTarget> _components = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, CircuitBreaker> _componentBreakers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string App, string Endpoint), CircuitBreaker> _endpointBreakers = new();

    public ResiliencyPolicies(IEnumerable<ResiliencyResource> resources, string appId, ILogger logger)
    {
        _logger = logger;
        foreach (var resource in resources.Where(r => r.Scopes.Count == 0 || r.Scopes.Contains(appId, StringComparer.Ordinal)))
        {
            logger.LogInformation("Loading Resiliency configuration: {Name}", resource.Name);
            Names.Add(resource.Name);
            foreach (var (k, v) in resource.Timeouts) _timeouts[k] = v;
            foreach (var (k, v) in resource.Retries)
            {
                // daprd: an override of a built-in retry policy keeps at least 3 retries.
                _retries[k] = k == BuiltInServiceRetriesName && v.MaxRetries is >= 0 and < 3 ? v with { MaxRetries = 3 } : v;
            }
            foreach (var (k, v) in resource.CircuitBreakers) _breakers[k] = v;
            foreach (var (k, v) in resource.Apps) _apps[k] = v;
            foreach (var (k, v) in resource.Components) _components[k] = v;
        }
    }

    /// <summary>The names of the resources in force, for the logs and the metadata API.</summary>
    public List<string> Names { get; } = [];

    /// <summary>Whether <paramref name="appId"/> is a target of its own (then daprd's built-in invocation retries do not apply).</summary>
    public bool AppTargeted(string appId) => _apps.ContainsKey(appId);

    /// <summary>daprd's DaprBuiltInServiceRetries: 3 retries, 1s apart, for invocation calls that cannot reach the target's sidecar.</summary>
    public PolicyDefinition BuiltInServiceRetries() =>
        new(BuiltInServiceRetriesName, TimeSpan.Zero, _retries.GetValueOrDefault(BuiltInServiceRetriesName) ?? RetryPolicy.BuiltInServiceRetries, null, _logger);

    /// <summary>Service invocation of <paramref name="method"/> on <paramref name="appId"/>; the breaker is per app and method.</summary>
    public PolicyDefinition Endpoint(string appId, string method)
    {
        var endpoint = $"{appId}:{method}";
        var names = _apps.GetValueOrDefault(appId) ?? Defaults(["App"]);
        var breaker = names.CircuitBreaker is { } cb && _breakers.TryGetValue(cb, out var template)
            ? _endpointBreakers.GetOrAdd((appId, endpoint), _ => new CircuitBreaker(endpoint, template, _logger))
            : null;
        return Build($"endpoint[{appId}, {endpoint}]", names, breaker);
    }

    /// <summary>Deliveries from component <paramref name="name"/> to the app (a pub/sub subscription).</summary>
    public PolicyDefinition ComponentInbound(string name, ComponentKind kind) =>
        Component(name, _components.GetValueOrDefault(name)?.Inbound ?? Defaults([$"{kind}ComponentInbound", "ComponentInbound", "Component"]), "input");

    /// <summary>Calls to component <paramref name="name"/> (publish, state operations).</summary>
    public PolicyDefinition ComponentOutbound(string name, ComponentKind kind) =>
        Component(name, _components.GetValueOrDefault(name)?.Outbound ?? Defaults([$"{kind}ComponentOutbound", "ComponentOutbound", "Component"]), "output");

    private PolicyDefinition Component(string name, PolicyNames names, string direction)
    {
        // One breaker per component, whichever direction names it (daprd's componentCBs are keyed by component name).
        var breaker = names.CircuitBreaker is { } cb && _breakers.TryGetValue(cb, out var template)
            ? _componentBreakers.GetOrAdd(name, _ => new CircuitBreaker($"{template.Name}-{name}", template, _logger))
            : null;
        return Build($"component[{name}] {direction}", names, breaker);
    }

    private PolicyDefinition Build(string name, PolicyNames names, CircuitBreaker? breaker) =>
        new(name,
            names.Timeout is { } t ? _timeouts.GetValueOrDefault(t) : TimeSpan.Zero,
            names.Retry is { } r ? _retries.GetValueOrDefault(r) : null,
            breaker, _logger);

    /// <summary>The Default…Policy names that exist, most specific level first, then the top-level one.</summary>
    private PolicyNames Defaults(IReadOnlyList<string> levels)
    {
        string? Find<T>(Dictionary<string, T> policies, string template) =>
            levels.Select(level => string.Format(template, level)).Append(string.Format(template, "")).FirstOrDefault(policies.ContainsKey);
        return new PolicyNames(Find(_timeouts, "Default{0}TimeoutPolicy"), Find(_retries, "Default{0}RetryPolicy"), Find(_breakers, "Default{0}CircuitBreakerPolicy"));
    }
}
