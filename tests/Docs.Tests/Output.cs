using System.Text;
using System.Text.RegularExpressions;

namespace Docs.Tests;

/// <summary>
/// What may differ between the doc's output and a run's: generated ids, timestamps, durations in ms and the HTTP
/// Date, Server and traceparent headers (the sidecar's span, on every API answer as daprd's HTTPTraceMiddleware sets
/// it). Both sides are normalized the same way; everything else (status lines, headers, JSON values, the order of
/// lines) must match exactly. Nondeterministic output is the doc's to summarise (jq, sort, uniq -c),
/// not this class's to forgive.
/// </summary>
public static partial class Output
{
    private static readonly (Regex Pattern, string Replacement)[] Rules =
    [
        (IsoTimestamp(), "<timestamp>"),
        (TraceParent(), "<traceparent>"),
        (Guid(), "<id>"),
        (HexId(), "<id>"),
        (ClockTime(), "<time>"),
        (MillisecondsField(), "${name}<ms>"),
    ];

    public static IReadOnlyList<string> Normalize(string text)
    {
        var lines = text.Replace("\r", "").Split('\n')
            .Select(line => Rules.Aggregate(line, (current, rule) => rule.Pattern.Replace(current, rule.Replacement)).TrimEnd())
            .Where(line => !VaryingHeader().IsMatch(line))
            .ToList();
        while (lines.Count > 0 && lines[^1].Length == 0) lines.RemoveAt(lines.Count - 1);
        while (lines.Count > 0 && lines[0].Length == 0) lines.RemoveAt(0);
        return lines;
    }

    /// <summary>A line diff (longest common subsequence): "  " same, "- " only expected, "+ " only actual.</summary>
    public static string Diff(IReadOnlyList<string> expected, IReadOnlyList<string> actual)
    {
        var common = new int[expected.Count + 1, actual.Count + 1];
        for (var i = expected.Count - 1; i >= 0; i--)
            for (var j = actual.Count - 1; j >= 0; j--)
                common[i, j] = expected[i] == actual[j] ? common[i + 1, j + 1] + 1 : Math.Max(common[i + 1, j], common[i, j + 1]);
        var diff = new StringBuilder();
        int e = 0, a = 0;
        while (e < expected.Count || a < actual.Count)
        {
            if (e < expected.Count && a < actual.Count && expected[e] == actual[a]) { diff.AppendLine("  " + expected[e++]); a++; }
            else if (e < expected.Count && (a == actual.Count || common[e + 1, a] >= common[e, a + 1])) diff.AppendLine("- " + expected[e++]);
            else diff.AppendLine("+ " + actual[a++]);
        }
        return diff.ToString();
    }

    /// <summary>A header line, also behind a time prefix (<c>date +%T.%3N</c> before each line of a stream).</summary>
    [GeneratedRegex(@"^(<time> )?(Date|Server|traceparent):", RegexOptions.IgnoreCase)]
    private static partial Regex VaryingHeader();

    [GeneratedRegex(@"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?")]
    private static partial Regex IsoTimestamp();

    [GeneratedRegex(@"\b00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}\b")]
    private static partial Regex TraceParent();

    [GeneratedRegex(@"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")]
    private static partial Regex Guid();

    [GeneratedRegex(@"\b[0-9a-f]{16,}\b")]
    private static partial Regex HexId();

    [GeneratedRegex(@"\b\d{2}:\d{2}:\d{2}(\.\d{1,7})?\b")]
    private static partial Regex ClockTime();

    [GeneratedRegex(@"(?<name>""\w*(Ms|Millis|Milliseconds)"":)\d+(\.\d+)?")]
    private static partial Regex MillisecondsField();
}
