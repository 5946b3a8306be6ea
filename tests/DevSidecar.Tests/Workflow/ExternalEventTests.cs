using Dapr.Workflow;
using DevSidecar.Tests.Conformance.Harness;

namespace DevSidecar.Tests.Workflow;

// Feature 5: external events, with and without a timeout. In Dapr.Workflow 1.19 a WaitForExternalEventAsync whose
// timeout elapses throws TaskCanceledException (its documented exception) inside the workflow.
public sealed class ExternalEventTests
{
    public sealed record WaitOutcome(string Outcome, DateTime Started, DateTime Ended);

    private static void Register(WorkflowRuntimeOptions o, CallLog? gate = null, TaskCompletionSource? release = null)
    {
        o.RegisterWorkflow<string, string>("AwaitApproval", async (context, _) =>
            "approved by " + await context.WaitForExternalEventAsync<string>("Approval"));
        o.RegisterWorkflow<int, WaitOutcome>("AwaitWithTimeout", async (context, seconds) =>
        {
            var started = context.CurrentUtcDateTime;
            try
            {
                var payload = await context.WaitForExternalEventAsync<string>("Ping", TimeSpan.FromSeconds(seconds));
                return new WaitOutcome("received " + payload, started, context.CurrentUtcDateTime);
            }
            catch (Exception e)
            {
                return new WaitOutcome(e.GetType().FullName!, started, context.CurrentUtcDateTime);
            }
        });
        o.RegisterWorkflow<string, string>("BusyThenAwait", async (context, _) =>
        {
            await context.CallActivityAsync<string>("Gate", "");
            return "got " + await context.WaitForExternalEventAsync<string>("Early");
        });
        o.RegisterActivity<string, string>("Gate", async (_, _) =>
        {
            gate?.Add("entered");
            if (release is not null) await release.Task;
            return "";
        });
    }

    [Fact]
    public async Task Without_a_timeout_the_workflow_waits_until_the_event_is_raised_and_receives_its_payload()
    {
        await using var harness = await Harness.StartAsync();
        await using var app = await WorkflowWorkerHost.StartAsync(harness.Sidecar.GrpcPort, o => Register(o));

        var id = await app.Client.ScheduleNewWorkflowAsync("AwaitApproval", "approval-1", "").Within("ScheduleNewWorkflowAsync");
        // Its first turn has run (the instance is RUNNING) and it is waiting, not finished.
        var running = await app.Client.StatusAsync(id, WorkflowRuntimeStatus.Running);
        running.IsWorkflowCompleted.Should().BeFalse();

        await app.Client.RaiseEventAsync(id, "Approval", "alice").Within("RaiseEventAsync");
        var state = await app.Client.CompletionAsync(id);

        state.RuntimeStatus.Should().Be(WorkflowRuntimeStatus.Completed, WorkflowWaits.Describe(state));
        state.ReadOutputAs<string>().Should().Be("approved by alice");
    }

    [Fact]
    public async Task An_event_raised_before_the_timeout_is_received()
    {
        await using var harness = await Harness.StartAsync();
        await using var app = await WorkflowWorkerHost.StartAsync(harness.Sidecar.GrpcPort, o => Register(o));

        var id = await app.Client.ScheduleNewWorkflowAsync("AwaitWithTimeout", "timeout-ok", 60).Within("ScheduleNewWorkflowAsync");
        await app.Client.StatusAsync(id, WorkflowRuntimeStatus.Running);
        await app.Client.RaiseEventAsync(id, "Ping", "pong").Within("RaiseEventAsync");
        var state = await app.Client.CompletionAsync(id);

        state.RuntimeStatus.Should().Be(WorkflowRuntimeStatus.Completed, WorkflowWaits.Describe(state));
        state.ReadOutputAs<WaitOutcome>()!.Outcome.Should().Be("received pong");
    }

    [Fact]
    public async Task When_the_timeout_elapses_first_the_wait_throws_TaskCanceledException()
    {
        await using var harness = await Harness.StartAsync();
        await using var app = await WorkflowWorkerHost.StartAsync(harness.Sidecar.GrpcPort, o => Register(o));

        var id = await app.Client.ScheduleNewWorkflowAsync("AwaitWithTimeout", "timeout-expired", 2).Within("ScheduleNewWorkflowAsync");
        var state = await app.Client.CompletionAsync(id);

        state.RuntimeStatus.Should().Be(WorkflowRuntimeStatus.Completed, WorkflowWaits.Describe(state));
        var outcome = state.ReadOutputAs<WaitOutcome>()!;
        outcome.Outcome.Should().Be(typeof(TaskCanceledException).FullName);
        // ... and only once the timeout was over on the workflow's clock (up to the second: daprd's timer reminders have
        // whole-second due times, dapr v1.17.9 orchestrator/timer.go).
        var dueAt = outcome.Started.AddSeconds(2);
        outcome.Ended.Should().BeOnOrAfter(new DateTime(dueAt.Ticks - dueAt.Ticks % TimeSpan.TicksPerSecond, dueAt.Kind));
    }

    [Fact]
    public async Task An_event_raised_while_the_workflow_is_busy_is_kept_until_it_waits_for_it()
    {
        await using var harness = await Harness.StartAsync();
        var gate = new CallLog();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var app = await WorkflowWorkerHost.StartAsync(harness.Sidecar.GrpcPort, o => Register(o, gate, release));

        var id = await app.Client.ScheduleNewWorkflowAsync("BusyThenAwait", "early-1", "").Within("ScheduleNewWorkflowAsync");
        await gate.FirstCall.Within("the Gate activity to start");
        await app.Client.RaiseEventAsync(id, "Early", "bird").Within("RaiseEventAsync");
        release.SetResult();
        var state = await app.Client.CompletionAsync(id);

        state.ReadOutputAs<string>().Should().Be("got bird", WorkflowWaits.Describe(state));
    }
}
