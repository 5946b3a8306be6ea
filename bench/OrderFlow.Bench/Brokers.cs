using System.Text.RegularExpressions;
using DevSidecar.Resources;
using TestHosting;
using TestHosting.Brokers;

namespace OrderFlow.Bench;

/// <summary>
/// A broker folder under components/ (a folder with a pub/sub component). Its broker is started, on a free port with
/// private data, by the test-hosting library's <see cref="BrokerComponents"/>, so nothing else on the machine is touched.
/// </summary>
public sealed partial class BrokerFolder
{
    public required string Name { get; init; }
    public required string PubSubType { get; init; }
    public string? StateType { get; init; }

    /// <summary>The broker folders of the repository: every components/ folder with a pubsub.* component, local first.</summary>
    public static List<BrokerFolder> Discover()
    {
        var found = new List<BrokerFolder>();
        foreach (var dir in Directory.GetDirectories(Repo.Path("components")).Order(StringComparer.Ordinal))
        {
            string? pubsub = null, state = null;
            foreach (var file in Directory.GetFiles(dir, "*.yaml"))
            {
                foreach (Match m in TypeLine().Matches(File.ReadAllText(file)))
                {
                    var type = m.Groups[1].Value;
                    if (type.StartsWith("pubsub.", StringComparison.Ordinal)) pubsub ??= type;
                    if (type.StartsWith("state.", StringComparison.Ordinal)) state ??= type;
                }
            }
            if (pubsub is not null) found.Add(new BrokerFolder { Name = Path.GetFileName(dir), PubSubType = pubsub, StateType = state });
        }
        return [.. found.OrderBy(f => f.Name == "local" ? 0 : 1).ThenBy(f => f.Name, StringComparer.Ordinal)];
    }

    [GeneratedRegex(@"^\s*type:\s*([\w.\-]+)\s*$", RegexOptions.Multiline)]
    private static partial Regex TypeLine();

    /// <summary>Why this folder cannot be measured here, or null.</summary>
    public string? Unsupported(bool withState)
    {
        if (!ComponentRegistry.KnownTypes.Contains(PubSubType)) return $"the dev sidecar does not support {PubSubType}";
        if (withState && StateType is not null && !ComponentRegistry.KnownTypes.Contains(StateType)) return $"the dev sidecar does not support {StateType}";
        if (Name == "local") return null;
        if (!BrokerComponents.Binaries.TryGetValue(Name, out var binary)) return "the bench knows no broker to start for it";
        return BrokerBinary.Find(binary) is null ? $"{binary} is not installed" : null;
    }

    /// <summary>Starts the folder's broker and copies the folder (its pub/sub component only unless <paramref name="withState"/>) into <paramref name="workDir"/>, pointed at it.</summary>
    public Task<BrokerComponents> StartAsync(string workDir, bool withState) => BrokerComponents.StartAsync(Name, workDir, pubSubOnly: !withState);
}
