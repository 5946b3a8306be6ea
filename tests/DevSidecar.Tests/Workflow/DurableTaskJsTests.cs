using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using DevSidecar.Hosting;
using Microsoft.Extensions.Logging.Abstractions;

namespace DevSidecar.Tests.Workflow;

/// <summary>
/// The workflow engine driven by an official SDK we did not write: @dapr/durabletask-js, the JavaScript Durable Task
/// client and worker that Dapr publishes, runs a workflow against the dev sidecar's TaskHubSidecarService.
/// </summary>
public sealed class DurableTaskJsTests : IAsyncLifetime
{
    private readonly string _registry = Directory.CreateTempSubdirectory("durabletask-js-").FullName;
    private Sidecar _sidecar = null!;

    public async Task InitializeAsync() =>
        _sidecar = await Sidecar.StartAsync(new SidecarOptions { AppId = "js-workflows", RegistryDirectory = _registry }, NullLoggerFactory.Instance);

    public async Task DisposeAsync()
    {
        await _sidecar.StopAsync();
        Directory.Delete(_registry, recursive: true);
    }

    [Fact]
    public async Task The_official_javascript_sdk_schedules_and_runs_a_workflow()
    {
        var instanceId = $"js-{Guid.NewGuid():N}";
        var (exitCode, output, errors) = await RunNodeAsync("durabletask-js-client.cjs", instanceId);

        exitCode.Should().Be(0, errors);
        // The SDK logs to stdout too; the script marks its own line.
        var resultLine = output.Split('\n').SingleOrDefault(l => l.StartsWith("RESULT ", StringComparison.Ordinal));
        resultLine.Should().NotBeNull(output);
        var result = JsonDocument.Parse(resultLine!["RESULT ".Length..]).RootElement;
        result.GetProperty("instanceId").GetString().Should().Be(instanceId);
        result.GetProperty("status").GetInt32().Should().Be(1, "1 is ORCHESTRATION_STATUS_COMPLETED");
        result.GetProperty("output").GetProperty("greetings").EnumerateArray().Select(g => g.GetString())
            .Should().Equal("Hello Tokyo!", "Hello Lima!");
        result.GetProperty("output").GetProperty("approvedBy").GetString().Should().Be("ops");

        // The same instance as curl sees it through the HTTP workflow API.
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{_sidecar.HttpPort}/") };
        var state = await http.GetFromJsonAsync<JsonElement>($"v1.0/workflows/dapr/{instanceId}");
        state.GetProperty("runtimeStatus").GetString().Should().Be("COMPLETED");
        state.GetProperty("workflowName").GetString().Should().Be("greetThenWaitForApproval");
        state.GetProperty("properties").GetProperty("dapr.workflow.output").GetString().Should().Contain("Hello Tokyo!");
    }

    private async Task<(int ExitCode, string Output, string Errors)> RunNodeAsync(string script, string instanceId)
    {
        var start = new ProcessStartInfo("node", Path.Combine(AppContext.BaseDirectory, "Workflow", script))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            Environment =
            {
                ["DAPR_GRPC_PORT"] = _sidecar.GrpcPort.ToString(),
                ["NODE_PATH"] = RepoPath("tools", "Workflow.Protos", "node_modules"),
                ["INSTANCE_ID"] = instanceId,
            },
        };
        using var node = Process.Start(start)!;
        var stdout = node.StandardOutput.ReadToEndAsync();
        var stderr = node.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        try
        {
            await node.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            node.Kill(entireProcessTree: true);
            throw new TimeoutException($"node did not finish: {await stdout}{await stderr}");
        }
        return (node.ExitCode, await stdout, await stderr);
    }

    private static string RepoPath(params string[] parts)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Dapr.sln"))) dir = dir.Parent;
        return Path.Combine([dir!.FullName, .. parts]);
    }
}
