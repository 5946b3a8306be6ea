using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using DevSidecar.Hosting;

namespace DevSidecar.Tests.Runner;

/// <summary>
/// Mistakes the runner reports before any app starts (#15 "loud mistakes"): run-file keys with no effect, resources
/// paths that give nothing, duplicate component names, ports held by another process; and an app's own bind failure.
/// Most runs here have apps without a command (a sidecar alone), which start in a moment.
/// </summary>
public sealed class StartupCheckTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task A_misspelt_run_file_key_is_reported_with_the_nearest_key_and_where_it_is_and_the_run_goes_on_as_with_the_CLI()
    {
        // The Dapr CLI decodes with yaml.v2's non-strict Unmarshal (cli v1.17.1 pkg/runfileconfig/run_file_config_parser.go):
        // the keys below are dropped silently there, so the runner warns and goes on.
        _temp.CreateFolder("a");
        _temp.CreateFolder("components");
        var template = _temp.WriteFile("dapr.yaml", """
            version: 1
            common:
              resourcePaths: ["./components"]
              appPort: 5000
              placementHostAddress: ""
            apps:
              - appID: a
                appDirPath: ./a
                comand: ["dotnet", "a.dll"]
                containerImage: ghcr.io/example/a
            """);
        await using var runner = RunnerProcess.Start(_temp.Combine("registry"), "run", "-f", template);

        await runner.WaitForReadyAsync("a");

        runner.Output.Should()
            .Contain($"warning: {template}: common: unknown key 'resourcePaths' (did you mean 'resourcesPaths'?); the Dapr CLI ignores it too, so it has no effect")
            .And.Contain($"warning: {template}: common: unknown key 'appPort' ('appPort' is read only in an app entry under apps)")
            .And.Contain($"warning: {template}: apps[0] (appID 'a'): unknown key 'comand' (did you mean 'command'?)")
            .And.NotContain("placementHostAddress", "keys the CLI knows stay silent, modelled or not")
            .And.NotContain("containerImage");
        runner.Signal(PosixSignal.SIGTERM);
        (await runner.WaitForExitAsync()).Should().Be(0, runner.Output);
    }

    [Fact]
    public async Task A_resources_path_holding_only_sub_folders_and_a_run_without_any_subscription_are_reported()
    {
        // daprd reads the YAML files directly in a resources path, no sub-folder (dapr v1.17.9
        // pkg/internal/loader/disk/manifest.go loadManifestsFromDirectory): "./components" gives nothing.
        _temp.CreateFolder("a");
        _temp.WriteFile("components/local/pubsub.yaml", """
            apiVersion: dapr.io/v1alpha1
            kind: Component
            metadata:
              name: pubsub
            spec:
              type: pubsub.in-memory
              version: v1
            """);
        _temp.WriteFile("components/choreography/subscriptions.yaml", """
            apiVersion: dapr.io/v2alpha1
            kind: Subscription
            metadata:
              name: a-orders
            spec:
              pubsubname: pubsub
              topic: orders
              routes:
                default: /orders
            """);
        var template = _temp.WriteFile("dapr.yaml", """
            version: 1
            common:
              resourcesPaths: ["./components/local", "./components"]
            apps:
              - appID: a
                appDirPath: ./a
            """);
        await using var runner = RunnerProcess.Start(_temp.Combine("registry"), "run", "-f", template);

        await runner.WaitForReadyAsync("a");

        runner.Output.Should()
            .Contain($"warning: resources path {_temp.Combine("components")} holds no YAML file, so no resource comes from it; "
                     + "daprd does not read sub-folders (choreography, local): name the one you mean")
            .And.Contain("warning: no app of the run gets a Subscription resource");
        runner.Signal(PosixSignal.SIGTERM);
        (await runner.WaitForExitAsync()).Should().Be(0, runner.Output);
    }

    [Fact]
    public async Task A_component_name_defined_in_two_resources_paths_stops_the_run_before_any_app_starts()
    {
        // The CLI runs daprd's disk loader on each app's resources paths before starting it (cli v1.17.1
        // pkg/standalone/run.go validateResourcesPaths), which refuses a duplicate name (dapr v1.17.9 pkg/internal/loader/disk/disk.go).
        _temp.CreateFolder("a");
        foreach (var (folder, type) in new[] { ("local", "pubsub.in-memory"), ("redis", "pubsub.redis") })
            _temp.WriteFile($"components/{folder}/pubsub.yaml", $"""
                apiVersion: dapr.io/v1alpha1
                kind: Component
                metadata:
                  name: pubsub
                spec:
                  type: {type}
                  version: v1
                  metadata:
                    - name: redisHost
                      value: localhost:1
                """);
        var template = _temp.WriteFile("dapr.yaml", """
            version: 1
            common:
              resourcesPaths: ["./components/local", "./components/redis"]
            apps:
              - appID: a
                appDirPath: ./a
            """);
        await using var runner = RunnerProcess.Start(_temp.Combine("registry"), "run", "-f", template);

        (await runner.WaitForExitAsync()).Should().Be(1, runner.Output);

        runner.Output.Should().Contain("app 'a': cannot load resources:").And.Contain("duplicate component name 'pubsub'")
            .And.NotContain("starting app", "nothing starts when a sidecar would refuse its resources");
    }

    [Fact]
    public async Task The_run_files_configFilePath_reaches_the_sidecar_which_refuses_a_Configuration_daprd_refuses()
    {
        _temp.CreateFolder("a");
        var config = _temp.WriteFile("config/config.yaml",
            ComponentYaml.Configuration("    samplingRate: \"1\"\n    otel:\n      endpointAddress: localhost:4317\n      protocol: carrier-pigeon"));
        var template = _temp.WriteFile("dapr.yaml", """
            version: 1
            common:
              configFilePath: ./config/config.yaml
            apps:
              - appID: a
                appDirPath: ./a
            """);
        await using var runner = RunnerProcess.Start(_temp.Combine("registry"), "run", "-f", template);

        (await runner.WaitForExitAsync()).Should().Be(1, runner.Output);

        runner.Output.Should().Contain("app 'a': the sidecar failed to start: invalid protocol carrier-pigeon provided for Otel endpoint", config);
    }

    [Theory]
    [InlineData("appPort", "app port")]
    [InlineData("daprHTTPPort", "Dapr HTTP port")]
    public async Task A_port_held_by_another_process_is_reported_with_its_owner_before_anything_starts(string key, string name)
    {
        // The CLI refuses a Dapr port it cannot listen on (cli v1.17.1 pkg/standalone/run.go validatePort); it does not
        // check the app port, so the sidecar would find this listener, call the app ready, and the app would die on bind.
        using var holder = new TcpListener(IPAddress.Loopback, 0);
        holder.Start();
        var port = ((IPEndPoint)holder.LocalEndpoint).Port;
        _temp.CreateFolder("a");
        _temp.CreateFolder("components");
        var otherPort = key == "appPort" ? "daprHTTPPort" : "appPort";
        var template = _temp.WriteFile("dapr.yaml", $"""
            version: 1
            common:
              resourcesPaths: ["./components"]
            apps:
              - appID: a
                appDirPath: ./a
                {key}: {port}
                {otherPort}: {FreePorts.Pick()}
                command: ["dotnet", "{TestPaths.PingAppDll}"]
            """);
        await using var runner = RunnerProcess.Start(_temp.Combine("registry"), "run", "-f", template);

        (await runner.WaitForExitAsync()).Should().Be(1, runner.Output);

        runner.Output.Should().Contain($"{name} {port} of app 'a' is already in use by another process (pid {Environment.ProcessId}, ")
            .And.NotContain("starting app").And.NotContain("is ready");
    }

    [Fact]
    public async Task An_app_that_dies_on_a_taken_address_says_so_even_when_its_stack_trace_fills_the_last_lines()
    {
        _temp.CreateFolder("a");
        _temp.CreateFolder("components");
        var template = _temp.WriteFile("dapr.yaml", """
            version: 1
            common:
              resourcesPaths: ["./components"]
            apps:
              - appID: a
                appDirPath: ./a
                command: ["sh", "-c", "echo 'Unhandled exception. System.IO.IOException: Failed to bind to address http://127.0.0.1:1: address already in use.'; for i in $(seq 30); do echo \"   at Frame$i()\"; done; exit 134"]
            """);
        await using var runner = RunnerProcess.Start(_temp.Combine("registry"), "run", "-f", template);

        (await runner.WaitForExitAsync()).Should().Be(1, runner.Output);

        runner.Output.Should().Contain("app 'a' exited with code 134; last lines:")
            .And.Contain("app 'a' could not listen: its address is already in use by another process: "
                         + "\"Unhandled exception. System.IO.IOException: Failed to bind to address http://127.0.0.1:1: address already in use.\"");
    }

    [Fact]
    public async Task Instances_of_one_app_id_are_named_in_their_prefixes_and_one_exiting_leaves_the_other_running_as_with_the_CLI()
    {
        // Dapr CLI v1.17.1 cmd/run.go executeRun: after starting the apps it waits for a signal alone; an app's exit is
        // only printed (startAppProcess), the other apps and that app's daprd run on until Ctrl-C.
        _temp.CreateFolder("p");
        _temp.CreateFolder("components");
        var (port1, port2) = (FreePorts.Pick(), FreePorts.Pick());
        var template = _temp.WriteFile("dapr.yaml", $"""
            version: 1
            common:
              resourcesPaths: ["./components"]
              daprdLogDestination: console
            apps:
              - appID: p
                appDirPath: ./p
                appPort: {port1}
                command: ["dotnet", "{TestPaths.PingAppDll}"]
              - appID: p
                appDirPath: ./p
                appPort: {port2}
                command: ["dotnet", "{TestPaths.PingAppDll}"]
            """);
        await using var runner = RunnerProcess.Start(_temp.Combine("registry"), "run", "-f", template);
        await runner.WaitForReadyAsync("p", instance: 1);
        await runner.WaitForReadyAsync("p", instance: 2);
        var pid1 = await PidOf(runner, "p-1");
        var pid2 = await PidOf(runner, "p-2");

        // As docs/patterns.md's graceful-shutdown demo does to patterns-1.
        using (var kill = Process.Start("kill", ["-TERM", pid2.ToString()])) await kill.WaitForExitAsync();
        await runner.WaitForOutputAsync(new Regex($@"app 'p' \(instance 2 of 2, port {port2}\) exited with code 0"), "instance 2's exit");

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        (await http.GetStringAsync($"http://127.0.0.1:{port1}/ping")).Should().Be("p", "instance 1 keeps running");
        runner.Output.Should().Contain("== DAPR - p-1 == ").And.Contain("== DAPR - p-2 == ").And.NotContain("== APP - p ==");
        runner.Signal(PosixSignal.SIGINT);
        (await runner.WaitForExitAsync()).Should().Be(0, "instance 2 stopped cleanly after it was ready; " + runner.Output);
        await AppProcessTests.WaitUntilGoneAsync(pid1);
    }

    private static async Task<int> PidOf(RunnerProcess runner, string instance) =>
        int.Parse((await runner.WaitForOutputAsync(new Regex($@"== APP - {instance} == PingApp 'p' starting, pid (\d+)"), $"{instance}'s pid")).Groups[1].Value);
}
