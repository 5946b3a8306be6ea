using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace DevSidecar.Resources;

/// <summary>
/// Reads YAML into plain values, the shapes YamlDotNet's deserializer gives for <c>object</c>: a mapping is a
/// <c>Dictionary&lt;object, object&gt;</c> (a repeated key keeps its last value), a sequence a <c>List&lt;object&gt;</c>, a scalar
/// its text, and YAML's null (<c>~</c>, <c>null</c>, nothing) null. Read straight from the parser's events: that
/// deserializer builds objects through reflection, which Native AOT does not have. Unlike it, a scalar tagged
/// <c>!!int</c>, <c>!!float</c>, <c>!!bool</c> or <c>!!timestamp</c> stays text; other tags are rejected, as it did.
/// </summary>
public static class YamlValues
{
    /// <summary>How deep values may nest, as the deserializer's default limit, so hostile input cannot overflow the stack.</summary>
    private const int MaxDepth = 130;

    /// <summary>The tags the deserializer resolved (by default); it rejected any other.</summary>
    private static readonly HashSet<string> KnownTags = new(StringComparer.Ordinal)
    {
        "tag:yaml.org,2002:map", "tag:yaml.org,2002:str", "tag:yaml.org,2002:bool",
        "tag:yaml.org,2002:float", "tag:yaml.org,2002:int", "tag:yaml.org,2002:timestamp",
    };

    /// <summary>The one document of a YAML text (null when it is empty); more than one document is an error.</summary>
    public static object? ReadSingle(string text)
    {
        var parser = new Parser(new StringReader(text));
        parser.Consume<StreamStart>();
        var value = parser.Accept<StreamEnd>(out _) ? null : ReadDocument(parser);
        parser.Consume<StreamEnd>();
        return value;
    }

    /// <summary>The document the parser is at, which it consumes; null for an empty document.</summary>
    public static object? ReadDocument(IParser parser)
    {
        parser.Consume<DocumentStart>();
        // Anchors are per document.
        var value = parser.Accept<DocumentEnd>(out _) ? null : ReadNode(parser, new Dictionary<string, object?>(StringComparer.Ordinal), 1);
        parser.Consume<DocumentEnd>();
        return value;
    }

    private static object? ReadNode(IParser parser, Dictionary<string, object?> anchors, int depth)
    {
        if (parser.TryConsume<AnchorAlias>(out var alias))
        {
            return anchors.TryGetValue(alias.Value.Value, out var aliased)
                ? aliased
                : throw new AnchorNotFoundException(alias.Start, alias.End, $"Alias ${alias.Value} cannot precede anchor declaration");
        }
        var node = parser.Current as NodeEvent ?? throw new YamlException(parser.Current!.Start, parser.Current.End, "a value was expected");
        if (!node.Tag.IsEmpty && !KnownTags.Contains(node.Tag.Value))
            throw new YamlException(node.Start, node.End, $"Encountered an unresolved tag '{node.Tag}'");
        if (depth > MaxDepth)
            throw new MaximumRecursionLevelReachedException(node.Start, node.End, "Maximum level of recursion reached");

        object? value;
        try
        {
            value = ReadValue(parser, node, anchors, depth);
        }
        catch (Exception e) when (e is not YamlException)
        {
            // The parser reports some malformed input with other exceptions; the deserializer wrapped those as a
            // YamlException at the value it was reading, so that the file's error can say where.
            throw new YamlException(node.Start, node.End, "Exception during deserialization", e);
        }
        if (!node.Anchor.IsEmpty) anchors[node.Anchor.Value] = value;
        return value;
    }

    private static object? ReadValue(IParser parser, NodeEvent node, Dictionary<string, object?> anchors, int depth)
    {
        parser.MoveNext();
        switch (node)
        {
            case Scalar scalar:
                return IsNull(scalar) ? null : scalar.Value;
            case MappingStart:
                var mapping = new Dictionary<object, object>();
                while (!parser.TryConsume<MappingEnd>(out _))
                {
                    var keyAt = parser.Current!;
                    var key = ReadNode(parser, anchors, depth + 1)
                        ?? throw new YamlException(keyAt.Start, keyAt.End, "a mapping key is null");
                    mapping[key] = ReadNode(parser, anchors, depth + 1)!; // null values are kept, as the deserializer does
                }
                return mapping;
            case SequenceStart:
                var sequence = new List<object>();
                while (!parser.TryConsume<SequenceEnd>(out _)) sequence.Add(ReadNode(parser, anchors, depth + 1)!);
                return sequence;
            default:
                throw new YamlException(node.Start, node.End, $"unexpected {node}");
        }
    }

    /// <summary>YAML's null (yaml.org/type/null.html): a plain ~, null, Null, NULL or nothing, other than a key.</summary>
    private static bool IsNull(Scalar scalar) =>
        scalar.Style == ScalarStyle.Plain && !scalar.IsKey && scalar.Value is "" or "~" or "null" or "Null" or "NULL";

    /// <summary>The mapping under <paramref name="key"/>, or null when it is missing or not a mapping.</summary>
    public static Dictionary<object, object>? Map(Dictionary<object, object>? map, string key) =>
        map is not null && map.TryGetValue(key, out var v) ? v as Dictionary<object, object> : null;

    /// <summary>The non-empty text under <paramref name="key"/>, or null.</summary>
    public static string? Str(Dictionary<object, object>? map, string key) =>
        map is not null && map.TryGetValue(key, out var v) && v is string s && s.Length > 0 ? s : null;

    /// <summary>The sequence under <paramref name="key"/> as texts; empty when it is missing or not a sequence.</summary>
    public static IReadOnlyList<string> StrList(Dictionary<object, object> map, string key) =>
        map.TryGetValue(key, out var v) && v is List<object> list ? list.Select(x => x.ToString()!).ToList() : [];

    /// <summary>A mapping's entries with their keys as text; none for a missing mapping.</summary>
    public static IEnumerable<KeyValuePair<string, object?>> Entries(Dictionary<object, object>? map) =>
        map is null ? [] : map.Select(kv => new KeyValuePair<string, object?>(kv.Key.ToString()!, kv.Value));
}
