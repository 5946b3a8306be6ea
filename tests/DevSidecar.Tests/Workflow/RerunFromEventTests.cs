using Dapr.Workflow;
using Dapr.Workflow.Client;
using DevSidecar.Tests.Conformance.Harness;
using Grpc.Core;

namespace DevSidecar.Tests.Workflow;

// Feature 12: DaprWorkflowClient.RerunWorkflowFromEventAsync. A finished instance is forked into a new one at a
// TaskScheduled (or TimerCreated / child-created) event: what came before is kept, that task runs again (with a new
// input if asked), and the workflow goes on from there. daprd v1.17.9 orchestrator/rerun.go and fork/fork.go.
public sealed class RerunFromEventTests
{
    private static void Register(WorkflowRuntimeOptions o, CallLog calls)
    {
        o.RegisterWorkflow<string, string>("TwoSteps", async (context, input) =>
        {
            var first = await context.CallActivityAsync<string>("First", input);
            return await context.CallActivityAsync<string>("Second", first + "-b");
        });
        o.RegisterWorkflow<string, string>("AwaitGo", async (context, _) => await context.WaitForExternalEventAsync<string>("Go"));
        o.RegisterActivity<string, string>("First", (_, s) => { calls.Add($"First({s})"); return Task.FromResult(s.ToUpperInvariant()); });
        o.RegisterActivity<string, string>("Second", (_, s) => { calls.Add($"Second({s})"); return Task.FromResult(s.ToUpperInvariant()); });
    }

    private static async Task<uint> ScheduledEventIdAsync(DaprWorkflowClient client, string id, int nth)
    {
        var scheduled = (await client.GetInstanceHistoryAsync(id)).Where(e => e.EventType == WorkflowHistoryEventType.TaskScheduled).ToList();
        return (uint)scheduled[nth].EventId;
    }

    [Fact]
    public async Task A_rerun_from_an_activity_keeps_what_came_before_and_runs_that_activity_again()
    {
        await using var harness = await Harness.StartAsync();
        var calls = new CallLog();
        await using var app = await WorkflowWorkerHost.StartAsync(harness.Sidecar.GrpcPort, o => Register(o, calls));
        var source = await app.Client.ScheduleNewWorkflowAsync("TwoSteps", "rerun-source", "a").Within("ScheduleNewWorkflowAsync");
        (await app.Client.CompletionAsync(source)).ReadOutputAs<string>().Should().Be("A-B");
        calls.All.Should().Equal("First(a)", "Second(A-b)");
        var second = await ScheduledEventIdAsync(app.Client, source, 1);

        // Same input: only Second runs again.
        var rerun = await app.Client.RerunWorkflowFromEventAsync(source, second, new RerunWorkflowFromEventOptions { NewInstanceId = "rerun-same" })
            .Within("RerunWorkflowFromEventAsync");
        rerun.Should().Be("rerun-same");
        var same = await app.Client.CompletionAsync(rerun);
        same.RuntimeStatus.Should().Be(WorkflowRuntimeStatus.Completed, WorkflowWaits.Describe(same));
        same.ReadOutputAs<string>().Should().Be("A-B");
        calls.All.Should().Equal("First(a)", "Second(A-b)", "Second(A-b)");

        // A new input for the rerun task.
        var overwritten = await app.Client.RerunWorkflowFromEventAsync(source, second,
            new RerunWorkflowFromEventOptions { NewInstanceId = "rerun-input", OverwriteInput = true, Input = "zz" }).Within("RerunWorkflowFromEventAsync");
        var changed = await app.Client.CompletionAsync(overwritten);
        changed.ReadOutputAs<string>().Should().Be("ZZ", WorkflowWaits.Describe(changed));
        calls.All.Should().Equal("First(a)", "Second(A-b)", "Second(A-b)", "Second(zz)");

        // The source is untouched.
        (await app.Client.GetWorkflowStateAsync(source)).ReadOutputAs<string>().Should().Be("A-B");
    }

    [Fact]
    public async Task A_rerun_is_refused_with_daprds_status_codes()
    {
        await using var harness = await Harness.StartAsync();
        var calls = new CallLog();
        await using var app = await WorkflowWorkerHost.StartAsync(harness.Sidecar.GrpcPort, o => Register(o, calls));
        var done = await app.Client.ScheduleNewWorkflowAsync("TwoSteps", "rerun-done", "a").Within("ScheduleNewWorkflowAsync");
        await app.Client.CompletionAsync(done);
        var running = await app.Client.ScheduleNewWorkflowAsync("AwaitGo", "rerun-running", "").Within("ScheduleNewWorkflowAsync");
        await app.Client.StatusAsync(running, WorkflowRuntimeStatus.Running);
        var first = await ScheduledEventIdAsync(app.Client, done, 0);

        async Task<RpcException> Refused(string sourceId, uint eventId, string? newId)
        {
            var refusal = await FluentActions.Awaiting(() => app.Client.RerunWorkflowFromEventAsync(sourceId, eventId,
                    new RerunWorkflowFromEventOptions { NewInstanceId = newId }).Within("RerunWorkflowFromEventAsync"))
                .Should().ThrowAsync<RpcException>();
            return refusal.Which;
        }

        var notTerminal = await Refused(running, 0, "rerun-x1");
        notTerminal.StatusCode.Should().Be(StatusCode.InvalidArgument);
        notTerminal.Status.Detail.Should().Contain("is not in a terminal state");

        var sameId = await Refused(done, first, done);
        sameId.StatusCode.Should().Be(StatusCode.InvalidArgument);
        sameId.Status.Detail.Should().Contain("must be different from the original instance ID");

        var unknown = await Refused("no-such-instance", 0, "rerun-x2");
        unknown.StatusCode.Should().Be(StatusCode.NotFound);
        unknown.Status.Detail.Should().Contain("workflow instance does not exist with ID 'no-such-instance'");

        var noSuchEvent = await Refused(done, 999, "rerun-x3");
        noSuchEvent.StatusCode.Should().Be(StatusCode.NotFound);
        noSuchEvent.Status.Detail.Should().Contain("does not have history event with ID '999'");

        var taken = await Refused(done, first, running);
        taken.StatusCode.Should().Be(StatusCode.AlreadyExists);
        taken.Status.Detail.Should().Contain($"workflow '{running}' has already been created");

        calls.All.Should().Equal(["First(a)", "Second(A-b)"], "a refused rerun runs nothing");
    }
}
