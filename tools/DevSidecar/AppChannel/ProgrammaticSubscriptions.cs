using System.Text.Json;
using System.Text.Json.Serialization;
using DevSidecar.Resources;

namespace DevSidecar.AppChannel;

/// <summary>
/// Parses the /dapr/subscribe answer as Go's encoding/json does: field names case-insensitive
/// (Dapr.AspNetCore writes pubsubName, the docs write pubsubname), v1 <c>route</c> and v2 <c>routes</c>.
/// </summary>
public static partial class ProgrammaticSubscriptions
{
    public static IReadOnlyList<SubscriptionSpec> Parse(string body)
    {
        if (string.IsNullOrWhiteSpace(body)) return [];
        var entries = JsonSerializer.Deserialize(body, SubscribeJson.Default.ListEntry) ?? [];
        var result = new List<SubscriptionSpec>();
        foreach (var entry in entries)
        {
            if (string.IsNullOrEmpty(entry.PubSubName) || string.IsNullOrEmpty(entry.Topic)) continue;
            var rules = (entry.Routes?.Rules ?? []).Where(r => !string.IsNullOrEmpty(r.Path))
                .Select(r => new RouteRule(r.Match ?? "", r.Path!)).ToList();
            // routes.default wins over route; an entry with no path at all is dropped.
            var defaultPath = !string.IsNullOrEmpty(entry.Routes?.Default) ? entry.Routes!.Default : entry.Route;
            if (string.IsNullOrEmpty(defaultPath) && rules.Count == 0) continue;
            result.Add(new SubscriptionSpec(entry.PubSubName, entry.Topic, rules, string.IsNullOrEmpty(defaultPath) ? null : defaultPath,
                entry.Metadata ?? new Dictionary<string, string>(), string.IsNullOrEmpty(entry.DeadLetterTopic) ? null : entry.DeadLetterTopic,
                "PROGRAMMATIC"));
        }
        return result;
    }

    private sealed record Entry(string? PubSubName, string? Topic, string? Route, Routes? Routes,
        Dictionary<string, string>? Metadata, string? DeadLetterTopic);

    private sealed record Routes(List<Rule>? Rules, string? Default);

    private sealed record Rule(string? Match, string? Path);

    /// <summary>Source-generated (no reflection, for Native AOT).</summary>
    [JsonSerializable(typeof(List<Entry>))]
    [JsonSourceGenerationOptions(PropertyNameCaseInsensitive = true)]
    private sealed partial class SubscribeJson : JsonSerializerContext;
}
