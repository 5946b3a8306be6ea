using System.Runtime.InteropServices;
using DevSidecar.Runner;

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
    public async Task Bad_arguments_exit_with_2_and_say_what_is_wrong()
    {
        await using var runner = RunnerProcess.Start(_temp.Combine("registry"), "run", "--app-id", "x", "--app-port", "eighty");

        (await runner.WaitForExitAsync()).Should().Be(2);

        runner.Output.Should().Contain("error: --app-port must be a positive whole number, not 'eighty'").And.Contain("Usage:");
    }
}
