using Dapr.Workflow;
using Dapr.Workflow.Client;
using DevSidecar.Tests.Conformance.Harness;

namespace DevSidecar.Tests.Workflow;

// Feature 7: retry policies. The SDK retries a failed activity on durable timers (WorkflowRetryPolicy); each attempt is
// a new TaskScheduled the engine dispatches. After maxNumberOfAttempts the last failure surfaces in the workflow as
// WorkflowTaskFailedException with the activity's failure details.
public sealed class RetryPolicyTests
{
    private static readonly WorkflowRetryPolicy ThreeAttempts = new(maxNumberOfAttempts: 3, firstRetryInterval: TimeSpan.FromMilliseconds(100));
    private static readonly WorkflowRetryPolicy FiveAttempts = new(maxNumberOfAttempts: 5, firstRetryInterval: TimeSpan.FromMilliseconds(100));

    private static void Register(WorkflowRuntimeOptions o, CallLog attempts)
    {
        // Fails its first two attempts, then succeeds.
        o.RegisterActivity<string, string>("Flaky", (_, input) =>
        {
            attempts.Add(input);
            var attempt = attempts.CountOf(input);
            if (attempt <= 2) throw new InvalidOperationException($"attempt {attempt} failed");
            return Task.FromResult($"ok after {attempt}");
        });
        o.RegisterActivity<string, string>("Broken", (_, input) =>
        {
            attempts.Add(input);
            throw new InvalidOperationException($"attempt {attempts.CountOf(input)} failed");
        });
        o.RegisterWorkflow<string, string>("RetryFlaky", async (context, input) =>
            await context.CallActivityAsync<string>("Flaky", input, new WorkflowTaskOptions(FiveAttempts)));
        o.RegisterWorkflow<string, string>("RetryBroken", async (context, input) =>
        {
            try
            {
                return await context.CallActivityAsync<string>("Broken", input, new WorkflowTaskOptions(ThreeAttempts));
            }
            catch (WorkflowTaskFailedException e)
            {
                return $"{e.FailureDetails.ErrorType}|{e.FailureDetails.ErrorMessage}";
            }
        });
        o.RegisterWorkflow<string, string>("RetryBrokenUncaught", async (context, input) =>
            await context.CallActivityAsync<string>("Broken", input, new WorkflowTaskOptions(ThreeAttempts)));
    }

    [Fact]
    public async Task An_activity_failing_its_first_attempts_is_retried_until_it_succeeds()
    {
        await using var harness = await Harness.StartAsync();
        var attempts = new CallLog();
        await using var app = await WorkflowWorkerHost.StartAsync(harness.Sidecar.GrpcPort, o => Register(o, attempts));

        var id = await app.Client.ScheduleNewWorkflowAsync("RetryFlaky", "flaky-1", "flaky-1").Within("ScheduleNewWorkflowAsync");
        var state = await app.Client.CompletionAsync(id);

        state.RuntimeStatus.Should().Be(WorkflowRuntimeStatus.Completed, WorkflowWaits.Describe(state));
        state.ReadOutputAs<string>().Should().Be("ok after 3");
        attempts.CountOf("flaky-1").Should().Be(3);
        var history = await app.Client.HistoryTypesAsync(id);
        history.Count(t => t == WorkflowHistoryEventType.TaskFailed).Should().Be(2);
        history.Count(t => t == WorkflowHistoryEventType.TaskCompleted).Should().Be(1);
        history.Count(t => t == WorkflowHistoryEventType.TimerFired).Should().Be(2, "each retry waits on a durable timer");
    }

    [Fact]
    public async Task An_activity_that_always_fails_surfaces_WorkflowTaskFailedException_after_maxNumberOfAttempts()
    {
        await using var harness = await Harness.StartAsync();
        var attempts = new CallLog();
        await using var app = await WorkflowWorkerHost.StartAsync(harness.Sidecar.GrpcPort, o => Register(o, attempts));

        var id = await app.Client.ScheduleNewWorkflowAsync("RetryBroken", "broken-1", "broken-1").Within("ScheduleNewWorkflowAsync");
        var state = await app.Client.CompletionAsync(id);

        state.RuntimeStatus.Should().Be(WorkflowRuntimeStatus.Completed, WorkflowWaits.Describe(state));
        state.ReadOutputAs<string>().Should().Be("System.InvalidOperationException|attempt 3 failed");
        attempts.CountOf("broken-1").Should().Be(3, "maxNumberOfAttempts is 3, the first attempt included");
        (await app.Client.HistoryTypesAsync(id)).Count(t => t == WorkflowHistoryEventType.TaskFailed).Should().Be(3);
    }

    [Fact]
    public async Task When_the_workflow_does_not_catch_it_the_retried_failure_fails_the_workflow()
    {
        await using var harness = await Harness.StartAsync();
        var attempts = new CallLog();
        await using var app = await WorkflowWorkerHost.StartAsync(harness.Sidecar.GrpcPort, o => Register(o, attempts));

        var id = await app.Client.ScheduleNewWorkflowAsync("RetryBrokenUncaught", "broken-2", "broken-2").Within("ScheduleNewWorkflowAsync");
        var state = await app.Client.CompletionAsync(id);

        state.RuntimeStatus.Should().Be(WorkflowRuntimeStatus.Failed);
        state.FailureDetails!.ErrorType.Should().Be(typeof(WorkflowTaskFailedException).FullName);
        state.FailureDetails.ErrorMessage.Should().Contain("attempt 3 failed");
        attempts.CountOf("broken-2").Should().Be(3);
    }
}
