using DevCli;

namespace DevSidecar.Tests.Runner;

public sealed class CommandLineTests
{
    [Fact]
    public void Run_f_names_the_run_file()
    {
        var command = CommandLine.Parse(["run", "-f", "dapr.yaml", "--startup-timeout", "30"]);

        var run = command.Should().BeOfType<RunFileCommand>().Subject;
        run.Path.Should().Be("dapr.yaml");
        run.Settings.StartupTimeout.Should().Be(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public void Run_app_id_takes_dapr_run_flags_and_the_command_after_the_separator()
    {
        var command = CommandLine.Parse([
            "run", "--app-id", "orders", "--app-port=5001", "-H", "3500", "--dapr-grpc-port", "50001",
            "--resources-path", "./components", "-d", "/etc/more", "--enable-app-health-check",
            "--", "dotnet", "run", "--", "--urls", "x",
        ]);

        var app = command.Should().BeOfType<RunAppCommand>().Subject.App;
        app.AppId.Should().Be("orders");
        app.AppPort.Should().Be(5001);
        app.DaprHttpPort.Should().Be(3500);
        app.DaprGrpcPort.Should().Be(50001);
        app.ResourcesPaths.Should().Equal(Path.GetFullPath("./components"), "/etc/more");
        app.EnableAppHealthCheck.Should().BeTrue();
        app.Command.Should().Equal("dotnet", "run", "--", "--urls", "x");
        app.AppDirPath.Should().Be(Directory.GetCurrentDirectory());
        app.AppLogDestination.Should().Be(LogDestination.Console);
    }

    [Fact]
    public void Run_app_id_without_a_command_is_a_sidecar_alone()
    {
        var app = CommandLine.Parse(["run", "-a", "publisher"]).Should().BeOfType<RunAppCommand>().Subject.App;

        app.Command.Should().BeEmpty();
        app.AppPort.Should().BeNull();
    }

    [Theory]
    [InlineData("--help")]
    [InlineData("-h")]
    [InlineData("run --help")]
    public void Help_is_available(string args) =>
        CommandLine.Parse(args.Split(' ')).Should().BeOfType<HelpCommand>();

    [Theory]
    [InlineData("start", "unknown command 'start'")]
    [InlineData("run", "run needs -f <dapr.yaml> or --app-id <id>")]
    [InlineData("run --app-id", "--app-id needs a value")]
    [InlineData("run --app-id a --app-port eighty", "--app-port must be a positive whole number, not 'eighty'")]
    [InlineData("run --app-id a --app-port 70000", "--app-port must be a port (1-65535), not '70000'")]
    [InlineData("run --app-id a --colour red", "unknown option '--colour'")]
    [InlineData("run --app-id a dotnet run", "unexpected argument 'dotnet' (put the app's command after --)")]
    [InlineData("run -f dapr.yaml --app-port 5000", "-f cannot be combined with --app-port; put app settings in the run file")]
    [InlineData("run -a a -a b", "--app-id is given more than once")]
    [InlineData("run -a a --log-level loud", "log level 'loud' is not one of debug, info, warn, error, fatal")]
    public void Bad_arguments_say_what_is_wrong(string args, string message)
    {
        var parse = () => CommandLine.Parse(args.Split(' '));

        parse.Should().Throw<UsageException>().WithMessage(message);
    }
}
