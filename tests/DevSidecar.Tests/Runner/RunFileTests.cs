using DevCli;

namespace DevSidecar.Tests.Runner;

public sealed class RunFileTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void Resolves_app_paths_against_the_template_and_defaults_the_app_id_to_the_folder_name()
    {
        _temp.CreateFolder("services", "orders");
        var template = _temp.WriteFile("dapr.yaml", """
            version: 1
            apps:
              - appDirPath: ./services/orders
                appPort: 5001
                command: ["dotnet", "run"]
            """);

        var app = RunFile.Load(template).Apps.Should().ContainSingle().Subject;

        app.AppId.Should().Be("orders");
        app.AppDirPath.Should().Be(_temp.Combine("services", "orders"));
        app.Command.Should().Equal("dotnet", "run");
        app.AppPort.Should().Be(5001);
        app.DaprHttpPort.Should().BeNull("unset ports are picked at run time");
        app.AppProtocol.Should().Be("http");
        app.AppLogDestination.Should().Be(LogDestination.FileAndConsole);
        app.DaprdLogDestination.Should().Be(LogDestination.File);
    }

    [Fact]
    public void Entries_sharing_an_app_id_are_instances_of_that_app_with_their_own_log_names()
    {
        _temp.CreateFolder("patterns");
        _temp.CreateFolder("orders");
        var template = _temp.WriteFile("dapr.yaml", """
            version: 1
            apps:
              - appID: patterns
                appDirPath: patterns
                appPort: 5110
              - appDirPath: orders
              - appID: patterns
                appDirPath: patterns
                appPort: 5111
            """);

        var apps = RunFile.Load(template).Apps;

        apps.Select(a => (a.AppId, a.InstanceName, a.AppPort)).Should().Equal(
            ("patterns", "patterns-1", 5110), ("orders", "orders", null), ("patterns", "patterns-2", 5111));
    }

    [Fact]
    public void A_folder_means_the_dapr_yaml_inside_it()
    {
        _temp.CreateFolder("a");
        _temp.WriteFile("dapr.yaml", "version: 1\napps:\n  - appDirPath: a\n");

        var runFile = RunFile.Load(_temp.Path);

        runFile.TemplatePath.Should().Be(_temp.Combine("dapr.yaml"));
        runFile.Apps.Single().AppId.Should().Be("a");
    }

    [Fact]
    public void Common_paths_are_relative_to_the_template_and_app_paths_to_the_app_folder()
    {
        var commonResources = _temp.CreateFolder("components");
        var appResources = _temp.CreateFolder("b", "my-components");
        _temp.CreateFolder("a");
        var template = _temp.WriteFile("dapr.yaml", """
            version: 1
            common:
              resourcesPaths: ["./components"]
            apps:
              - appDirPath: a
              - appDirPath: b
                resourcesPaths: ["my-components"]
            """);

        var apps = RunFile.Load(template).Apps;

        apps[0].ResourcesPaths.Should().Equal(commonResources);
        apps[1].ResourcesPaths.Should().Equal([appResources], "the app's own resourcesPaths win over common ones");
    }

    [Fact]
    public void The_app_local_dot_dapr_resources_folder_comes_before_common_resources()
    {
        _temp.CreateFolder("components");
        var local = _temp.CreateFolder("a", ".dapr", "resources");
        var template = _temp.WriteFile("dapr.yaml", """
            version: 1
            common:
              resourcesPath: components
            apps:
              - appDirPath: a
            """);

        RunFile.Load(template).Apps.Single().ResourcesPaths.Should().Equal(local);
    }

    [Fact]
    public void App_values_win_over_common_ones_and_env_maps_are_merged()
    {
        _temp.CreateFolder("a");
        var template = _temp.WriteFile("dapr.yaml", """
            version: 1
            common:
              appProtocol: grpc
              logLevel: debug
              appHealthProbeInterval: 3
              appLogDestination: console
              env:
                SHARED: common
                OVERRIDDEN: common
            apps:
              - appID: alpha
                appDirPath: a
                appProtocol: http
                appSSL: true
                daprHTTPPort: 3600
                daprGRPCPort: 50011
                appHealthProbeTimeout: 800
                env:
                  OVERRIDDEN: app
                  NUMBER: 42
            """);

        var app = RunFile.Load(template).Apps.Single();

        app.AppId.Should().Be("alpha");
        app.AppProtocol.Should().Be("https", "appSSL upgrades the app's own http");
        app.LogLevel.Should().Be("debug");
        app.DaprHttpPort.Should().Be(3600);
        app.DaprGrpcPort.Should().Be(50011);
        app.AppHealthProbeInterval.Should().Be(TimeSpan.FromSeconds(3));
        app.AppHealthProbeTimeout.Should().Be(TimeSpan.FromMilliseconds(800));
        app.AppLogDestination.Should().Be(LogDestination.Console);
        app.Env.Should().BeEquivalentTo(new Dictionary<string, string>
        {
            ["SHARED"] = "common", ["OVERRIDDEN"] = "app", ["NUMBER"] = "42",
        });
    }

    [Fact]
    public void Tilde_means_the_home_folder()
    {
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        var template = _temp.WriteFile("dapr.yaml", "version: 1\napps:\n  - appDirPath: ~/\n    appID: home\n");

        RunFile.Load(template).Apps.Single().AppDirPath.TrimEnd('/').Should().Be(home.TrimEnd('/'));
    }

    [Theory]
    [InlineData("apps:\n  - appDirPath: a\n", "required field 'version' not found")]
    [InlineData("version: 1\napps:\n  - appPort: 5000\n", "required field 'appDirPath' not found in apps[0]")]
    [InlineData("version: 1\napps:\n  - appDirPath: missing\n", "apps[0].appDirPath: '")]
    [InlineData("version: 1\ncommon:\n  resourcesPaths: [nowhere]\napps:\n  - appDirPath: a\n", "common.resourcesPaths: '")]
    [InlineData("version: 1\n", "no apps")]
    [InlineData("version: 1\napps:\n  - appDirPath: a\n    appPort: 5000\n  - appDirPath: a\n    daprHTTPPort: 5000\n", "port 5000 is used by more than one app")]
    [InlineData("version: 1\napps:\n  - appDirPath: a\n    appLogDestination: printer\n", "log destination 'printer'")]
    [InlineData("version: 1\napps:\n  - appDirPath: a\n    appProtocol: smtp\n", "appProtocol 'smtp'")]
    [InlineData("version: 1\ncommon:\n  logLevel: loud\napps:\n  - appDirPath: a\n", "app 'a': log level 'loud' is not one of debug, info, warn, error, fatal")]
    [InlineData("version: 1\napps: [\n", "line")]
    public void Bad_run_files_are_rejected_with_the_file_and_the_problem(string yaml, string problem)
    {
        _temp.CreateFolder("a");
        var template = _temp.WriteFile("dapr.yaml", yaml);

        var load = () => RunFile.Load(template);

        load.Should().Throw<RunFileException>()
            .Which.Message.Should().StartWith(template).And.Contain(problem);
    }

    [Theory]
    [InlineData("version: 1\napp:\n  - appDirPath: a\napps:\n  - appDirPath: a\n", "top level: unknown key 'app' (did you mean 'apps'?)")]
    [InlineData("version: 1\napps:\n  - appDirPath: a\n    appId: x\n", "apps[0]: unknown key 'appId' (did you mean 'appID'?)")]
    [InlineData("version: 1\napps:\n  - appDirPath: a\n    appID: x\n    appPorts: 5000\n", "apps[0] (appID 'x'): unknown key 'appPorts' (did you mean 'appPort'?)")]
    [InlineData("version: 1\napps:\n  - appDirPath: a\n    zzz: 1\n", "apps[0]: unknown key 'zzz' (known keys: configFilePath, ")]
    public void A_key_the_Dapr_CLI_would_drop_is_a_warning_naming_the_nearest_known_key(string yaml, string warning)
    {
        _temp.CreateFolder("a");
        var template = _temp.WriteFile("dapr.yaml", yaml);

        RunFile.Load(template).Warnings.Should().ContainSingle().Which.Should().StartWith(warning);
    }

    [Fact]
    public void A_missing_run_file_is_reported()
    {
        var load = () => RunFile.Load(_temp.Combine("nope.yaml"));

        var error = load.Should().Throw<RunFileException>().Which;
        error.File.Should().Be(_temp.Combine("nope.yaml"));
        error.Problem.Should().Be("run file not found");
    }

    [Fact]
    public void The_app_environment_is_the_one_the_Dapr_CLI_gives_with_the_run_file_env_last()
    {
        var app = new AppSpec
        {
            AppId = "orders",
            AppDirPath = _temp.Path,
            AppProtocol = "grpc",
            Env = new Dictionary<string, string> { ["GREETING"] = "hi", ["DAPR_HTTP_PORT"] = "1" },
        };

        var env = AppEnvironment.For(app, appPort: 5001, daprHttpPort: 3500, daprGrpcPort: 50001, metricsPort: 9090);

        env.Should().BeEquivalentTo(new Dictionary<string, string>
        {
            ["APP_ID"] = "orders",
            ["APP_PORT"] = "5001",
            ["APP_CHANNEL_ADDRESS"] = "", // unset in the run file: the CLI passes the empty field (cli v1.17.1 pkg/standalone/run.go getEnv)
            ["APP_PROTOCOL"] = "grpc",
            ["DAPR_HTTP_PORT"] = "1",
            ["DAPR_GRPC_PORT"] = "50001",
            ["DAPR_METRICS_PORT"] = "9090",
            ["GREETING"] = "hi",
        });
    }

    [Fact]
    public void An_app_without_a_port_gets_no_APP_PORT()
    {
        var env = AppEnvironment.For(new AppSpec { AppId = "worker", AppDirPath = _temp.Path }, null, 3500, 50001, 9090);

        env.Should().NotContainKey("APP_PORT");
    }

    [Fact]
    public void The_config_file_is_the_apps_then_its_dot_dapr_one_then_the_common_one_and_a_missing_one_is_refused()
    {
        // cli v1.17.1 pkg/runfileconfig/run_file_config_parser.go resolveConfigFilePath and resolvePathToAbsAndValidate.
        foreach (var app in new[] { "own", "local", "common" }) _temp.CreateFolder(app);
        var own = _temp.WriteFile("own/tracing.yaml", "kind: Configuration");
        var local = _temp.WriteFile("local/.dapr/config.yaml", "kind: Configuration");
        var common = _temp.WriteFile("config/config.yaml", "kind: Configuration");
        var template = _temp.WriteFile("dapr.yaml", """
            version: 1
            common:
              configFilePath: ./config/config.yaml
            apps:
              - appDirPath: own
                configFilePath: tracing.yaml
              - appDirPath: local
              - appDirPath: common
            """);

        RunFile.Load(template).Apps.Select(a => (a.AppId, a.ConfigFile)).Should().Equal(("own", own), ("local", local), ("common", common));

        var missing = _temp.WriteFile("missing.yaml", """
            version: 1
            common:
              configFilePath: ./nowhere.yaml
            apps:
              - appDirPath: own
            """);
        var load = () => RunFile.Load(missing);
        load.Should().Throw<RunFileException>().WithMessage($"*common.configFilePath: error in getting the file info for {_temp.Combine("nowhere.yaml")}*");
    }
}
