using DevSidecar.Hosting;
using System.Net;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using DevCli;

namespace DevSidecar.Tests.Runner;

/// <summary>`run --app-id … -- command` (one app, like `dapr run`) and `run --app-id …` (a sidecar alone).</summary>
public sealed class SingleAppRunTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task A_sidecar_alone_calls_an_app_run_by_another_runner_and_both_stop_on_SIGTERM()
    {
        var registry = _temp.Combine("registry");
        var components = _temp.CreateFolder("components");
        await using var appRunner = RunnerProcess.Start(registry,
            "run", "--app-id", "solo", "--app-port", FreePorts.Pick().ToString(), "--resources-path", components,
            "--", "dotnet", TestPaths.PingAppDll);
        await using var sidecarAlone = RunnerProcess.Start(registry, "run", "--app-id", "caller", "--resources-path", components);

        await appRunner.WaitForReadyAsync("solo");
        var caller = await sidecarAlone.WaitForReadyAsync("caller");
        sidecarAlone.Output.Should().Contain("app 'caller' is ready: no app port");

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var answer = await http.GetStringAsync($"http://127.0.0.1:{caller.DaprHttpPort}/v1.0/invoke/solo/method/ping");
        answer.Should().Be("solo");

        var pid = await appRunner.WaitForPingAppPidAsync("solo");
        appRunner.Signal(PosixSignal.SIGTERM);
        sidecarAlone.Signal(PosixSignal.SIGTERM);

        (await appRunner.WaitForExitAsync()).Should().Be(0, appRunner.Output);
        (await sidecarAlone.WaitForExitAsync()).Should().Be(0, sidecarAlone.Output);
        await AppProcessTests.WaitUntilGoneAsync(pid);
    }

    [Fact]
    public async Task An_app_that_never_opens_its_port_fails_the_run_after_the_startup_timeout()
    {
        var appPort = FreePorts.Pick();
        await using var runner = RunnerProcess.Start(_temp.Combine("registry"),
            "run", "--app-id", "slow", "--app-port", appPort.ToString(), "--startup-timeout", "1",
            "--resources-path", _temp.CreateFolder("components"),
            "--", "sh", "-c", "echo pid $$ never listening; exec sleep 600");

        (await runner.WaitForExitAsync()).Should().Be(1, runner.Output);

        runner.Output.Should().Contain($"app 'slow' was not ready within 1 s (nothing accepted connections on app port {appPort}); last lines:");
        var pid = int.Parse(Regex.Match(runner.Output, @"  pid (\d+) never listening").Groups[1].Value);
        await AppProcessTests.WaitUntilGoneAsync(pid);
    }

    [Fact]
    public async Task A_bad_resource_file_is_reported_with_the_file_and_the_problem()
    {
        var file = _temp.WriteFile("components/broken.yaml", "apiVersion: dapr.io/v1alpha1\nmetadata:\n  name: broken\n");
        await using var runner = RunnerProcess.Start(_temp.Combine("registry"), "run", "--app-id", "x", "--resources-path", _temp.Combine("components"));

        (await runner.WaitForExitAsync()).Should().Be(1, runner.Output);

        runner.Output.Should().Contain($"app 'x': cannot load resources: {file}: resource 'broken' has no kind");
    }

    [Theory]
    [InlineData(false, 0)]
    [InlineData(true, 1)]
    public async Task The_shutdown_API_of_a_sidecar_ends_the_run(bool forced, int exitCode)
    {
        await using var runner = RunnerProcess.Start(_temp.Combine("registry"),
            "run", "--app-id", "x", "--resources-path", _temp.CreateFolder("components"));
        var sidecar = await runner.WaitForReadyAsync("x");

        using var http = new HttpClient();
        using var shutdown = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{sidecar.DaprHttpPort}/v1.0/shutdown");
        if (forced) shutdown.Headers.Add("dapr-force-shutdown", "true");
        (await http.SendAsync(shutdown)).StatusCode.Should().Be(HttpStatusCode.NoContent);

        (await runner.WaitForExitAsync()).Should().Be(exitCode, runner.Output);
        runner.Output.Should().Contain("the sidecar of app 'x' was asked to shut down");
    }

    [Fact]
    public async Task Bad_arguments_exit_with_2_and_say_what_is_wrong()
    {
        await using var runner = RunnerProcess.Start(_temp.Combine("registry"), "run", "--app-id", "x", "--app-port", "eighty");

        (await runner.WaitForExitAsync()).Should().Be(2);

        runner.Output.Should().Contain("error: --app-port must be a positive whole number, not 'eighty'").And.Contain("Usage:");
    }
}
