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

    /// <summary>The nearest of <paramref name="candidates"/> by edit distance: "; did you mean 'x'?" when it is near enough to be
    /// a typo (within a third of the key's length: "redisHots", "processingTimout"), otherwise "; the nearest known key is 'x'".</summary>
    /// <param name="prefix">Goes before the candidate's name ("spec." for a field of spec).</param>
    public static string Suggestion(string key, IEnumerable<string> candidates, string prefix = "")
    {
        var nearest = candidates
            .Select(candidate => (candidate, distance: Distance(key.ToLowerInvariant(), candidate.ToLowerInvariant())))
            .OrderBy(c => c.distance).ThenBy(c => c.candidate, StringComparer.Ordinal)
            .FirstOrDefault();
        if (nearest.candidate is null) return "; this component type has no metadata";
        return nearest.distance <= Math.Max(1, key.Length / 3)
            ? $"; did you mean '{prefix}{nearest.candidate}'?"
            : $"; the nearest known one is '{prefix}{nearest.candidate}'";
    }

    /// <summary>Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours cost 1.</summary>
    public static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (var j = 0; j <= b.Length; j++) d[0, j] = j;
        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
            }
        }
        return d[a.Length, b.Length];
    }
}
