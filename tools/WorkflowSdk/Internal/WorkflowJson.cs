using System.Text.Json;

namespace WorkflowSdk.Internal;

/// <summary>How payloads travel: System.Text.Json with web defaults (camelCase), as protobuf StringValues.</summary>
internal static class WorkflowJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web);

    public static string? Serialize(object? value) =>
        value is null ? null : JsonSerializer.Serialize(value, value.GetType(), Options);

    public static T Deserialize<T>(string? json) =>
        string.IsNullOrEmpty(json) ? default! : JsonSerializer.Deserialize<T>(json, Options)!;

    public static object? Deserialize(string? json, Type type) =>
        string.IsNullOrEmpty(json) ? null : JsonSerializer.Deserialize(json, type, Options);
}
