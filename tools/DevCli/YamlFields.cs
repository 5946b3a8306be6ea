using System.Globalization;
using DevSidecar.Resources;

namespace DevCli;

/// <summary>
/// Typed reads of one YAML mapping as <see cref="YamlValues"/> reads it, converting scalars as YamlDotNet's typed
/// deserializer did: a missing key or YAML null is null, a value of the wrong shape is a <see cref="FormatException"/>
/// naming its path (e.g. <c>apps[0].appPort</c>). Keys nobody asks for are ignored here; <see cref="RunFileKeys"/> reports them.
/// </summary>
internal sealed class YamlFields(Dictionary<object, object> mapping, string path)
{
    public static readonly YamlFields Empty = new([], "");

    /// <summary>The mapping's keys as written (a non-text key as its text form).</summary>
    public IEnumerable<string> Keys => mapping.Keys.Select(key => key as string ?? key.ToString() ?? "");

    /// <summary>A document's root, which must be a mapping (or empty).</summary>
    public static YamlFields Root(object? document) => document switch
    {
        null => Empty,
        Dictionary<object, object> root => new YamlFields(root, ""),
        _ => throw new FormatException("the document is not a mapping"),
    };

    public string? String(string key) => Get(key) switch
    {
        null => null,
        string text => text,
        _ => throw Invalid(key, "must be a string"),
    };

    /// <summary>A decimal integer; YamlDotNet also took YAML 1.1 forms (0x1F, 017 as octal, 1_000, 1:30), which no run file needs.</summary>
    public int? Int(string key) => Get(key) switch
    {
        null => null,
        string text when int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var number) => number,
        string text => throw Invalid(key, $"'{text}' is not an integer"),
        _ => throw Invalid(key, "must be an integer"),
    };

    public bool? Bool(string key) => Get(key) switch
    {
        null => null,
        string text when TrueWords.Contains(text) => true,
        string text when FalseWords.Contains(text) => false,
        string text => throw Invalid(key, $"'{text}' is not a boolean"),
        _ => throw Invalid(key, "must be a boolean"),
    };

    // YAML 1.1 booleans, the words YamlDotNet took.
    private static readonly HashSet<string> TrueWords = new(["true", "y", "yes", "on"], StringComparer.OrdinalIgnoreCase);
    private static readonly HashSet<string> FalseWords = new(["false", "n", "no", "off"], StringComparer.OrdinalIgnoreCase);

    public List<string>? Strings(string key) => Get(key) switch
    {
        null => null,
        List<object> items => items.Select((item, i) => item as string ?? throw Invalid($"{key}[{i}]", "must be a string")).ToList(),
        _ => throw Invalid(key, "must be a list"),
    };

    /// <summary>A mapping of strings; a key with no value maps to null.</summary>
    public Dictionary<string, string>? StringMap(string key) => Get(key) switch
    {
        null => null,
        Dictionary<object, object> map => map.ToDictionary(
            kv => kv.Key as string ?? throw Invalid(key, "must have string keys"),
            kv => kv.Value switch
            {
                null => null!,
                string text => text,
                _ => throw Invalid($"{key}.{kv.Key}", "must be a string"),
            }),
        _ => throw Invalid(key, "must be a mapping"),
    };

    public YamlFields? Mapping(string key) => Get(key) switch
    {
        null => null,
        Dictionary<object, object> map => new YamlFields(map, PathOf(key)),
        _ => throw Invalid(key, "must be a mapping"),
    };

    public List<YamlFields>? Mappings(string key) => Get(key) switch
    {
        null => null,
        List<object> items => items.Select((item, i) => item switch
        {
            Dictionary<object, object> map => new YamlFields(map, PathOf($"{key}[{i}]")),
            null => Empty,
            _ => throw Invalid($"{key}[{i}]", "must be a mapping"),
        }).ToList(),
        _ => throw Invalid(key, "must be a list"),
    };

    private object? Get(string key) => mapping.GetValueOrDefault(key);

    private string PathOf(string key) => path.Length == 0 ? key : $"{path}.{key}";

    private FormatException Invalid(string key, string problem) => new($"{PathOf(key)}: {problem}");
}
