using System.Globalization;
using DevSidecar.Resources;

namespace DevSidecar.PubSub;

/// <summary>
/// Typed reads of a broker component's metadata, as contrib's metadata decoding does them: keys are matched
/// case-insensitively, an empty value counts as absent, and a malformed value stops start-up with the key named.
/// </summary>
public sealed class BrokerMetadata(ComponentSpec spec)
{
    public string? String(string key) => spec.Get(key) is { Length: > 0 } value ? value.Trim() : null;

    public string Required(string key) =>
        String(key) ?? throw Invalid(key, "is required");

    public bool Bool(string key, bool fallback) => String(key) switch
    {
        null => fallback,
        "1" => true,
        "0" => false,
        var v when bool.TryParse(v, out var b) => b,
        var v => throw Invalid(key, $"'{v}' is not a boolean"),
    };

    public long Long(string key, long fallback) => String(key) switch
    {
        null => fallback,
        var v when long.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) => n,
        var v => throw Invalid(key, $"'{v}' is not an integer"),
    };

    /// <summary>A Go duration ("30s", "1m30s"); a bare number is read as <paramref name="bareUnit"/>s (contrib: seconds).</summary>
    public TimeSpan? Duration(string key, TimeSpan bareUnit) => String(key) switch
    {
        null => null,
        var v when long.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) => bareUnit * n,
        var v when GoDuration.TryParse(v, out var d) => d,
        var v => throw Invalid(key, $"'{v}' is not a duration"),
    };

    /// <summary>A comma-separated list of Go durations (JetStream's backOff).</summary>
    public IReadOnlyList<TimeSpan> Durations(string key) => String(key) is { } v
        ? v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(d => GoDuration.TryParse(d, out var t) ? t : throw Invalid(key, $"'{d}' is not a duration")).ToList()
        : [];

    public T Choice<T>(string key, T fallback, IReadOnlyDictionary<string, T> choices) => String(key) switch
    {
        null => fallback,
        var v when choices.TryGetValue(v.ToLowerInvariant(), out var c) => c,
        var v => throw Invalid(key, $"'{v}' is not one of {string.Join(", ", choices.Keys)}"),
    };

    public ResourceLoadException Invalid(string key, string problem) =>
        new(spec.File, $"component '{spec.Name}' ({spec.Type}): metadata '{key}' {problem}");
}
