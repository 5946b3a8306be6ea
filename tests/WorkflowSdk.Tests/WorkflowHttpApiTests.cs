using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using DevSidecar.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace WorkflowSdk.Tests;

/// <summary>Waits for an approval, so a test can watch it run, pause and resume it, then let it finish.</summary>
public sealed class ApprovalWorkflow : Workflow<string, string>
{
    public override async Task<string> RunAsync(WorkflowContext context, string requester)
    {
        var approver = await context.WaitForExternalEventAsync<string>("approval");
        return $"approved by {approver} for {requester}";
    }
}

/// <summary>
/// Dapr's workflow management API over HTTP (contract §1.7) on the dev sidecar, with a worker of this library
/// connected: the calls a user makes with curl, their status codes and bodies.
/// </summary>
public sealed class WorkflowHttpApiTests : IAsyncLifetime
{
    private readonly string _registry = Directory.CreateTempSubdirectory("workflow-http-").FullName;
    private Sidecar _sidecar = null!;
    private IHost _worker = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        _sidecar = await Sidecar.StartAsync(new SidecarOptions { AppId = "approvals", InMemoryScope = Guid.NewGuid().ToString("N"), RegistryDirectory = _registry },
            NullLoggerFactory.Instance);
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Configuration["DAPR_GRPC_PORT"] = _sidecar.GrpcPort.ToString();
        builder.Services.AddDaprWorkflow(o => o.RegisterWorkflow<ApprovalWorkflow>());
        _worker = builder.Build();
        await _worker.StartAsync();
        _http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{_sidecar.HttpPort}/v1.0/workflows/dapr/") };
    }

    public async Task DisposeAsync()
    {
        await _worker.StopAsync();
        _worker.Dispose();
        await _sidecar.StopAsync();
        Directory.Delete(_registry, recursive: true);
    }

    [Fact]
    public async Task A_workflow_is_started_watched_paused_resumed_finished_and_purged_over_http()
    {
        var start = await _http.PostAsync("ApprovalWorkflow/start?instanceID=approval-1", Json("\"alice\""));
        start.StatusCode.Should().Be(HttpStatusCode.Accepted);
        (await start.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("instanceID").GetString().Should().Be("approval-1");

        var running = await StateAsync("approval-1");
        running.GetProperty("runtimeStatus").GetString().Should().Be("RUNNING");
        running.GetProperty("workflowName").GetString().Should().Be("ApprovalWorkflow");
        running.GetProperty("properties").GetProperty("dapr.workflow.input").GetString().Should().Be("\"alice\"");

        await AcceptedAsync("approval-1/pause");
        (await StateAsync("approval-1")).GetProperty("runtimeStatus").GetString().Should().Be("SUSPENDED");
        await AcceptedAsync("approval-1/resume");
        (await StateAsync("approval-1")).GetProperty("runtimeStatus").GetString().Should().Be("RUNNING");

        await AcceptedAsync("approval-1/raiseEvent/approval", "\"ops\"");
        var completed = await WaitForStatusAsync("approval-1", "COMPLETED");
        completed.GetProperty("properties").GetProperty("dapr.workflow.output").GetString().Should().Be("\"approved by ops for alice\"");

        await AcceptedAsync("approval-1/purge");
        await ErrorAsync(_http.GetAsync("approval-1"), HttpStatusCode.NotFound, "ERR_INSTANCE_ID_NOT_FOUND");
    }

    [Fact]
    public async Task A_running_workflow_can_be_terminated_but_not_purged()
    {
        (await _http.PostAsync("ApprovalWorkflow/start?instanceID=approval-2", Json("\"bob\""))).StatusCode.Should().Be(HttpStatusCode.Accepted);
        await ErrorAsync(_http.PostAsync("approval-2/purge", null), HttpStatusCode.InternalServerError, "ERR_PURGE_WORKFLOW");

        await AcceptedAsync("approval-2/terminate");
        await WaitForStatusAsync("approval-2", "TERMINATED");
    }

    [Theory]
    [InlineData("not valid!", "ERR_INSTANCE_ID_INVALID")]
    [InlineData("an-id-that-is-far-too-long-for-dapr-which-allows-sixty-four-characters", "ERR_INSTANCE_ID_TOO_LONG")]
    public async Task Bad_instance_ids_are_refused(string instanceId, string errorCode) =>
        await ErrorAsync(_http.PostAsync($"ApprovalWorkflow/start?instanceID={Uri.EscapeDataString(instanceId)}", Json("\"x\"")),
            HttpStatusCode.BadRequest, errorCode);

    [Fact]
    public async Task Operations_on_an_unknown_instance_are_404() =>
        await ErrorAsync(_http.PostAsync("nobody/terminate", null), HttpStatusCode.NotFound, "ERR_INSTANCE_ID_NOT_FOUND");

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    private async Task<JsonElement> StateAsync(string instanceId)
    {
        var response = await _http.GetAsync(instanceId);
        response.StatusCode.Should().Be(HttpStatusCode.OK);
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    private async Task<JsonElement> WaitForStatusAsync(string instanceId, string status)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var state = await StateAsync(instanceId);
            if (state.GetProperty("runtimeStatus").GetString() == status) return state;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{instanceId} never became {status}: {state}");
            await Task.Delay(20);
        }
    }

    /// <summary>daprd answers these with 202 and an empty JSON object.</summary>
    private async Task AcceptedAsync(string path, string? body = null)
    {
        var response = await _http.PostAsync(path, body is null ? null : Json(body));
        response.StatusCode.Should().Be(HttpStatusCode.Accepted, await response.Content.ReadAsStringAsync());
        (await response.Content.ReadAsStringAsync()).Should().Be("{}");
    }

    private static async Task ErrorAsync(Task<HttpResponseMessage> call, HttpStatusCode status, string errorCode)
    {
        var response = await call;
        response.StatusCode.Should().Be(status);
        (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errorCode").GetString().Should().Be(errorCode);
    }
}
