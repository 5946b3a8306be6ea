using System.Text.Json;
using Dapr.Workflow;
using DevSidecar.Tests.Conformance.Harness;
using Grpc.Core;

namespace DevSidecar.Tests.Workflow;

// Feature 8: suspend, resume, terminate and purge, through DaprWorkflowClient (and daprd's HTTP API for the status).
// daprd 1.17 (durabletask-go v0.11.5 backend/executor.go): SuspendInstance answers once the instance is SUSPENDED,
// TerminateInstance once it is terminal; purge of an unfinished or unknown instance is a gRPC Unknown error.
public sealed class LifecycleManagementTests
{
    private static void Register(WorkflowRuntimeOptions o, CallLog marks)
    {
        o.RegisterWorkflow<string, string>("AwaitGo", async (context, _) =>
        {
            var value = await context.WaitForExternalEventAsync<string>("Go");
            await context.CallActivityAsync<string>("Mark", value);
            return "done " + value;
        });
        o.RegisterActivity<string, string>("Mark", (_, value) => { marks.Add(value); return Task.FromResult(value); });
    }

    private static async Task<string?> HttpStatusAsync(Harness harness, string id)
    {
        using var response = await harness.Http.GetAsync($"/v1.0/workflows/dapr/{id}");
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("runtimeStatus").GetString();
    }

    [Fact]
    public async Task A_suspended_instance_does_not_progress_until_it_is_resumed()
    {
        await using var harness = await Harness.StartAsync();
        var marks = new CallLog();
        await using var app = await WorkflowWorkerHost.StartAsync(harness.Sidecar.GrpcPort, o => Register(o, marks));
        var id = await app.Client.ScheduleNewWorkflowAsync("AwaitGo", "suspend-1", "").Within("ScheduleNewWorkflowAsync");
        await app.Client.StatusAsync(id, WorkflowRuntimeStatus.Running);

        await app.Client.SuspendWorkflowAsync(id, "maintenance").Within("SuspendWorkflowAsync");
        (await app.Client.GetWorkflowStateAsync(id)).RuntimeStatus.Should().Be(WorkflowRuntimeStatus.Suspended,
            "daprd's SuspendInstance answers once the instance is suspended");
        (await HttpStatusAsync(harness, id)).Should().Be("SUSPENDED");

        await app.Client.RaiseEventAsync(id, "Go", "later").Within("RaiseEventAsync");
        await Wait.StaysAsync(() => marks.Count == 0, "a suspended instance runs nothing, even with its event raised", TimeSpan.FromSeconds(1));
        (await app.Client.GetWorkflowStateAsync(id)).RuntimeStatus.Should().Be(WorkflowRuntimeStatus.Suspended);

        await app.Client.ResumeWorkflowAsync(id, "done").Within("ResumeWorkflowAsync");
        var state = await app.Client.CompletionAsync(id);

        state.RuntimeStatus.Should().Be(WorkflowRuntimeStatus.Completed, WorkflowWaits.Describe(state));
        state.ReadOutputAs<string>().Should().Be("done later", "the event raised while suspended is delivered after the resume");
        marks.All.Should().Equal("later");
    }

    [Fact]
    public async Task Terminate_ends_a_running_instance_as_Terminated()
    {
        await using var harness = await Harness.StartAsync();
        var marks = new CallLog();
        await using var app = await WorkflowWorkerHost.StartAsync(harness.Sidecar.GrpcPort, o => Register(o, marks));
        var id = await app.Client.ScheduleNewWorkflowAsync("AwaitGo", "terminate-1", "").Within("ScheduleNewWorkflowAsync");
        await app.Client.StatusAsync(id, WorkflowRuntimeStatus.Running);

        await app.Client.TerminateWorkflowAsync(id, "stopped by test").Within("TerminateWorkflowAsync");

        var state = await app.Client.GetWorkflowStateAsync(id);
        state.RuntimeStatus.Should().Be(WorkflowRuntimeStatus.Terminated, "daprd's TerminateInstance answers once the instance is terminal");
        // daprd records what the SDK's completion says: Dapr.Workflow 1.19 answers a terminate with a Terminated
        // completion that carries no result (WorkflowWorker.HandleWorkflowResponseAsync), and durabletask-go's applier
        // stores the completion's result, not the terminate request's output (v0.11.5 backend/runtimestate/applier.go).
        state.ReadOutputAs<string>().Should().BeNull();
        (await HttpStatusAsync(harness, id)).Should().Be("TERMINATED");

        // A terminated instance does not run on when its event comes.
        await app.Client.RaiseEventAsync(id, "Go", "too late").Within("RaiseEventAsync");
        await Wait.StaysAsync(() => marks.Count == 0, "a terminated instance runs nothing");
        (await app.Client.GetWorkflowStateAsync(id)).RuntimeStatus.Should().Be(WorkflowRuntimeStatus.Terminated);
    }

    [Fact]
    public async Task Purge_removes_a_finished_instance_and_refuses_a_running_or_unknown_one()
    {
        await using var harness = await Harness.StartAsync();
        var marks = new CallLog();
        await using var app = await WorkflowWorkerHost.StartAsync(harness.Sidecar.GrpcPort, o => Register(o, marks));
        var id = await app.Client.ScheduleNewWorkflowAsync("AwaitGo", "purge-1", "").Within("ScheduleNewWorkflowAsync");
        await app.Client.StatusAsync(id, WorkflowRuntimeStatus.Running);

        // Running: daprd answers gRPC Unknown "failed to purge orchestration state: orchestration has not yet completed".
        var running = await FluentActions.Awaiting(() => app.Client.PurgeInstanceAsync(id).Within("PurgeInstanceAsync"))
            .Should().ThrowAsync<RpcException>();
        running.Which.StatusCode.Should().Be(StatusCode.Unknown);
        running.Which.Status.Detail.Should().Contain("orchestration has not yet completed");
        (await app.Client.GetWorkflowStateAsync(id)).RuntimeStatus.Should().Be(WorkflowRuntimeStatus.Running, "a refused purge changes nothing");

        await app.Client.RaiseEventAsync(id, "Go", "now").Within("RaiseEventAsync");
        (await app.Client.CompletionAsync(id)).RuntimeStatus.Should().Be(WorkflowRuntimeStatus.Completed);

        (await app.Client.PurgeInstanceAsync(id).Within("PurgeInstanceAsync")).Should().BeTrue();
        (await app.Client.GetWorkflowStateAsync(id)).Exists.Should().BeFalse("a purged instance is gone");
        using (var response = await harness.Http.GetAsync($"/v1.0/workflows/dapr/{id}"))
            response.StatusCode.Should().Be(System.Net.HttpStatusCode.NotFound);

        // Purging it again: daprd answers gRPC Unknown "... no such instance exists" (the SDK purges recursively).
        var unknown = await FluentActions.Awaiting(() => app.Client.PurgeInstanceAsync(id).Within("PurgeInstanceAsync"))
            .Should().ThrowAsync<RpcException>();
        unknown.Which.StatusCode.Should().Be(StatusCode.Unknown);
        unknown.Which.Status.Detail.Should().Contain("no such instance exists");
    }
}
