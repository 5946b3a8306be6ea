using Dapr.Workflow;
using Dapr.Workflow.Registration;
using DevSidecar.Tests.Conformance.Harness;
using Grpc.Core;

namespace DevSidecar.Tests.Workflow;

// Features 14 and 15: what starting an instance does.
// daprd 1.17 registers its workflow actors only while a worker's GetWorkItems stream is connected (dapr v1.17.9
// pkg/runtime/wfengine/wfengine.go), and creating an instance retries "no address for actor" every second until the
// caller gives up (backends/actors/actors.go CreateOrchestrationInstance); TaskHub's StartInstance then waits until
// the instance is no longer PENDING, i.e. its first turn has run (durabletask-go v0.11.5 backend/executor.go).
// An id in use by an unfinished instance is refused with gRPC Unknown; a finished one is recreated and runs again
// (dapr v1.17.9 orchestrator/create.go).
public sealed class StartSemanticsTests
{
    private static void Register(WorkflowRuntimeOptions o, CallLog runs)
    {
        o.RegisterWorkflow<string, string>("AwaitGo", async (context, input) =>
        {
            await context.CallActivityAsync<string>("Run", input);
            return input + await context.WaitForExternalEventAsync<string>("Go");
        });
        o.RegisterActivity<string, string>("Run", (_, input) => { runs.Add(input); return Task.FromResult(input); });
    }

    [Fact]
    public async Task A_start_with_no_worker_connected_waits_for_one_and_the_instance_then_runs()
    {
        await using var harness = await Harness.StartAsync();
        var runs = new CallLog();
        // DaprWorkflowClient alone: no worker is connected to this sidecar.
        await using var client = new DaprWorkflowClientBuilder()
            .UseGrpcEndpoint($"http://127.0.0.1:{harness.Sidecar.GrpcPort}")
            .UseHttpEndpoint($"http://127.0.0.1:{harness.Sidecar.HttpPort}")
            .Build();
        using var giveUp = new CancellationTokenSource(WorkflowWaits.Deadline);
        var schedule = client.ScheduleNewWorkflowAsync("AwaitGo", "no-worker-1", "early", startTime: null, giveUp.Token);

        await Wait.StaysAsync(() => !schedule.IsCompleted, "StartInstance does not answer while no worker is connected", TimeSpan.FromSeconds(1));

        await using var worker = await WorkflowWorkerHost.StartAsync(harness.Sidecar.GrpcPort, o => Register(o, runs));
        var id = await schedule.Within("ScheduleNewWorkflowAsync to answer once a worker is connected");
        id.Should().Be("no-worker-1");
        // It answered after the first turn: the instance is running already.
        (await worker.Client.GetWorkflowStateAsync(id)).RuntimeStatus.Should().Be(WorkflowRuntimeStatus.Running);

        await worker.Client.RaiseEventAsync(id, "Go", "!").Within("RaiseEventAsync");
        var state = await worker.Client.CompletionAsync(id);
        state.ReadOutputAs<string>().Should().Be("early!", WorkflowWaits.Describe(state));
        runs.All.Should().Equal("early");
    }

    [Fact]
    public async Task Starting_an_active_id_is_refused_and_starting_a_finished_id_runs_it_again()
    {
        await using var harness = await Harness.StartAsync();
        var runs = new CallLog();
        await using var app = await WorkflowWorkerHost.StartAsync(harness.Sidecar.GrpcPort, o => Register(o, runs));
        const string Id = "dup-1";

        await app.Client.ScheduleNewWorkflowAsync("AwaitGo", Id, "first").Within("ScheduleNewWorkflowAsync");
        await app.Client.StatusAsync(Id, WorkflowRuntimeStatus.Running);

        var refused = await FluentActions.Awaiting(() => app.Client.ScheduleNewWorkflowAsync("AwaitGo", Id, "second").Within("ScheduleNewWorkflowAsync"))
            .Should().ThrowAsync<RpcException>();
        refused.Which.StatusCode.Should().Be(StatusCode.Unknown);
        refused.Which.Status.Detail.Should().Contain($"an active workflow with ID '{Id}' already exists");
        var untouched = await app.Client.GetWorkflowStateAsync(Id);
        untouched.RuntimeStatus.Should().Be(WorkflowRuntimeStatus.Running);
        untouched.ReadInputAs<string>().Should().Be("first", "the refused start changes nothing");

        await app.Client.RaiseEventAsync(Id, "Go", "!").Within("RaiseEventAsync");
        (await app.Client.CompletionAsync(Id)).ReadOutputAs<string>().Should().Be("first!");

        // Completed: the id is free again; the new instance replaces the old one and runs from the start.
        await app.Client.ScheduleNewWorkflowAsync("AwaitGo", Id, "third").Within("ScheduleNewWorkflowAsync");
        var again = await app.Client.StateAsync(Id, s => s.ReadInputAs<string>() == "third" && s.RuntimeStatus == WorkflowRuntimeStatus.Running,
            "the instance recreated after its completion");
        again.ReadOutputAs<string>().Should().BeNull();
        // (Its activity is done before it is terminated: daprd refuses to recreate a terminated instance that still
        // awaits an activity result, orchestrator/create.go.)
        await Wait.UntilAsync(async () => (await app.Client.HistoryTypesAsync(Id)).Contains(Dapr.Workflow.Client.WorkflowHistoryEventType.TaskCompleted),
            "the recreated instance's activity result in its history");

        // Terminated: also recreated.
        await app.Client.TerminateWorkflowAsync(Id).Within("TerminateWorkflowAsync");
        await app.Client.StatusAsync(Id, WorkflowRuntimeStatus.Terminated);
        await app.Client.ScheduleNewWorkflowAsync("AwaitGo", Id, "fourth").Within("ScheduleNewWorkflowAsync");
        await app.Client.StateAsync(Id, s => s.ReadInputAs<string>() == "fourth" && s.RuntimeStatus == WorkflowRuntimeStatus.Running,
            "the instance recreated after its termination");
        await app.Client.RaiseEventAsync(Id, "Go", "?").Within("RaiseEventAsync");
        (await app.Client.CompletionAsync(Id)).ReadOutputAs<string>().Should().Be("fourth?");
        (await app.Client.HistoryTypesAsync(Id)).Count(t => t == Dapr.Workflow.Client.WorkflowHistoryEventType.ExecutionStarted)
            .Should().Be(1, "a recreated instance starts with a fresh history");
        runs.CountOf("first").Should().Be(1);
        runs.CountOf("second").Should().Be(0, "the refused start never ran");
        runs.CountOf("third").Should().Be(1);
        runs.CountOf("fourth").Should().Be(1);
    }
}
