using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Dapr.DurableTask.Protobuf;
using Dapr.Workflow;
using DevSidecar.Tests.Conformance.Harness;
using Grpc.Net.Client;

namespace DevSidecar.Tests.Workflow;

// What the engine writes into an instance's history and how daprd's HTTP API reports it, read with the protocol's own
// client from the Dapr.Workflow package (the SDK's history view has event types and times only).
// Sources: durabletask-go v0.11.5 backend/executor.go and backend/runtimestate/applier.go; dapr v1.17.9
// pkg/runtime/wfengine/client.go and pkg/api/universal/workflow.go.
public sealed partial class HistoryShapeTests
{
    private static TaskHubSidecarService.TaskHubSidecarServiceClient Protocol(Harness harness) =>
        new(GrpcChannel.ForAddress($"http://127.0.0.1:{harness.Sidecar.GrpcPort}"));

    private static async Task<List<HistoryEvent>> HistoryAsync(Harness harness, string id) =>
        [.. (await Protocol(harness).GetInstanceHistoryAsync(new GetInstanceHistoryRequest { InstanceId = id })).Events];

    [Fact]
    public async Task The_task_execution_id_the_SDK_sends_comes_back_on_the_tasks_events()
    {
        await using var harness = await Harness.StartAsync();
        await using var app = await WorkflowWorkerHost.StartAsync(harness.Sidecar.GrpcPort, o =>
        {
            o.RegisterWorkflow<string, string>("Once", async (context, input) => await context.CallActivityAsync<string>("Echo", input));
            o.RegisterActivity<string, string>("Echo", (_, s) => Task.FromResult(s));
        });
        var id = await app.Client.ScheduleNewWorkflowAsync("Once", "exec-id-1", "x").Within("ScheduleNewWorkflowAsync");
        await app.Client.CompletionAsync(id);

        var history = await HistoryAsync(harness, id);
        var scheduled = history.Single(e => e.TaskScheduled is not null);
        var completed = history.Single(e => e.TaskCompleted is not null);
        scheduled.TaskScheduled.TaskExecutionId.Should().NotBeNullOrEmpty("Dapr.Workflow 1.19 sends one on every ScheduleTask");
        completed.TaskCompleted.TaskExecutionId.Should().Be(scheduled.TaskScheduled.TaskExecutionId);
        completed.TaskCompleted.TaskScheduledId.Should().Be(scheduled.EventId);
        // The top-level start carries this app as the router's source: the SDK learns its own app id from it.
        history.Single(e => e.ExecutionStarted is not null).Router.SourceAppID.Should().Be(harness.AppId);
    }

    [Fact]
    public async Task Suspend_resume_and_terminate_are_events_of_the_history()
    {
        await using var harness = await Harness.StartAsync();
        await using var app = await WorkflowWorkerHost.StartAsync(harness.Sidecar.GrpcPort, o =>
            o.RegisterWorkflow<string, string>("Waits", async (context, _) => await context.WaitForExternalEventAsync<string>("Never")));
        var id = await app.Client.ScheduleNewWorkflowAsync("Waits", "lifecycle-events-1", "").Within("ScheduleNewWorkflowAsync");

        await app.Client.SuspendWorkflowAsync(id, "pause").Within("SuspendWorkflowAsync");
        await app.Client.ResumeWorkflowAsync(id, "go on").Within("ResumeWorkflowAsync");
        await app.Client.TerminateWorkflowAsync(id, "enough").Within("TerminateWorkflowAsync");

        var history = await HistoryAsync(harness, id);
        history.Single(e => e.ExecutionSuspended is not null).ExecutionSuspended.Input.Should().Be("pause");
        history.Single(e => e.ExecutionResumed is not null).ExecutionResumed.Input.Should().Be("go on");
        history.Single(e => e.ExecutionTerminated is not null).ExecutionTerminated.Input.Should().Be("\"enough\"");
        history.Select(e => e.EventTypeCase).Where(t => t is HistoryEvent.EventTypeOneofCase.ExecutionSuspended
                or HistoryEvent.EventTypeOneofCase.ExecutionResumed or HistoryEvent.EventTypeOneofCase.ExecutionTerminated
                or HistoryEvent.EventTypeOneofCase.ExecutionCompleted)
            .Should().Equal(HistoryEvent.EventTypeOneofCase.ExecutionSuspended, HistoryEvent.EventTypeOneofCase.ExecutionResumed,
                HistoryEvent.EventTypeOneofCase.ExecutionTerminated, HistoryEvent.EventTypeOneofCase.ExecutionCompleted);
        history[^1].ExecutionCompleted.WorkflowStatus.Should().Be(OrchestrationStatus.Terminated, "the SDK's answer to the terminate event ends it");
    }

    [Fact]
    public async Task The_HTTP_status_shows_the_current_generation_and_the_output_only_once_ended()
    {
        await using var harness = await Harness.StartAsync();
        await using var app = await WorkflowWorkerHost.StartAsync(harness.Sidecar.GrpcPort, o =>
            o.RegisterWorkflow<int, string>("Generations", async (context, generation) =>
            {
                if (generation == 0)
                {
                    context.ContinueAsNew(1);
                    return "";
                }
                return await context.WaitForExternalEventAsync<string>("Finish");
            }));
        var id = await app.Client.ScheduleNewWorkflowAsync("Generations", "generations-1", 0).Within("ScheduleNewWorkflowAsync");
        var started = await WaitForAsync(async () =>
            (await HistoryAsync(harness, id)).FirstOrDefault(e => e.ExecutionStarted?.Input == "1"), "the second generation's start");

        var running = await StatusAsync(harness, id);
        running.GetProperty("runtimeStatus").GetString().Should().Be("RUNNING");
        running.GetProperty("createdAt").GetString().Should().Be(ProtoJsonTime(started.Timestamp), "createdAt is the current generation's start");
        running.GetProperty("properties").TryGetProperty("dapr.workflow.output", out _).Should().BeFalse("no output before the instance ends");
        running.GetProperty("properties").GetProperty("dapr.workflow.input").GetString().Should().Be("1");
        foreach (var time in new[] { "createdAt", "lastUpdatedAt" })
            running.GetProperty(time).GetString().Should().MatchRegex(ProtoJsonTimestamp(), "daprd writes protobuf JSON timestamps");

        await app.Client.RaiseEventAsync(id, "Finish", "done").Within("RaiseEventAsync");
        await app.Client.CompletionAsync(id);
        var ended = await StatusAsync(harness, id);
        ended.GetProperty("properties").GetProperty("dapr.workflow.output").GetString().Should().Be("\"done\"");
    }

    [Fact]
    public async Task StartInstance_takes_ids_that_daprds_HTTP_API_refuses()
    {
        await using var harness = await Harness.StartAsync();
        await using var app = await WorkflowWorkerHost.StartAsync(harness.Sidecar.GrpcPort, o =>
            o.RegisterWorkflow<string, string>("Id", (context, _) => Task.FromResult(context.InstanceId)));
        var id = "order:42/" + new string('x', 70); // longer than 64 bytes, with ':' and '/'

        (await app.Client.ScheduleNewWorkflowAsync("Id", id, "").Within("ScheduleNewWorkflowAsync")).Should().Be(id);
        (await app.Client.CompletionAsync(id)).ReadOutputAs<string>().Should().Be(id);

        using var viaHttp = await harness.Http.PostAsync($"/v1.0/workflows/dapr/Id/start?instanceID={Uri.EscapeDataString(id)}", null);
        viaHttp.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        JsonDocument.Parse(await viaHttp.Content.ReadAsStringAsync()).RootElement.GetProperty("errorCode").GetString().Should().Be("ERR_INSTANCE_ID_TOO_LONG");
        using var invalid = await harness.Http.PostAsync("/v1.0/workflows/dapr/Id/start?instanceID=order:42", null);
        invalid.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        JsonDocument.Parse(await invalid.Content.ReadAsStringAsync()).RootElement.GetProperty("errorCode").GetString().Should().Be("ERR_INSTANCE_ID_INVALID");
    }

    private static async Task<JsonElement> StatusAsync(Harness harness, string id)
    {
        using var response = await harness.Http.GetAsync($"/v1.0/workflows/dapr/{Uri.EscapeDataString(id)}");
        response.StatusCode.Should().Be(HttpStatusCode.OK);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
    }

    private static async Task<T> WaitForAsync<T>(Func<Task<T?>> probe, string what) where T : class
    {
        T? found = null;
        await Wait.UntilAsync(async () => (found = await probe()) is not null, what);
        return found!;
    }

    /// <summary>A Timestamp as protobuf's own JSON formatter writes it, which is what daprd's protojson does.</summary>
    private static string ProtoJsonTime(Google.Protobuf.WellKnownTypes.Timestamp t) => Google.Protobuf.JsonFormatter.Default.Format(t).Trim('"');

    [GeneratedRegex(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.(\d{3}|\d{6}|\d{9}))?Z$")]
    private static partial Regex ProtoJsonTimestamp();
}
