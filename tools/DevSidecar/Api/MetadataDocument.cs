using System.Text.Json.Serialization;
using DevSidecar.Hosting;

namespace DevSidecar.Api;

/// <summary>GET /v1.0/metadata, shaped as daprd answers it (fields omitted when empty).</summary>
public static partial class MetadataDocument
{
    public const string RuntimeVersion = "1.16.0-devsidecar";

    /// <summary>Source-generated (no reflection, for Native AOT); null fields are left out.</summary>
    [JsonSerializable(typeof(Document))]
    [JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
    internal sealed partial class MetadataJson : JsonSerializerContext;

    public sealed record Component(
        [property: JsonPropertyName("name")] string Name,
        [property: JsonPropertyName("type")] string Type,
        [property: JsonPropertyName("version")] string Version,
        [property: JsonPropertyName("capabilities")] IReadOnlyList<string>? Capabilities);

    public sealed record Rule([property: JsonPropertyName("match")] string Match, [property: JsonPropertyName("path")] string Path);

    public sealed record Subscription(
        [property: JsonPropertyName("pubsubname")] string PubSubName,
        [property: JsonPropertyName("topic")] string Topic,
        [property: JsonPropertyName("metadata")] IReadOnlyDictionary<string, string>? Metadata,
        [property: JsonPropertyName("rules")] IReadOnlyList<Rule> Rules,
        [property: JsonPropertyName("deadLetterTopic")] string DeadLetterTopic,
        [property: JsonPropertyName("type")] string Type);

    public sealed record Health(
        [property: JsonPropertyName("healthCheckPath")] string HealthCheckPath,
        [property: JsonPropertyName("healthProbeInterval")] string HealthProbeInterval,
        [property: JsonPropertyName("healthProbeTimeout")] string HealthProbeTimeout,
        [property: JsonPropertyName("healthThreshold")] int HealthThreshold);

    public sealed record AppConnection(
        [property: JsonPropertyName("port")] int? Port,
        [property: JsonPropertyName("protocol")] string Protocol,
        [property: JsonPropertyName("channelAddress")] string ChannelAddress,
        [property: JsonPropertyName("health")] Health? Health);

    public sealed record ActorRuntime(
        [property: JsonPropertyName("runtimeStatus")] string RuntimeStatus,
        [property: JsonPropertyName("hostReady")] bool HostReady,
        [property: JsonPropertyName("placement")] string Placement);

    public sealed record Document(
        [property: JsonPropertyName("id")] string Id,
        [property: JsonPropertyName("runtimeVersion")] string RuntimeVersion,
        [property: JsonPropertyName("enabledFeatures")] IReadOnlyList<string> EnabledFeatures,
        [property: JsonPropertyName("components")] IReadOnlyList<Component> Components,
        [property: JsonPropertyName("extended")] IReadOnlyDictionary<string, string> Extended,
        [property: JsonPropertyName("subscriptions")] IReadOnlyList<Subscription> Subscriptions,
        [property: JsonPropertyName("appConnectionProperties")] AppConnection AppConnectionProperties,
        [property: JsonPropertyName("actorRuntime")] ActorRuntime ActorRuntime);

    public static Document Build(SidecarRuntime runtime)
    {
        var options = runtime.Options;
        var extended = new SortedDictionary<string, string>(runtime.ExtendedMetadata, StringComparer.Ordinal)
        {
            ["daprRuntimeVersion"] = RuntimeVersion,
        };
        return new Document(
            options.AppId,
            RuntimeVersion,
            [],
            runtime.Components.Specs.Select(c =>
            {
                var capabilities = runtime.Components.CapabilitiesOf(c.Name);
                return new Component(c.Name, c.Type, c.Version, capabilities.Count > 0 ? capabilities : null);
            }).ToList(),
            extended,
            runtime.ActiveSubscriptions.Select(s => new Subscription(
                s.PubSubName, s.Topic, s.Metadata.Count > 0 ? s.Metadata : null,
                [.. s.Rules.Select(r => new Rule(r.Match, "/" + r.Path.TrimStart('/'))), .. s.DefaultPath is { } d ? [new Rule("", "/" + d.TrimStart('/'))] : Array.Empty<Rule>()],
                s.DeadLetterTopic ?? "", s.Type)).ToList(),
            new AppConnection(options.AppPort, options.AppProtocol, options.AppChannelAddress,
                options.EnableAppHealthCheck
                    ? new Health(options.AppHealthCheckPath, $"{options.AppHealthProbeInterval.TotalSeconds}s",
                        $"{options.AppHealthProbeTimeout.TotalMilliseconds}ms", options.AppHealthThreshold)
                    : null),
            new ActorRuntime("DISABLED", false, ""));
    }
}
