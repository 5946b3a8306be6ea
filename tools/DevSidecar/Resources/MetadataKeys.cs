namespace DevSidecar.Resources;

/// <summary>
/// The metadata keys a component type understands, and the warning for any other. daprd itself never refuses an
/// unknown key: contrib decodes metadata with mapstructure, which ignores keys no field names and matches the others
/// case-insensitively (dapr/kit metadata.DecodeMetadata, used by components-contrib v1.17.6), so a misspelt key is
/// silently ignored and its setting falls back to the default. The dev sidecar says so, as a warning, with the
/// nearest known key. Each component type's list sits next to the code that reads its metadata (e.g.
/// <c>JetStreamMetadata.Keys</c>); <see cref="ComponentSpec.Get"/> refuses to read a key its list lacks, so the list
/// cannot fall behind what the dev sidecar reads.
/// </summary>
public static class MetadataKeys
{
    /// <summary>Keys daprd reads from every pub/sub component itself (dapr v1.17.9 pkg/runtime/processor/pubsub/pubsub.go
    /// consumerID, pkg/scopes/scopes.go).</summary>
    public static readonly IReadOnlyList<string> PubSubRuntime =
        ["consumerID", "allowedTopics", "publishingScopes", "subscriptionScopes", "protectedTopics"];

    /// <summary>Keys daprd reads from every state store itself (dapr v1.17.9 pkg/runtime/processor/state/state.go
    /// actorStateStore, pkg/components/state/state_config.go keyPrefix, pkg/encryption/encryption.go,
    /// pkg/runtime/pubsub/outbox.go).</summary>
    public static readonly IReadOnlyList<string> StateRuntime =
    [
        "actorStateStore", "keyPrefix", "primaryEncryptionKey", "secondaryEncryptionKey",
        "outboxPublishPubsub", "outboxPublishTopic", "outboxPubsub", "outboxDiscardWhenMissingState",
    ];

    /// <summary>A component type's keys: its own (contrib's) and those daprd reads for its building block.</summary>
    public static IReadOnlySet<string> Of(string type, IEnumerable<string> componentKeys) =>
        componentKeys.Concat(type.StartsWith("pubsub.", StringComparison.Ordinal) ? PubSubRuntime
                : type.StartsWith("state.", StringComparison.Ordinal) ? StateRuntime
                : []).ToHashSet(StringComparer.OrdinalIgnoreCase);

    /// <summary>One warning per key of <paramref name="spec"/> that its type does not know (keys match case-insensitively, as in contrib).</summary>
    public static IEnumerable<string> Warnings(ComponentSpec spec, IReadOnlySet<string> known) =>
        spec.Metadata.Keys.Where(key => !known.Contains(key)).Select(key =>
            $"{spec.File}: component '{spec.Name}' ({spec.Type}): unknown metadata key '{key}', which daprd ignores{Suggestion(key, known)}");

    /// <summary>"; did you mean 'x'?" when the nearest known key is near enough to be a typo (<see cref="Spelling"/>),
    /// otherwise "; the nearest known one is 'x'".</summary>
    /// <param name="prefix">Goes before the candidate's name ("spec." for a field of spec).</param>
    public static string Suggestion(string key, IEnumerable<string> candidates, string prefix = "") =>
        Spelling.Nearest(key, candidates) switch
        {
            null => "; this component type has no metadata",
            { IsTypo: true } near => $"; did you mean '{prefix}{near.Candidate}'?",
            { } near => $"; the nearest known one is '{prefix}{near.Candidate}'",
        };
}
