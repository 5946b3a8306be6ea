using System.Globalization;
using System.Text.RegularExpressions;

namespace DevSidecar.Resources;

/// <summary>
/// Typed reads of component metadata, decoded as components-contrib decodes it: durations are Go durations
/// ("15s", "1m30s", "500ms") or a whole number of seconds. A value that does not parse stops start-up with the key named.
/// </summary>
public static partial class ComponentSpecValues
{
    public static string Required(this ComponentSpec spec, string key) =>
        spec.Get(key) is { Length: > 0 } value ? value : throw Invalid(spec, key, "is required");

    public static TimeSpan GetDuration(this ComponentSpec spec, string key, TimeSpan fallback)
    {
        if (spec.Get(key) is not { Length: > 0 } raw) return fallback;
        if (long.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out var seconds)) return TimeSpan.FromSeconds(seconds);
        return ParseGoDuration(raw) ?? throw Invalid(spec, key, $"'{raw}' is not a duration (e.g. 15s, 500ms, 1m)");
    }

    public static int GetInt(this ComponentSpec spec, string key, int fallback) =>
        spec.Get(key) is not { Length: > 0 } raw ? fallback
        : int.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? value
        : throw Invalid(spec, key, $"'{raw}' is not an integer");

    public static long? GetLong(this ComponentSpec spec, string key) =>
        spec.Get(key) is not { Length: > 0 } raw ? null
        : long.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? value
        : throw Invalid(spec, key, $"'{raw}' is not an integer");

    public static bool GetBool(this ComponentSpec spec, string key, bool fallback) =>
        spec.Get(key) is not { Length: > 0 } raw ? fallback
        : bool.TryParse(raw, out var value) ? value
        : raw is "1" or "0" ? raw == "1"
        : throw Invalid(spec, key, $"'{raw}' is not a boolean");

    public static ResourceLoadException Invalid(ComponentSpec spec, string key, string problem) =>
        new(spec.File, $"component '{spec.Name}' ({spec.Type}): metadata '{key}' {problem}");

    [GeneratedRegex(@"^(?<n>\d+(\.\d+)?)(?<u>ns|us|µs|ms|s|m|h)")]
    private static partial Regex DurationPart();

    internal static TimeSpan? ParseGoDuration(string text)
    {
        var rest = text.Trim();
        var negative = rest.StartsWith('-');
        if (negative || rest.StartsWith('+')) rest = rest[1..];
        if (rest == "0") return TimeSpan.Zero;
        var total = TimeSpan.Zero;
        if (rest.Length == 0) return null;
        while (rest.Length > 0)
        {
            var match = DurationPart().Match(rest);
            if (!match.Success) return null;
            var n = double.Parse(match.Groups["n"].Value, CultureInfo.InvariantCulture);
            total += match.Groups["u"].Value switch
            {
                "ns" => TimeSpan.FromTicks((long)(n / 100)),
                "us" or "µs" => TimeSpan.FromTicks((long)(n * 10)),
                "ms" => TimeSpan.FromMilliseconds(n),
                "s" => TimeSpan.FromSeconds(n),
                "m" => TimeSpan.FromMinutes(n),
                _ => TimeSpan.FromHours(n),
            };
            rest = rest[match.Length..];
        }
        return negative ? -total : total;
    }
}
