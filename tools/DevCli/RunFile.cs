using DevSidecar.Resources;
using YamlDotNet.Core;

namespace DevCli;

/// <summary>A parsed multi-app run file (dapr.yaml), with every path absolute and the common section merged into each app.</summary>
public sealed record RunFile(string TemplatePath, string? Name, IReadOnlyList<AppSpec> Apps)
{
    public const string DefaultFileName = "dapr.yaml";

    /// <summary>What the run file says that has no effect (a misspelt key), one line each, for the runner to print before starting.</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];

    /// <summary>
    /// Reads a run file, or the dapr.yaml inside a folder, the way `dapr run -f` does: paths in
    /// <c>common</c> are relative to the template, an app's paths are relative to its appDirPath,
    /// <c>~</c> is expanded, and every path named must exist.
    /// </summary>
    public static RunFile Load(string fileOrFolder)
    {
        var templatePath = Path.GetFullPath(PathResolver.ExpandHome(fileOrFolder));
        if (Directory.Exists(templatePath))
            templatePath = Path.Combine(templatePath, DefaultFileName);
        if (!File.Exists(templatePath))
            throw new RunFileException(templatePath, "run file not found");

        RunFileDocument document;
        IReadOnlyList<string> unknownKeys;
        try
        {
            var root = YamlFields.Root(YamlValues.ReadSingle(File.ReadAllText(templatePath)));
            document = new RunFileDocument(root);
            unknownKeys = RunFileKeys.Unknown(root);
        }
        catch (YamlException e)
        {
            throw new RunFileException(templatePath, $"line {e.Start.Line}: {(e.InnerException ?? e).Message}");
        }
        catch (FormatException e)
        {
            throw new RunFileException(templatePath, e.Message);
        }
        return Resolve(document, templatePath) with { Warnings = unknownKeys };
    }

    private static RunFile Resolve(RunFileDocument document, string templatePath)
    {
        if (document.Version is null or 0)
            throw new RunFileException(templatePath, "required field 'version' not found");
        if (document.Apps is not { Count: > 0 })
            throw new RunFileException(templatePath, "no apps in 'apps'");

        var templateDir = Path.GetDirectoryName(templatePath)!;
        var paths = new PathResolver(templatePath);
        var common = document.Common ?? new SharedSection(YamlFields.Empty);
        var commonResources = paths.ResolveAll(templateDir, common.AllResourcesPaths(), "common.resourcesPaths");
        var commonConfig = paths.ResolveFile(templateDir, common.ConfigFilePath, "common.configFilePath");

        var apps = document.Apps.Select((app, index) =>
        {
            if (string.IsNullOrWhiteSpace(app.AppDirPath))
                throw new RunFileException(templatePath, $"required field 'appDirPath' not found in apps[{index}]");
            var appDir = paths.Resolve(templateDir, app.AppDirPath, $"apps[{index}].appDirPath");
            var appId = string.IsNullOrWhiteSpace(app.AppId) ? Path.GetFileName(appDir.TrimEnd(Path.DirectorySeparatorChar)) : app.AppId;
            var where = $"app '{appId}'";
            var appResources = paths.ResolveAll(appDir, app.AllResourcesPaths(), $"{where} resourcesPaths");
            var appConfig = paths.ResolveFile(appDir, app.ConfigFilePath, $"{where} configFilePath");

            var protocol = (app.AppProtocol ?? common.AppProtocol ?? "http").ToLowerInvariant();
            if (!ValidProtocols.Contains(protocol))
                throw new RunFileException(templatePath, $"{where}: appProtocol '{protocol}' is not one of {string.Join(", ", ValidProtocols)}");
            if ((app.AppSsl ?? common.AppSsl) == true)
                protocol = protocol switch { "http" => "https", "grpc" => "grpcs", _ => protocol };

            var logLevel = NonEmpty(app.LogLevel) ?? NonEmpty(common.LogLevel);
            if (SidecarLoggerProvider.CheckLevel(logLevel) is { } badLevel)
                throw new RunFileException(templatePath, $"{where}: {badLevel}");

            return new AppSpec
            {
                AppId = appId,
                AppDirPath = appDir,
                Command = app.Command ?? [],
                AppPort = Positive(app.AppPort),
                DaprHttpPort = Positive(app.DaprHttpPort),
                DaprGrpcPort = Positive(app.DaprGrpcPort),
                MetricsPort = Positive(app.MetricsPort),
                AppChannelAddress = NonEmpty(app.AppChannelAddress),
                AppProtocol = protocol,
                ResourcesPaths = ResourceLookup(appResources, appDir, commonResources),
                ConfigFile = ConfigLookup(appConfig, appDir, commonConfig),
                Env = MergeEnv(common.Env, app.Env),
                EnableAppHealthCheck = app.EnableAppHealthCheck ?? common.EnableAppHealthCheck ?? false,
                AppHealthCheckPath = NonEmpty(app.AppHealthCheckPath) ?? NonEmpty(common.AppHealthCheckPath),
                AppHealthProbeInterval = Seconds(Positive(app.AppHealthProbeInterval) ?? Positive(common.AppHealthProbeInterval)),
                AppHealthProbeTimeout = Milliseconds(Positive(app.AppHealthProbeTimeout) ?? Positive(common.AppHealthProbeTimeout)),
                AppHealthThreshold = Positive(app.AppHealthThreshold) ?? Positive(common.AppHealthThreshold),
                LogLevel = logLevel,
                AppLogDestination = Destination(app.AppLogDestination ?? common.AppLogDestination, LogDestination.FileAndConsole, where, templatePath),
                DaprdLogDestination = Destination(app.DaprdLogDestination ?? common.DaprdLogDestination, LogDestination.File, where, templatePath),
            };
        }).ToList();

        // Entries sharing an app id are instances of one app (they compete for its subscriptions, invocation spreads
        // across them); each needs its own ports, and its own log file names.
        var clash = apps.SelectMany(a => new[] { a.AppPort, a.DaprHttpPort, a.DaprGrpcPort, a.MetricsPort }.OfType<int>())
            .GroupBy(port => port).FirstOrDefault(g => g.Count() > 1);
        if (clash is not null)
            throw new RunFileException(templatePath, $"port {clash.Key} is used by more than one app");
        var instanceCounts = apps.CountBy(a => a.AppId).ToDictionary();
        var numbered = new Dictionary<string, int>(StringComparer.Ordinal);
        apps = apps.Select(a =>
        {
            if (instanceCounts[a.AppId] == 1) return a;
            var n = numbered[a.AppId] = numbered.GetValueOrDefault(a.AppId) + 1;
            return a with { Instance = n, InstanceCount = instanceCounts[a.AppId] };
        }).ToList();
        return new RunFile(templatePath, document.Name, apps);
    }

    private static readonly string[] ValidProtocols = ["http", "https", "grpc", "grpcs", "h2c"];

    /// <summary>The CLI takes the first of: the app's resourcesPaths, &lt;appDir&gt;/.dapr/resources, common.resourcesPaths, ~/.dapr/components.</summary>
    private static IReadOnlyList<string> ResourceLookup(IReadOnlyList<string> appResources, string appDir, IReadOnlyList<string> commonResources)
    {
        if (appResources.Count > 0) return appResources;
        var local = Path.Combine(appDir, ".dapr", "resources");
        if (Directory.Exists(local)) return [local];
        if (commonResources.Count > 0) return commonResources;
        // daprd would fail on a missing default folder; the dev sidecar simply runs without resources.
        return Directory.Exists(DefaultComponentsPath) ? [DefaultComponentsPath] : [];
    }

    /// <summary>
    /// The CLI takes the first of: the app's configFilePath, &lt;appDir&gt;/.dapr/config.yaml, common.configFilePath,
    /// ~/.dapr/config.yaml (cli v1.17.1 pkg/runfileconfig/run_file_config_parser.go resolveConfigFilePath).
    /// </summary>
    private static string? ConfigLookup(string? appConfig, string appDir, string? commonConfig)
    {
        if (appConfig is not null) return appConfig;
        var local = Path.Combine(appDir, ".dapr", "config.yaml");
        if (File.Exists(local)) return local;
        return commonConfig ?? DefaultConfigFile;
    }

    /// <summary>~/.dapr/config.yaml when it exists. The CLI passes it to daprd even when it does not, and daprd then
    /// fails ("error loading configuration: stat …"); `dapr init` writes it. The dev sidecar, which needs no `dapr init`,
    /// then runs with daprd's default configuration.</summary>
    public static string? DefaultConfigFile =>
        Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".dapr", "config.yaml") is var path && File.Exists(path) ? path : null;

    public static string DefaultComponentsPath =>
        Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".dapr", "components");

    private static IReadOnlyDictionary<string, string> MergeEnv(Dictionary<string, string>? common, Dictionary<string, string>? app)
    {
        var merged = new Dictionary<string, string>(common ?? [], StringComparer.Ordinal);
        foreach (var (key, value) in app ?? [])
            merged[key] = value;
        return merged;
    }

    private static LogDestination Destination(string? value, LogDestination fallback, string where, string templatePath) => value switch
    {
        null or "" => fallback,
        "file" => LogDestination.File,
        "console" => LogDestination.Console,
        "fileAndConsole" => LogDestination.FileAndConsole,
        _ => throw new RunFileException(templatePath, $"{where}: log destination '{value}' is not one of file, console, fileAndConsole"),
    };

    private static int? Positive(int? value) => value > 0 ? value : null;
    private static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
    private static TimeSpan? Seconds(int? value) => value is { } s ? TimeSpan.FromSeconds(s) : null;
    private static TimeSpan? Milliseconds(int? value) => value is { } ms ? TimeSpan.FromMilliseconds(ms) : null;
}

/// <summary>One app of a run, ready to launch. Null means "not set": ports are then picked, health settings take the sidecar's defaults.</summary>
public sealed record AppSpec
{
    public required string AppId { get; init; }

    /// <summary>Which entry of those sharing this app id (1-based), and how many share it; 1 of 1 for most apps.</summary>
    public int Instance { get; init; } = 1;
    public int InstanceCount { get; init; } = 1;

    /// <summary>Names this entry in log file names and console prefixes: the app id, or "{appId}-{n}" when several entries share the app id.</summary>
    public string InstanceName => InstanceCount == 1 ? AppId : $"{AppId}-{Instance}";

    /// <summary>"app 'orders'", or "app 'patterns' (instance 2 of 2, port 5111)" for one of several instances.</summary>
    public string Describe() => InstanceCount == 1
        ? $"app '{AppId}'"
        : $"app '{AppId}' (instance {Instance} of {InstanceCount}, " + (AppPort is { } port ? $"port {port})" : DaprHttpPort is { } http ? $"Dapr HTTP port {http})" : "no app port)");

    public required string AppDirPath { get; init; }
    public IReadOnlyList<string> Command { get; init; } = [];
    public int? AppPort { get; init; }
    public int? DaprHttpPort { get; init; }
    public int? DaprGrpcPort { get; init; }
    public int? MetricsPort { get; init; }
    /// <summary>Null when the run file does not set it: daprd then uses 127.0.0.1, and the app gets APP_CHANNEL_ADDRESS
    /// empty (cli v1.17.1 pkg/standalone/run.go getEnv writes the unset field as it is).</summary>
    public string? AppChannelAddress { get; init; }
    public string AppProtocol { get; init; } = "http";
    public IReadOnlyList<string> ResourcesPaths { get; init; } = [];
    /// <summary>The Dapr Configuration file the sidecar reads (daprd's --config); null for daprd's default configuration.</summary>
    public string? ConfigFile { get; init; }
    public IReadOnlyDictionary<string, string> Env { get; init; } = new Dictionary<string, string>();
    public bool EnableAppHealthCheck { get; init; }
    public string? AppHealthCheckPath { get; init; }
    public TimeSpan? AppHealthProbeInterval { get; init; }
    public TimeSpan? AppHealthProbeTimeout { get; init; }
    public int? AppHealthThreshold { get; init; }
    public string? LogLevel { get; init; }
    public LogDestination AppLogDestination { get; init; } = LogDestination.FileAndConsole;
    public LogDestination DaprdLogDestination { get; init; } = LogDestination.File;
}

[Flags]
public enum LogDestination
{
    File = 1,
    Console = 2,
    FileAndConsole = File | Console,
}

/// <summary>A run file that cannot be used: names the file and what is wrong.</summary>
public sealed class RunFileException(string file, string problem) : Exception($"{file}: {problem}")
{
    public string File { get; } = file;
    public string Problem { get; } = problem;
}

internal sealed class PathResolver(string templatePath)
{
    public static string ExpandHome(string path) =>
        path == "~" || path.StartsWith("~/", StringComparison.Ordinal)
            ? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile) + path[1..]
            : path;

    public string Resolve(string baseDir, string path, string field)
    {
        var full = Path.GetFullPath(Path.Combine(baseDir, ExpandHome(path)));
        if (!Directory.Exists(full))
            throw new RunFileException(templatePath, $"{field}: '{full}' is not a folder");
        return full;
    }

    /// <summary>A file path as the CLI resolves it (home expanded, relative to <paramref name="baseDir"/>), which must exist
    /// (cli v1.17.1 pkg/runfileconfig/run_file_config_parser.go resolvePathToAbsAndValidate); null when not set.</summary>
    public string? ResolveFile(string baseDir, string? path, string field)
    {
        if (string.IsNullOrEmpty(path)) return null;
        var full = Path.GetFullPath(Path.Combine(baseDir, ExpandHome(path)));
        if (!File.Exists(full) && !Directory.Exists(full))
            throw new RunFileException(templatePath, $"{field}: error in getting the file info for {full}: no such file or directory");
        return full;
    }

    public IReadOnlyList<string> ResolveAll(string baseDir, IEnumerable<string> paths, string field) =>
        paths.Select(p => Resolve(baseDir, p, field)).ToList();
}

// The YAML shape, keyed as the Dapr CLI's struct tags. Other keys are ignored, as the CLI's non-strict unmarshalling
// does; RunFileKeys reports those the CLI does not know either.

internal class SharedSection(YamlFields yaml)
{
    public string? AppProtocol { get; } = yaml.String("appProtocol");
    public bool? AppSsl { get; } = yaml.Bool("appSSL");
    public string? ResourcesPath { get; } = yaml.String("resourcesPath");
    public string? ConfigFilePath { get; } = yaml.String("configFilePath");
    public List<string>? ResourcesPaths { get; } = yaml.Strings("resourcesPaths");
    /// <summary>A key with no value is null, which leaves that variable unset.</summary>
    public Dictionary<string, string>? Env { get; } = yaml.StringMap("env");
    public bool? EnableAppHealthCheck { get; } = yaml.Bool("enableAppHealthCheck");
    public string? AppHealthCheckPath { get; } = yaml.String("appHealthCheckPath");
    public int? AppHealthProbeInterval { get; } = yaml.Int("appHealthProbeInterval");
    public int? AppHealthProbeTimeout { get; } = yaml.Int("appHealthProbeTimeout");
    public int? AppHealthThreshold { get; } = yaml.Int("appHealthThreshold");
    public string? LogLevel { get; } = yaml.String("logLevel");
    public string? AppLogDestination { get; } = yaml.String("appLogDestination");
    public string? DaprdLogDestination { get; } = yaml.String("daprdLogDestination");

    /// <summary>The deprecated single resourcesPath is appended to resourcesPaths, as the CLI does.</summary>
    public IEnumerable<string> AllResourcesPaths() =>
        (ResourcesPaths ?? []).Concat(string.IsNullOrWhiteSpace(ResourcesPath) ? [] : [ResourcesPath]);
}

internal sealed class AppSection(YamlFields yaml) : SharedSection(yaml)
{
    public string? AppId { get; } = yaml.String("appID");
    public string? AppDirPath { get; } = yaml.String("appDirPath");
    public int? AppPort { get; } = yaml.Int("appPort");
    public string? AppChannelAddress { get; } = yaml.String("appChannelAddress");
    public int? DaprHttpPort { get; } = yaml.Int("daprHTTPPort");
    public int? DaprGrpcPort { get; } = yaml.Int("daprGRPCPort");
    public int? MetricsPort { get; } = yaml.Int("metricsPort");
    public List<string>? Command { get; } = yaml.Strings("command");
}

internal sealed class RunFileDocument(YamlFields yaml)
{
    public int? Version { get; } = yaml.Int("version");
    public string? Name { get; } = yaml.String("name");
    public SharedSection? Common { get; } = yaml.Mapping("common") is { } common ? new SharedSection(common) : null;
    public List<AppSection>? Apps { get; } = yaml.Mappings("apps")?.Select(app => new AppSection(app)).ToList();
}
