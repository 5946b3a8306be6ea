using System.Globalization;
using DevSidecar.Resources;
using static DevSidecar.Resources.YamlValues;

namespace DevSidecar.Resiliency;

/// <summary>Timeout, retry and circuit breaker names a target uses; null: none of that kind.</summary>
public sealed record PolicyNames(string? Timeout, string? Retry, string? CircuitBreaker)
{
    public static readonly PolicyNames None = new(null, null, null);
}

/// <summary>A component target: the policies for calls to it (outbound) and for what it delivers to the app (inbound).</summary>
public sealed record ComponentTarget(PolicyNames Inbound, PolicyNames Outbound);

/// <summary>
/// A <c>Resiliency</c> resource (apiVersion dapr.io/v1alpha1), as daprd decodes it (pkg/apis/resiliency/v1alpha1/types.go,
/// pkg/resiliency/resiliency.go decodePolicies/decodeTargets): named policies, and targets that name them.
/// </summary>
public sealed record ResiliencyResource(
    string Name,
    IReadOnlyList<string> Scopes,
    IReadOnlyDictionary<string, TimeSpan> Timeouts,
    IReadOnlyDictionary<string, RetryPolicy> Retries,
    IReadOnlyDictionary<string, CircuitBreakerPolicy> CircuitBreakers,
    IReadOnlyDictionary<string, PolicyNames> Apps,
    IReadOnlyDictionary<string, ComponentTarget> Components,
    string File)
{
    /// <summary>
    /// Reads one resource. A policy daprd cannot decode makes it log and skip the whole resource ("Could not read
    /// resiliency policy"); the dev sidecar stops start-up with the file and the policy named instead, so a typo is
    /// not silently a missing policy.
    /// </summary>
    public static ResiliencyResource Parse(Dictionary<object, object> doc, string file)
    {
        var name = Str(Map(doc, "metadata"), "name") ?? throw new ResourceLoadException(file, "resiliency has no metadata.name");
        var spec = Map(doc, "spec") ?? throw new ResourceLoadException(file, $"resiliency '{name}' has no spec");
        var policies = Map(spec, "policies");
        var targets = Map(spec, "targets");
        ResourceLoadException Invalid(string what) => new(file, $"resiliency '{name}': {what}");

        var timeouts = new Dictionary<string, TimeSpan>(StringComparer.Ordinal);
        foreach (var (key, value) in Entries(Map(policies, "timeouts")))
            timeouts[key] = ParseDuration(value as string) ?? throw Invalid($"timeout '{key}': '{value}' is not a duration");

        var retries = new Dictionary<string, RetryPolicy>(StringComparer.Ordinal);
        foreach (var (key, value) in Entries(Map(policies, "retries")))
        {
            try
            {
                retries[key] = RetryPolicy.Parse(key, value as Dictionary<object, object> ?? []);
            }
            catch (FormatException e)
            {
                throw Invalid($"retry '{key}': {e.Message}");
            }
        }

        var breakers = new Dictionary<string, CircuitBreakerPolicy>(StringComparer.Ordinal);
        foreach (var (key, value) in Entries(Map(policies, "circuitBreakers")))
        {
            try
            {
                breakers[key] = CircuitBreakerPolicy.Parse(key, value as Dictionary<object, object> ?? []);
            }
            catch (FormatException e)
            {
                throw Invalid($"circuit breaker '{key}': {e.Message}");
            }
        }

        var apps = Entries(Map(targets, "apps")).ToDictionary(e => e.Key, e => Names(e.Value as Dictionary<object, object>), StringComparer.Ordinal);
        var components = Entries(Map(targets, "components")).ToDictionary(
            e => e.Key,
            e => new ComponentTarget(Names(Map(e.Value as Dictionary<object, object>, "inbound")), Names(Map(e.Value as Dictionary<object, object>, "outbound"))),
            StringComparer.Ordinal);
        // targets.actors: the dev sidecar has no actor runtime (workflows run in its own engine), so they are not read.
        return new ResiliencyResource(name, StrList(doc, "scopes"), timeouts, retries, breakers, apps, components, file);
    }

    /// <summary>A duration as daprd reads resiliency durations: a whole number is milliseconds, else a Go duration.</summary>
    internal static TimeSpan? ParseDuration(string? text) =>
        text is null ? null
        : long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var ms) ? TimeSpan.FromMilliseconds(ms)
        : ComponentSpecValues.ParseGoDuration(text);

    private static PolicyNames Names(Dictionary<object, object>? map) =>
        new(Str(map, "timeout"), Str(map, "retry"), Str(map, "circuitBreaker"));
}
