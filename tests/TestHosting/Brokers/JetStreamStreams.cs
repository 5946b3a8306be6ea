using System.Text.RegularExpressions;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

namespace TestHosting.Brokers;

/// <summary>
/// The JetStream streams a user creates before starting the apps, since neither daprd nor the dev sidecar creates
/// them: components/jetstream/pubsub.yaml lists them as `nats stream add NAME --subjects SUBJECT --defaults` lines,
/// and the tests create exactly those, through the JetStream API as the NATS CLI does (file storage, limits retention,
/// everything else the server's defaults).
/// </summary>
public static partial class JetStreamStreams
{
    public sealed record Stream(string Name, IReadOnlyList<string> Subjects);

    /// <summary>The `nats stream add` lines of the component files in <paramref name="folder"/>.</summary>
    public static IReadOnlyList<Stream> ListedIn(string folder) =>
        Directory.EnumerateFiles(folder, "*.yaml")
            .SelectMany(File.ReadLines)
            .Select(line => StreamAdd().Match(line))
            .Where(m => m.Success)
            .Select(m => new Stream(m.Groups["name"].Value, m.Groups["subjects"].Value.Split(',')))
            .ToList();

    /// <summary>A stream per topic, named after it: what a test that makes up its own topics creates.</summary>
    public static IEnumerable<Stream> OnePerTopic(IEnumerable<string> topics) => topics.Select(t => new Stream(t, [t]));

    public static async Task CreateAsync(string natsUrl, IEnumerable<Stream> streams)
    {
        await using var connection = new NatsConnection(new NatsOpts { Url = natsUrl, Name = "test hosting: nats stream add" });
        var js = new NatsJSContext(connection);
        foreach (var stream in streams)
            await js.CreateOrUpdateStreamAsync(new StreamConfig(stream.Name, [.. stream.Subjects]) { Storage = StreamConfigStorage.File });
    }

    [GeneratedRegex(@"^#\s+nats stream add (?<name>\S+) --subjects (?<subjects>\S+)")]
    private static partial Regex StreamAdd();
}
