using DevSidecar.Hosting;
using System.Runtime.InteropServices;
using System.Text.Json;
using DevCli;

namespace DevSidecar.Tests.Runner;

/// <summary>`run -f dapr.yaml` end to end: the DevSidecar command line with two PingApps.</summary>
public sealed class MultiAppRunTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Two_apps_come_up_call_each_other_through_both_sidecars_and_stop_on_SIGINT()
    {
        var template = WriteRunFile(("a", null), ("b", null));
        await using var runner = RunnerProcess.Start(_temp.Combine("registry"), "run", "-f", template);

        var a = await runner.WaitForReadyAsync("a");
        await runner.WaitForReadyAsync("b");
        var pidA = await runner.WaitForPingAppPidAsync("a");
        var pidB = await runner.WaitForPingAppPidAsync("b");

        // caller → a's sidecar → app a → a's sidecar → b's sidecar → app b
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var answer = await http.GetStringAsync($"http://127.0.0.1:{a.DaprHttpPort}/v1.0/invoke/a/method/call/b");
        answer.Should().Be("b");

        // The keys the Dapr CLI writes into each sidecar's metadata, which `dapr list` and `dapr stop` read.
        using var metadata = JsonDocument.Parse(await http.GetStringAsync($"http://127.0.0.1:{a.DaprHttpPort}/v1.0/metadata"));
        var extended = metadata.RootElement.GetProperty("extended");
        extended.GetProperty("appPID").GetString().Should().Be(pidA.ToString());
        extended.GetProperty("cliPID").GetString().Should().Be(runner.Id.ToString());
        extended.GetProperty("runTemplatePath").GetString().Should().Be(template);
        extended.GetProperty("appCommand").GetString().Should().Be($"dotnet {TestPaths.PingAppDll}");

        runner.Signal(PosixSignal.SIGINT);

        (await runner.WaitForExitAsync()).Should().Be(0, runner.Output);
        await AppProcessTests.WaitUntilGoneAsync(pidA);
        await AppProcessTests.WaitUntilGoneAsync(pidB);
        runner.Output.Should().Contain("all apps stopped");
        var logs = _temp.Combine("a", ".dapr", "logs");
        Directory.GetFiles(logs, "a_app_*.log").Should().ContainSingle("app logs go to <appDir>/.dapr/logs by default")
            .Which.Should().Match(file => File.ReadAllText(file).Contains("PingApp 'a' starting"));
        Directory.GetFiles(logs, "a_daprd_*.log").Should().ContainSingle("so do the sidecar's");
    }

    [Fact]
    public async Task A_crashing_app_is_reported_by_name_with_its_last_lines_the_others_run_on_and_the_run_then_fails()
    {
        // Was "a crashing app fails the run": the Dapr CLI v1.17.1 (cmd/run.go executeRun) keeps the other apps of a
        // `run -f` running when one exits, and so does the runner now; the crash still makes the run's exit code 1.
        var template = WriteRunFile(("a", null), ("b", "CRASH_AFTER_START: \"1\""));
        await using var runner = RunnerProcess.Start(_temp.Combine("registry"), "run", "-f", template);
        var a = await runner.WaitForReadyAsync("a");
        var pidA = await runner.WaitForPingAppPidAsync("a");
        await runner.WaitForOutputAsync(new System.Text.RegularExpressions.Regex("app 'b' exited with code 3; last lines:"), "b's crash");

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        (await http.GetStringAsync($"http://127.0.0.1:{a.DaprHttpPort}/v1.0/invoke/a/method/ping")).Should().Be("a", "a runs on");
        runner.Output.Should().Contain("  PingApp 'b' crashing on purpose");

        runner.Signal(PosixSignal.SIGINT);
        (await runner.WaitForExitAsync()).Should().Be(1, runner.Output);
        await AppProcessTests.WaitUntilGoneAsync(pidA);
    }

    [Fact]
    public async Task A_run_file_with_an_error_is_reported_and_fails_the_run()
    {
        var template = _temp.WriteFile("dapr.yaml", "apps:\n  - appDirPath: .\n");
        await using var runner = RunnerProcess.Start(_temp.Combine("registry"), "run", "-f", template);

        (await runner.WaitForExitAsync()).Should().Be(1);

        runner.Output.Should().Contain($"error: {template}: required field 'version' not found");
    }

    [Fact]
    public async Task The_next_app_starts_without_waiting_for_the_previous_one_to_be_ready_as_with_the_Dapr_CLI()
    {
        // Dapr CLI v1.17.1 cmd/run.go executeRun: daprd, then the app at once, then the next app; nothing waits for an app.
        var gate = _temp.Combine("a-may-start");
        var template = WriteRunFile(("a", $"HOLD_START_UNTIL_FILE: \"{gate}\""), ("b", null));
        await using var runner = RunnerProcess.Start(_temp.Combine("registry"), "run", "-f", template);

        await runner.WaitForPingAppPidAsync("b");
        runner.Output.Should().NotContain("app 'a' is ready", "app a is held before its port opens");

        File.WriteAllText(gate, "");
        await runner.WaitForReadyAsync("a");
        await runner.WaitForReadyAsync("b");
        runner.Signal(PosixSignal.SIGTERM);
        (await runner.WaitForExitAsync()).Should().Be(0, runner.Output);
    }

    [Fact]
    public async Task Stopping_kills_each_sidecar_before_its_app_gets_SIGTERM_app_by_app_in_run_file_order()
    {
        // Dapr CLI v1.17.1 cmd/run.go stopDaprdAndAppProcesses: daprd's Process.Kill, then the app's group SIGTERM (5 s,
        // then SIGKILL), one app after the other.
        var template = WriteRunFile(("a", null), ("b", null));
        await using var runner = RunnerProcess.Start(_temp.Combine("registry"), "run", "-f", template);
        await runner.WaitForReadyAsync("a");
        await runner.WaitForReadyAsync("b");

        runner.Signal(PosixSignal.SIGINT);

        (await runner.WaitForExitAsync()).Should().Be(0, runner.Output);
        var output = runner.Output;
        output.Should().Contain("PingApp 'a' stopping; its sidecar is unreachable")
            .And.Contain("PingApp 'b' stopping; its sidecar is unreachable");
        output.IndexOf("PingApp 'a' stopped", StringComparison.Ordinal).Should()
            .BeLessThan(output.IndexOf("PingApp 'b' stopping", StringComparison.Ordinal), "b is stopped only once a has exited");
    }

    [Fact]
    public async Task Relative_paths_in_components_resolve_in_each_apps_folder_as_daprd_started_there()
    {
        // Dapr CLI v1.17.1 cmd/run.go startDaprdAndAppProcesses: daprd's Command.Dir is the app's appDirPath.
        var template = WriteRunFile(("a", null), ("b", null));
        _temp.WriteFile("components/statestore.yaml", """
            apiVersion: dapr.io/v1alpha1
            kind: Component
            metadata:
              name: statestore
            spec:
              type: state.sqlite
              version: v1
              metadata:
                - name: connectionString
                  value: "file:.dapr/cwd-test-state.db"
            """);
        await using var runner = RunnerProcess.Start(_temp.Combine("registry"), "run", "-f", template);
        var a = await runner.WaitForReadyAsync("a");
        var b = await runner.WaitForReadyAsync("b");

        using var http = new HttpClient();
        foreach (var sidecar in new[] { a, b })
            (await http.PostAsync($"http://127.0.0.1:{sidecar.DaprHttpPort}/v1.0/state/statestore",
                new StringContent("""[{"key":"k","value":"v"}]""", System.Text.Encoding.UTF8, "application/json"))).EnsureSuccessStatusCode();

        File.Exists(_temp.Combine("a", ".dapr", "cwd-test-state.db")).Should().BeTrue(runner.Output);
        File.Exists(_temp.Combine("b", ".dapr", "cwd-test-state.db")).Should().BeTrue(runner.Output);
        runner.Signal(PosixSignal.SIGTERM);
        (await runner.WaitForExitAsync()).Should().Be(0, runner.Output);
    }

    [Theory]
    [InlineData("""["dotnet", "run", "--no-build"]""")]
    [InlineData("""["dotnet", "bin/Debug/net10.0/Unbuilt.dll"]""")]
    public async Task An_unbuilt_app_run_without_building_is_reported_with_what_to_do(string command)
    {
        _temp.CreateFolder("unbuilt");
        _temp.WriteFile("unbuilt/Unbuilt.csproj", """<Project Sdk="Microsoft.NET.Sdk"><PropertyGroup><OutputType>Exe</OutputType><TargetFramework>net10.0</TargetFramework></PropertyGroup></Project>""");
        var template = _temp.WriteFile("dapr.yaml", $$"""
            version: 1
            apps:
              - appID: unbuilt
                appDirPath: ./unbuilt
                command: {{command}}
            """);
        await using var runner = RunnerProcess.Start(_temp.Combine("registry"), "run", "-f", template);

        (await runner.WaitForExitAsync()).Should().Be(1, runner.Output);

        runner.Output.Should().Contain("app 'unbuilt' exited with code 1")
            .And.Contain("build first (`dotnet build`");
    }

    /// <summary>A dapr.yaml running one PingApp per app id, each in its own folder, with fixed free app ports.</summary>
    private string WriteRunFile(params (string AppId, string? Env)[] apps)
    {
        _temp.CreateFolder("components");
        var entries = apps.Select(app =>
        {
            _temp.CreateFolder(app.AppId);
            var env = app.Env is null ? "" : $"\n    env:\n      {app.Env}";
            return $"""
                  - appID: {app.AppId}
                    appDirPath: ./{app.AppId}
                    appPort: {FreePorts.Pick()}
                    command: ["dotnet", "{TestPaths.PingAppDll}"]{env}
                """;
        });
        return _temp.WriteFile("dapr.yaml", $"""
            version: 1
            common:
              resourcesPaths: ["./components"]
            apps:
            {string.Join('\n', entries)}
            """);
    }
}
