using DevSidecar.Resources;

namespace DevCli;

/// <summary>
/// The keys the Dapr CLI reads from a run file (cli v1.17.1 pkg/runfileconfig/run_file_config.go RunFileConfig, App,
/// ContainerConfiguration; pkg/standalone/run.go RunConfig, SharedRunConfig: their yaml tags), and the report of any
/// other key. The CLI decodes with gopkg.in/yaml.v2's non-strict yaml.Unmarshal
/// (pkg/runfileconfig/run_file_config_parser.go parseAppsConfig), which drops an unknown or misspelt key without a
/// word: `resourcePaths` leaves every sidecar without components. The runner goes on as the CLI does, but says so.
/// Keys the dev sidecar does not model (placement, Kubernetes, daprd flags) are known here and stay silent.
/// </summary>
internal static class RunFileKeys
{
    private static readonly string[] TopLevel = ["version", "name", "common", "apps"];

    private static readonly string[] Shared =
    [
        "configFilePath", "appProtocol", "apiListenAddresses", "enableProfiling", "logLevel", "appMaxConcurrency",
        "placementHostAddress", "resourcesPath", "resourcesPaths", "appSSL", "maxBodySize", "readBufferSize",
        "enableAppHealthCheck", "appHealthCheckPath", "appHealthProbeInterval", "appHealthProbeTimeout", "appHealthThreshold",
        "enableApiLogging", "runtimePath", "env", "daprdLogDestination", "appLogDestination", "schedulerHostAddress",
    ];

    /// <summary>Keys of an app entry only: `common` inlines SharedRunConfig alone, so these are ignored there.</summary>
    private static readonly string[] AppOnly =
    [
        "appID", "appChannelAddress", "appPort", "daprHTTPPort", "daprGRPCPort", "profilePort", "command", "metricsPort",
        "unixDomainSocket", "daprInternalGRPCPort", "containerImage", "containerImagePullPolicy", "createService", "appDirPath",
    ];

    private static readonly string[] App = [.. Shared, .. AppOnly];

    /// <summary>One line per key the CLI would ignore, with where it is and the nearest key it knows.</summary>
    public static IReadOnlyList<string> Unknown(YamlFields root)
    {
        var problems = new List<string>();
        Check(root, TopLevel, "top level", problems);
        if (root.Mapping("common") is { } common)
            Check(common, Shared, "common", problems);
        foreach (var (app, index) in (root.Mappings("apps") ?? []).Select((app, index) => (app, index)))
            Check(app, App, app.String("appID") is { Length: > 0 } id ? $"apps[{index}] (appID '{id}')" : $"apps[{index}]", problems);
        return problems;
    }

    private static void Check(YamlFields section, string[] known, string where, List<string> problems)
    {
        foreach (var key in section.Keys.Where(key => !known.Contains(key, StringComparer.Ordinal)))
        {
            var hint = where == "common" && AppOnly.Contains(key, StringComparer.Ordinal)
                ? $"'{key}' is read only in an app entry under apps"
                : Nearest(key, known) is { } near ? $"did you mean '{near}'?" : $"known keys: {string.Join(", ", known)}";
            problems.Add($"{where}: unknown key '{key}' ({hint}); the Dapr CLI ignores it too, so it has no effect");
        }
    }

    /// <summary>The known key closest to a misspelt one, if it is close enough to be a typo.</summary>
    private static string? Nearest(string key, string[] known) =>
        Spelling.Nearest(key, known) is { IsTypo: true } near ? near.Candidate : null;
}
