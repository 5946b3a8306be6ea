using System.Globalization;
using DevSidecar.Resources;

namespace DevSidecar.Resiliency;

public enum BackOffKind { Constant, Exponential }

/// <summary>
/// A retry policy as daprd decodes it (dapr/kit v0.17.1 retry/retry.go DefaultConfig, DecodeConfig, NewBackOff; the
/// Resiliency CRD has only policy, duration, maxInterval, maxRetries and matching, so the rest keeps kit's defaults):
/// constant waits <c>duration</c> (default 5s) between attempts; exponential starts at 500ms, × 1.5 per retry,
/// ± 50% jitter, capped at <c>maxInterval</c> (default 60s), and gives up once 15 minutes have passed;
/// <c>maxRetries</c> absent or -1 retries for ever. <c>matching</c> lists the HTTP / gRPC status codes that are
/// retried (pkg/resiliency/retry.go); without it every code is.
/// </summary>
public sealed record RetryPolicy(
    string Name,
    BackOffKind Kind,
    TimeSpan Duration,
    TimeSpan MaxInterval,
    long MaxRetries,
    IReadOnlyList<(int From, int To)>? HttpStatusCodes,
    IReadOnlyList<(int From, int To)>? GrpcStatusCodes)
{
    public static readonly TimeSpan InitialInterval = TimeSpan.FromMilliseconds(500);
    public const double Multiplier = 1.5;
    public const double RandomizationFactor = 0.5;
    public static readonly TimeSpan MaxElapsedTime = TimeSpan.FromMinutes(15);

    /// <summary>daprd's DaprBuiltInServiceRetries: used for service invocation to an app with no policy of its own.</summary>
    public static readonly RetryPolicy BuiltInServiceRetries =
        new("DaprBuiltInServiceRetries", BackOffKind.Constant, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60), 3, null, null);

    public static RetryPolicy Parse(string name, Dictionary<object, object> spec)
    {
        var kind = YamlValues.Str(spec, "policy")?.ToLowerInvariant() switch
        {
            null or "constant" => BackOffKind.Constant,
            "exponential" => BackOffKind.Exponential,
            var other => throw new FormatException($"unrecognized retry policy '{other}'"),
        };
        var duration = ReadDuration(spec, "duration") ?? TimeSpan.FromSeconds(5);
        var maxInterval = ReadDuration(spec, "maxInterval") ?? TimeSpan.FromSeconds(60);
        var maxRetries = YamlValues.Str(spec, "maxRetries") is { } text
            ? long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : throw new FormatException($"maxRetries '{text}' is not an integer")
            : -1;
        var matching = YamlValues.Map(spec, "matching");
        return new RetryPolicy(name, kind, duration, maxInterval, maxRetries,
            Codes(YamlValues.Str(matching, "httpStatusCodes"), 100, 599),
            Codes(YamlValues.Str(matching, "gRPCStatusCodes"), 0, 16));
    }

    private static TimeSpan? ReadDuration(Dictionary<object, object> spec, string key) =>
        YamlValues.Str(spec, key) is { } text
            ? ResiliencyResource.ParseDuration(text) ?? throw new FormatException($"{key} '{text}' is not a duration")
            : null;

    /// <summary>"500,502-504": a list of codes and ranges, each within the valid range (retry.go parsePatterns).</summary>
    private static IReadOnlyList<(int, int)>? Codes(string? patterns, int min, int max)
    {
        if (patterns is null) return null;
        var ranges = new List<(int, int)>();
        foreach (var pattern in patterns.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = pattern.Split('-');
            if (parts.Length > 2) throw new FormatException($"invalid pattern {pattern}, more than one '-' exists");
            int Code(string s) => int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var c) && c >= min && c <= max
                ? c : throw new FormatException($"invalid pattern {pattern}, code {s} is not valid");
            var from = Code(parts[0]);
            var to = parts.Length == 2 ? Code(parts[1]) : from;
            if (to < from) throw new FormatException($"invalid pattern {pattern}, start value should not bigger than end value");
            ranges.Add((from, to));
        }
        return ranges;
    }

    /// <summary>Whether a failure with this status code is retried: 0-16 is read as gRPC, 100-599 as HTTP, else never.</summary>
    public bool Retries(int statusCode) =>
        statusCode is >= 0 and <= 16 ? Matches(statusCode, GrpcStatusCodes)
        : statusCode is >= 100 and <= 599 && Matches(statusCode, HttpStatusCodes);

    private static bool Matches(int code, IReadOnlyList<(int From, int To)>? ranges) =>
        ranges is null || ranges.Any(r => code >= r.From && code <= r.To);

    /// <summary>A fresh sequence of waits for one run of the operation.</summary>
    public BackOff Start() => new(this);

    /// <summary>cenkalti/backoff v4 ConstantBackOff / ExponentialBackOff wrapped in WithMaxRetries.</summary>
    public sealed class BackOff(RetryPolicy policy)
    {
        private readonly DateTime _started = DateTime.UtcNow;
        private TimeSpan _current = InitialInterval;
        private long _retries;

        /// <summary>The wait before the next attempt; null: give up.</summary>
        public TimeSpan? Next()
        {
            if (policy.MaxRetries >= 0 && _retries >= policy.MaxRetries) return null;
            _retries++;
            if (policy.Kind == BackOffKind.Constant) return policy.Duration;

            var delta = RandomizationFactor * _current.TotalMilliseconds;
            var min = _current.TotalMilliseconds - delta;
            var next = TimeSpan.FromMilliseconds(min + Random.Shared.NextDouble() * (2 * delta + 1));
            _current = _current.TotalMilliseconds >= policy.MaxInterval.TotalMilliseconds / Multiplier
                ? policy.MaxInterval
                : TimeSpan.FromMilliseconds(_current.TotalMilliseconds * Multiplier);
            return DateTime.UtcNow - _started + next > MaxElapsedTime ? null : next;
        }
    }
}
