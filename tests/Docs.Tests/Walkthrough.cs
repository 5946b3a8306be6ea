using System.Text.RegularExpressions;

namespace Docs.Tests;

/// <summary>The flow style a run of the suite is in: the style line of dapr.yaml's resourcesPaths.</summary>
public enum Style { Choreography, Orchestration }

/// <summary>One ```bash block of a doc and the output the doc shows for it (empty: it prints nothing).</summary>
/// <param name="Reset">A reset block: run from the repository root before the suite starts, in every style.</param>
public sealed record WalkthroughBlock(string Doc, int Line, string Commands, string ExpectedOutput, IReadOnlySet<Style> Styles, bool Reset)
{
    public override string ToString() => $"{Doc}:{Line}";
}

/// <summary>
/// Reads a doc's walk-through. The convention, written for a human reader first:
/// <list type="bullet">
/// <item>a ```bash block holds commands a user types, from the repository root, in one shell per doc (variables and
/// functions of earlier blocks stay defined);</item>
/// <item>a plain ``` (or ```text) block right after it shows what they print; without one they print nothing;</item>
/// <item><c>&lt;!-- walkthrough: choreography, orchestration --&gt;</c> (either or both) says in which styles the
/// following blocks run, until the next such line;</item>
/// <item><c>&lt;!-- walkthrough: skip --&gt;</c> before a block: not run (installs, the start command itself, real
/// Dapr, brokers the test does not start);</item>
/// <item><c>&lt;!-- walkthrough: reset --&gt;</c> before a block: the documented reset of the default folder's
/// data, run before each start of the suite.</item>
/// </list>
/// Every ```bash block is run or marked, and shell is always written ```bash (not sh/console), so no command block
/// can leave the test unnoticed.
/// </summary>
public static partial class Walkthrough
{
    public static IReadOnlyList<WalkthroughBlock> Read(string docPath, string docName)
    {
        var lines = File.ReadAllLines(docPath);
        var blocks = new List<WalkthroughBlock>();
        IReadOnlySet<Style>? styles = null;
        string? pending = null; // skip | reset, for the next block
        for (var i = 0; i < lines.Length; i++)
        {
            if (Marker().Match(lines[i]) is { Success: true } marker)
            {
                var value = marker.Groups[1].Value.Trim();
                if (value is "skip" or "reset") pending = value;
                else styles = ParseStyles(value, docName, i + 1);
                continue;
            }
            if (Fence().Match(lines[i]) is not { Success: true } fence) continue;
            var info = fence.Groups[1].Value.Trim();
            var (body, end) = FencedBody(lines, i, docName);
            if (info is "sh" or "shell" or "console" or "zsh")
                throw new FormatException($"{docName}:{i + 1}: write shell blocks as ```bash, so the walk-through test sees them");
            var kind = pending;
            pending = null;
            if (info != "bash")
            {
                if (kind is not null) throw new FormatException($"{docName}:{i + 1}: '{kind}' marks a ```bash block, not ```{info}");
                i = end;
                continue;
            }
            var (expected, outputEnd) = OutputAfter(lines, end, docName);
            if (kind != "skip")
            {
                if (kind != "reset" && styles is null)
                    throw new FormatException($"{docName}:{i + 1}: a ```bash block needs <!-- walkthrough: skip --> or a style marker above it");
                blocks.Add(new WalkthroughBlock(docName, i + 1, body, expected,
                    kind == "reset" ? new HashSet<Style>(Enum.GetValues<Style>()) : styles!, kind == "reset"));
            }
            i = outputEnd;
        }
        return blocks;
    }

    private static IReadOnlySet<Style> ParseStyles(string value, string docName, int line) =>
        value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(name => Enum.TryParse<Style>(name, ignoreCase: true, out var style)
                ? style
                : throw new FormatException($"{docName}:{line}: unknown walkthrough marker '{name}' (skip, reset, choreography, orchestration)"))
            .ToHashSet();

    /// <summary>The text between a fence at <paramref name="open"/> and its closing fence, and the closing line's index.</summary>
    private static (string Body, int End) FencedBody(string[] lines, int open, string docName)
    {
        for (var j = open + 1; j < lines.Length; j++)
            if (lines[j].TrimEnd() == "```") return (string.Join('\n', lines[(open + 1)..j]), j);
        throw new FormatException($"{docName}:{open + 1}: the block is not closed");
    }

    /// <summary>The output block right after a command block (only blank lines between), if any.</summary>
    private static (string Expected, int End) OutputAfter(string[] lines, int commandsEnd, string docName)
    {
        var next = commandsEnd + 1;
        while (next < lines.Length && lines[next].Trim().Length == 0) next++;
        if (next >= lines.Length || Fence().Match(lines[next]) is not { Success: true } fence
            || fence.Groups[1].Value.Trim() is not ("" or "text")) return ("", commandsEnd);
        var (body, end) = FencedBody(lines, next, docName);
        return (body, end);
    }

    [GeneratedRegex(@"^\s*<!--\s*walkthrough:\s*(.*?)\s*-->\s*$")]
    private static partial Regex Marker();

    [GeneratedRegex(@"^```(.*)$")]
    private static partial Regex Fence();
}
