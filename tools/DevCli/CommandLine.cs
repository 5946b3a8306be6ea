using System.Globalization;

namespace DevCli;

/// <summary>What the command line asks for.</summary>
public abstract record Command;

public sealed record HelpCommand : Command;

/// <summary>`run -f`: the apps of a run file.</summary>
public sealed record RunFileCommand(string Path, RunnerSettings Settings) : Command;

/// <summary>`run --app-id … [-- command]`: one app as `dapr run` starts it, or a sidecar alone when there is no command.</summary>
public sealed record RunAppCommand(AppSpec App, RunnerSettings Settings) : Command;

/// <summary>A command line that cannot be understood; the program prints the message and the usage and exits with 2.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>Parses the dev sidecar's arguments, named after the Dapr CLI's `dapr run` flags.</summary>
public static class CommandLine
{
    public const string Usage = """
        Usage:
          DevCli run -f <dapr.yaml or folder> [--startup-timeout <seconds>]
          DevCli run --app-id <id> [options] [-- <command> [args...]]
          DevCli --help

        `run -f` starts every app of a Dapr multi-app run file, each with its own dev sidecar.
        `run --app-id` starts one app like `dapr run`; without a command it starts a sidecar alone
        (for callers that only publish or invoke). Both run until Ctrl-C or SIGTERM.

        Options of `run --app-id`:
          -a, --app-id <id>                 the app id (required)
          -p, --app-port <port>             the port the app listens on
          -H, --dapr-http-port <port>       the sidecar's HTTP port (default: a free port)
          -G, --dapr-grpc-port <port>       the sidecar's gRPC port (default: a free port)
          -d, --resources-path <folder>     a resources folder; repeatable (default: ~/.dapr/components)
          -c, --config <file>               the Dapr Configuration (spec.tracing) (default: ~/.dapr/config.yaml)
          --app-protocol <protocol>         http, https, grpc, grpcs or h2c (default: http)
          --app-channel-address <address>   where the app listens (default: 127.0.0.1)
          --enable-app-health-check         probe the app's health endpoint
          --app-health-check-path <path>    the health endpoint (default: /healthz)
          --app-health-probe-interval <s>   seconds between probes
          --app-health-probe-timeout <ms>   milliseconds a probe may take
          --app-health-threshold <n>        failed probes before the app counts as unhealthy
          --log-level <level>               debug, info, warn, error or fatal (default: info)
          --startup-timeout <seconds>       how long an app may take to open its port (default: 120)
        """;

    public static Command Parse(IReadOnlyList<string> args)
    {
        if (args.Count == 0 || args[0] is "-h" or "--help" or "help")
            return new HelpCommand();
        if (args[0] != "run")
            throw new UsageException($"unknown command '{args[0]}'");

        var separator = IndexOf(args, "--");
        var options = ParseOptions(args.Skip(1).Take((separator < 0 ? args.Count : separator) - 1).ToList());
        var appCommand = separator < 0 ? [] : args.Skip(separator + 1).ToList();

        if (options.Remove("help", out _))
            return new HelpCommand();
        var settings = new RunnerSettings();
        if (Take(options, "startup-timeout") is { } timeout)
            settings = settings with { StartupTimeout = TimeSpan.FromSeconds(Number(timeout, "startup-timeout")) };

        if (Take(options, "run-file") is { } runFile)
        {
            if (appCommand.Count > 0 || options.Count > 0)
                throw new UsageException($"-f cannot be combined with {(appCommand.Count > 0 ? "a command" : "--" + options.Keys.First())}; put app settings in the run file");
            return new RunFileCommand(runFile, settings);
        }

        var appId = Take(options, "app-id") ?? throw new UsageException("run needs -f <dapr.yaml> or --app-id <id>");
        var resourcesPaths = options.Remove("resources-path", out var paths) ? paths : [];
        var app = new AppSpec
        {
            AppId = appId,
            AppDirPath = Directory.GetCurrentDirectory(),
            Command = appCommand,
            AppPort = Port(Take(options, "app-port"), "app-port"),
            DaprHttpPort = Port(Take(options, "dapr-http-port"), "dapr-http-port"),
            DaprGrpcPort = Port(Take(options, "dapr-grpc-port"), "dapr-grpc-port"),
            AppProtocol = Take(options, "app-protocol") ?? "http",
            AppChannelAddress = Take(options, "app-channel-address") ?? "127.0.0.1",
            ResourcesPaths = resourcesPaths.Count > 0
                ? resourcesPaths.Select(p => Path.GetFullPath(PathResolver.ExpandHome(p))).ToList()
                : Directory.Exists(RunFile.DefaultComponentsPath) ? [RunFile.DefaultComponentsPath] : [],
            // `dapr run` falls back to ~/.dapr/config.yaml (cli v1.17.1 cmd/run.go); see RunFile.DefaultConfigFile.
            ConfigFile = Take(options, "config") is { } config ? Path.GetFullPath(PathResolver.ExpandHome(config)) : RunFile.DefaultConfigFile,
            EnableAppHealthCheck = Take(options, "enable-app-health-check") is not null,
            AppHealthCheckPath = Take(options, "app-health-check-path"),
            AppHealthProbeInterval = Take(options, "app-health-probe-interval") is { } interval
                ? TimeSpan.FromSeconds(Number(interval, "app-health-probe-interval")) : null,
            AppHealthProbeTimeout = Take(options, "app-health-probe-timeout") is { } probeTimeout
                ? TimeSpan.FromMilliseconds(Number(probeTimeout, "app-health-probe-timeout")) : null,
            AppHealthThreshold = Take(options, "app-health-threshold") is { } threshold ? Number(threshold, "app-health-threshold") : null,
            LogLevel = Take(options, "log-level"),
            // `dapr run` prints both the app's and the sidecar's output and writes no log files.
            AppLogDestination = LogDestination.Console,
            DaprdLogDestination = LogDestination.Console,
        };
        if (options.Count > 0)
            throw new UsageException($"--{options.Keys.First()} is not an option of run --app-id");
        if (SidecarLoggerProvider.CheckLevel(app.LogLevel) is { } badLevel)
            throw new UsageException(badLevel);
        return new RunAppCommand(app, settings);
    }

    private static readonly Dictionary<string, string> ShortNames = new(StringComparer.Ordinal)
    {
        ["-f"] = "run-file", ["-a"] = "app-id", ["-p"] = "app-port", ["-H"] = "dapr-http-port",
        ["-G"] = "dapr-grpc-port", ["-d"] = "resources-path", ["-c"] = "config", ["-h"] = "help",
    };

    private static readonly HashSet<string> Switches = ["enable-app-health-check", "help"];

    private static readonly HashSet<string> KnownOptions =
    [
        "run-file", "app-id", "app-port", "dapr-http-port", "dapr-grpc-port", "resources-path", "config", "app-protocol",
        "app-channel-address", "enable-app-health-check", "app-health-check-path", "app-health-probe-interval",
        "app-health-probe-timeout", "app-health-threshold", "log-level", "startup-timeout", "help",
    ];

    /// <summary>Accepts `--name value`, `--name=value` and the short forms; a repeated option collects its values.</summary>
    private static Dictionary<string, List<string>> ParseOptions(List<string> args)
    {
        var options = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            string name;
            string? value = null;
            if (ShortNames.TryGetValue(arg, out var longName))
                name = longName;
            else if (arg.StartsWith("--", StringComparison.Ordinal))
            {
                var equals = arg.IndexOf('=');
                name = equals < 0 ? arg[2..] : arg[2..equals];
                if (equals >= 0) value = arg[(equals + 1)..];
            }
            else
                throw new UsageException($"unexpected argument '{arg}' (put the app's command after --)");

            if (!KnownOptions.Contains(name))
                throw new UsageException($"unknown option '{arg}'");
            if (Switches.Contains(name))
                value ??= "true";
            else if (value is null)
            {
                if (i + 1 >= args.Count)
                    throw new UsageException($"--{name} needs a value");
                value = args[++i];
            }
            if (!options.TryGetValue(name, out var values))
                options[name] = values = [];
            values.Add(value);
        }
        return options;
    }

    private static string? Take(Dictionary<string, List<string>> options, string name)
    {
        if (!options.Remove(name, out var values)) return null;
        if (values.Count > 1) throw new UsageException($"--{name} is given more than once");
        return values[0];
    }

    private static int IndexOf(IReadOnlyList<string> args, string value)
    {
        for (var i = 0; i < args.Count; i++)
            if (args[i] == value) return i;
        return -1;
    }

    private static int Number(string value, string name) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number > 0
            ? number
            : throw new UsageException($"--{name} must be a positive whole number, not '{value}'");

    private static int? Port(string? value, string name) =>
        value is null ? null : Number(value, name) is var port and <= 65535 ? port : throw new UsageException($"--{name} must be a port (1-65535), not '{value}'");
}
