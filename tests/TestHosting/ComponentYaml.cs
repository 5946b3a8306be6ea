namespace TestHosting;

/// <summary>Component files written inline, in the schema of the repository's components/*.yaml.</summary>
public static class ComponentYaml
{
    /// <summary>One component: <c>metadata.name</c>, <c>spec.type</c> (e.g. <c>state.redis</c>) and its metadata, every value quoted.</summary>
    public static string Of(string name, string type, params (string Key, string Value)[] metadata) => $"""
        apiVersion: dapr.io/v1alpha1
        kind: Component
        metadata:
          name: {name}
        spec:
          type: {type}
          version: v1
          metadata:{(metadata.Length == 0 ? " []" : "")}
        {string.Concat(metadata.Select(m => $"    - name: {m.Key}\n      value: \"{m.Value}\"\n"))}
        """;

    /// <summary>A Dapr Configuration whose <c>spec.tracing</c> is <paramref name="tracing"/>: YAML lines already indented
    /// under it (four spaces).</summary>
    public static string Configuration(string tracing) => $"""
        apiVersion: dapr.io/v1alpha1
        kind: Configuration
        metadata:
          name: tracing
        spec:
          tracing:
        {tracing}
        """;

    /// <summary>Several components in one multi-document file.</summary>
    public static string Join(params string[] components) => string.Join("---\n", components.Select(c => c.TrimEnd() + "\n"));
}
