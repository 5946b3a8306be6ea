using System.Diagnostics;
using DevSidecar.Hosting;
using DevSidecar.Resources;
using DevSidecar.Tests.Runner;

namespace DevSidecar.Tests.Brokers;

/// <summary>
/// A broker that does not answer at start-up stops the sidecar at once, as it stops daprd: contrib's Init connects
/// without retrying (components-contrib v1.17.6 pubsub/redis and state/redis PING, pubsub/jetstream nats.Connect,
/// pubsub/rabbitmq a single dial), and daprd ends on a component init error unless spec.ignoreErrors (dapr v1.17.9
/// pkg/runtime/processor/components.go). The components point at a port nothing listens on; no broker runs.
/// </summary>
public sealed class UnreachableBrokerTests : IDisposable
{
    /// <summary>The bound: the error is on the console within 5 s of the sidecar's start (daprd's own init timeout).</summary>
    private static readonly TimeSpan Reported = TimeSpan.FromSeconds(5);

    private readonly TempFolder _folder = new("devsidecar-unreachable-");
    private readonly CapturedLogs _logs = new();

    public void Dispose()
    {
        _logs.Dispose();
        _folder.Dispose();
    }

    public static TheoryData<string, string, string, string> Brokers => new()
    {
        // type, metadata key, address format ({0} = port), expected error and hint ({0} = port)
        { "pubsub.redis", "redisHost", "localhost:{0}",
            "redis streams: error connecting to redis at localhost:{0}: dial tcp localhost:{0}: connect: connection refused — is Redis running at localhost:{0}? Start it with `redis-server --port {0}`" },
        { "state.redis", "redisHost", "localhost:{0}",
            "redis store: error connecting to redis at localhost:{0}: dial tcp localhost:{0}: connect: connection refused — is Redis running at localhost:{0}? Start it with `redis-server --port {0}`" },
        { "pubsub.jetstream", "natsURL", "nats://localhost:{0}",
            "nats: no servers available for connection — is NATS running at nats://localhost:{0}? Start it with `nats-server -js -p {0}`" },
        { "pubsub.rabbitmq", "connectionString", "amqp://localhost:{0}",
            "dial tcp localhost:{0}: connect: connection refused — is RabbitMQ running at localhost:{0}? Start it with `RABBITMQ_NODE_PORT={0} rabbitmq-server`" },
    };

    [Theory]
    [MemberData(nameof(Brokers))]
    public async Task The_sidecar_fails_to_start_within_5_s_with_daprds_error_naming_the_component_the_address_and_what_to_start(
        string type, string key, string address, string expected)
    {
        var port = FreePorts.PickOutsideEphemeralRange();
        _folder.WriteFile("component.yaml", ComponentYaml.Of("broker", type, (key, string.Format(address, port))));
        var options = new SidecarOptions { AppId = "unreachable", ResourcesPaths = [_folder.Path], RegistryDirectory = _folder.Combine("registry") };

        var clock = Stopwatch.StartNew();
        var start = async () => await (await Sidecar.StartAsync(options, _logs.Factory)).DisposeAsync();
        var failure = (await start.Should().ThrowAsync<ComponentInitException>()).Which;
        clock.Elapsed.Should().BeLessThan(Reported, "contrib's Init does not retry, and daprd gives up at once");

        failure.Message.Should().Be(
            $"process component broker error: [INIT_COMPONENT_FAILURE]: initialization error occurred for broker ({type}/v1): {string.Format(expected, port)}");
        failure.Message.Should().NotContain("\n", "it is one console line");
    }

    [Fact]
    public async Task With_ignoreErrors_the_component_is_left_out_and_the_sidecar_starts()
    {
        var port = FreePorts.PickOutsideEphemeralRange();
        _folder.WriteFile("component.yaml", ComponentYaml.Of("broker", "pubsub.jetstream", ("natsURL", $"nats://localhost:{port}"))
            .Replace("  version: v1", "  version: v1\n  ignoreErrors: true"));
        var options = new SidecarOptions { AppId = "unreachable", ResourcesPaths = [_folder.Path], RegistryDirectory = _folder.Combine("registry") };

        await using var sidecar = await Sidecar.StartAsync(options, _logs.Factory);

        _logs.Any(Microsoft.Extensions.Logging.LogLevel.Error,
            "Ignoring error processing component: process component broker error: [INIT_COMPONENT_FAILURE]").Should().BeTrue();
        using var http = SidecarClients.Http(sidecar);
        using var publish = await http.PostAsync("/v1.0/publish/broker/t", SidecarClients.Json("{}"));
        publish.StatusCode.Should().Be(System.Net.HttpStatusCode.BadRequest, "the component is not loaded: ERR_PUBSUB_NOT_CONFIGURED");
    }

    [Fact]
    public async Task The_runner_prints_one_line_naming_app_component_address_and_command_within_5_s_and_ends_with_exit_1()
    {
        // The reported case: components/jetstream with no nats-server, the first app of two.
        var port = FreePorts.PickOutsideEphemeralRange();
        var components = _folder.CreateFolder("components");
        File.WriteAllText(Path.Combine(components, "pubsub.yaml"),
            File.ReadAllText(Path.Combine(Repo.Components("jetstream"), "pubsub.yaml")).Replace("nats://localhost:4222", $"nats://localhost:{port}"));
        _folder.CreateFolder("a");
        _folder.CreateFolder("b");
        var runFile = _folder.WriteFile("dapr.yaml", $"""
            version: 1
            common:
              resourcesPaths: ["./components"]
            apps:
              - appID: a
                appDirPath: ./a
                appPort: {FreePorts.Pick()}
                command: ["dotnet", "{TestPaths.PingAppDll}"]
              - appID: b
                appDirPath: ./b
                appPort: {FreePorts.Pick()}
                command: ["dotnet", "{TestPaths.PingAppDll}"]
            """);
        await using var runner = RunnerProcess.Start(_folder.Combine("registry"), "run", "-f", runFile);

        const string failed = "app 'a': the sidecar failed to start: ";
        var starting = Stopwatch.StartNew();
        await Wait.UntilAsync(() => runner.Output.Contains("== RUN == starting app 'a'"), "the runner to start app a", RunnerProcess.StartupDeadline);
        starting.Restart();
        await Wait.UntilAsync(() => runner.Output.Contains(failed), "the failure line", Reported);
        starting.Elapsed.Should().BeLessThan(Reported);

        (await runner.WaitForExitAsync()).Should().Be(1, runner.Output);
        var line = runner.Output.Split('\n').Single(l => l.Contains(failed));
        line.Should().Contain("process component pubsub error: [INIT_COMPONENT_FAILURE]: initialization error occurred for pubsub (pubsub.jetstream/v1): nats: no servers available for connection")
            .And.Contain($"is NATS running at nats://localhost:{port}? Start it with `nats-server -js -p {port}`");
        runner.Output.Should().NotContain("starting app 'b'", "the run ends at the first sidecar that cannot start");
    }
}
