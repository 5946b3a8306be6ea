using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

namespace DevSidecar.PubSub.JetStream;

/// <summary>
/// Finds the stream that stores a topic's subject. daprd requires it to exist (it looks it up by subject, or uses
/// streamName) and fails otherwise. Dev-sidecar difference: so that `run -f` works with nothing but a bare
/// nats-server, a missing stream is created (named streamName, or after the topic, with the topic as its subject),
/// and a streamName stream that lacks the subject gets it added; both are logged.
/// </summary>
internal sealed partial class JetStreamStreams(JetStreamMetadata metadata, string component, ILogger logger)
{
    private readonly ConcurrentDictionary<string, string> _streamByTopic = new(StringComparer.Ordinal);

    public async Task<string> StreamForAsync(NatsJSContext js, string topic, CancellationToken cancellationToken)
    {
        if (_streamByTopic.TryGetValue(topic, out var known)) return known;
        // Sidecars of other apps may create or extend the same stream at the same time: look again after a conflict.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var name = await FindOrCreateAsync(js, topic, cancellationToken);
                _streamByTopic[topic] = name;
                return name;
            }
            catch (NatsJSApiException e) when (attempt < 3 && e.Error.ErrCode is 10058 or 10065)
            {
                logger.LogDebug("{Component}: stream for {Topic} changed concurrently ({Error}); looking again", component, topic, e.Error.Description);
            }
        }
    }

    /// <summary>Forgets what is known, e.g. after the server lost its streams.</summary>
    public void Forget(string topic) => _streamByTopic.TryRemove(topic, out _);

    private async Task<string> FindOrCreateAsync(NatsJSContext js, string topic, CancellationToken cancellationToken)
    {
        var covering = new List<string>();
        await foreach (var name in js.ListStreamNamesAsync(subject: topic, cancellationToken: cancellationToken)) covering.Add(name);

        if (metadata.StreamName is not { } configured)
        {
            if (covering.Count > 0) return covering[0];
            var created = StreamNameFor(topic);
            await js.CreateStreamAsync(NewStream(created, topic), cancellationToken);
            logger.LogWarning("{Component}: no JetStream stream stores subject '{Topic}'; created stream '{Stream}' for it (dev sidecar only: daprd requires the stream to exist)",
                component, topic, created);
            return created;
        }

        if (covering.Contains(configured)) return configured;
        try
        {
            var stream = await js.GetStreamAsync(configured, cancellationToken: cancellationToken);
            var config = stream.Info.Config;
            config.Subjects = [.. config.Subjects ?? [], topic];
            await js.UpdateStreamAsync(config, cancellationToken);
            logger.LogWarning("{Component}: stream '{Stream}' did not store subject '{Topic}'; added it (dev sidecar only: daprd requires the stream to cover the topic)",
                component, configured, topic);
        }
        catch (NatsJSApiException e) when (e.Error.Code == 404)
        {
            await js.CreateStreamAsync(NewStream(configured, topic), cancellationToken);
            logger.LogWarning("{Component}: stream '{Stream}' did not exist; created it for subject '{Topic}' (dev sidecar only: daprd requires the stream to exist)",
                component, configured, topic);
        }
        return configured;
    }

    private StreamConfig NewStream(string name, string topic) => new(name, [topic])
    {
        Storage = metadata.MemoryStorage ? StreamConfigStorage.Memory : StreamConfigStorage.File,
        NumReplicas = Math.Max(1, metadata.Replicas),
    };

    /// <summary>Stream and consumer names may not contain '.', '*', '>', path separators or whitespace.</summary>
    public static string StreamNameFor(string topic) => Unsafe().Replace(topic, "_");

    [GeneratedRegex(@"[^A-Za-z0-9_\-]")]
    private static partial Regex Unsafe();
}
