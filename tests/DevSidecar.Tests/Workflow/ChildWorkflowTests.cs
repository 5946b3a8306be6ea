using Dapr.Workflow;
using DevSidecar.Tests.Conformance.Harness;

namespace DevSidecar.Tests.Workflow;

// Feature 3: child workflows. A child's result comes back to the parent; a child's failure surfaces in the parent as
// WorkflowTaskFailedException carrying the child's failure details, and fails the parent if not caught.
public sealed class ChildWorkflowTests
{
    private static void Register(WorkflowRuntimeOptions o)
    {
        o.RegisterWorkflow<string, string>("Parent", async (context, input) =>
        {
            var ok = await context.CallChildWorkflowAsync<string>("Child", input, new ChildWorkflowTaskOptions(InstanceId: context.InstanceId + "-ok"));
            try
            {
                await context.CallChildWorkflowAsync<string>("FailingChild", input, new ChildWorkflowTaskOptions(InstanceId: context.InstanceId + "-bad"));
                return "the failing child did not fail";
            }
            catch (WorkflowTaskFailedException e)
            {
                return $"{ok}|{e.FailureDetails.ErrorType}|{e.FailureDetails.ErrorMessage}";
            }
        });
        o.RegisterWorkflow<string, string>("UncaughtParent", async (context, input) =>
            await context.CallChildWorkflowAsync<string>("FailingChild", input, new ChildWorkflowTaskOptions(InstanceId: context.InstanceId + "-bad")));
        o.RegisterWorkflow<string, string>("Child", async (context, input) => await context.CallActivityAsync<string>("Upper", input));
        o.RegisterWorkflow<string, string>("FailingChild", async (context, input) =>
        {
            await context.CallActivityAsync<string>("Upper", input);
            throw new InvalidOperationException($"child refuses {input}");
        });
        o.RegisterActivity<string, string>("Upper", (_, s) => Task.FromResult(s.ToUpperInvariant()));
    }

    [Fact]
    public async Task A_childs_result_and_a_childs_failure_reach_the_parent()
    {
        await using var harness = await Harness.StartAsync();
        await using var app = await WorkflowWorkerHost.StartAsync(harness.Sidecar.GrpcPort, Register);

        var id = await app.Client.ScheduleNewWorkflowAsync("Parent", "parent-1", "abc").Within("ScheduleNewWorkflowAsync");
        var state = await app.Client.CompletionAsync(id);

        state.RuntimeStatus.Should().Be(WorkflowRuntimeStatus.Completed, WorkflowWaits.Describe(state));
        state.ReadOutputAs<string>().Should().Be("ABC|System.InvalidOperationException|child refuses abc");

        // The children are instances of their own, with the ids the parent gave them.
        var ok = await app.Client.GetWorkflowStateAsync("parent-1-ok");
        ok.RuntimeStatus.Should().Be(WorkflowRuntimeStatus.Completed);
        ok.ReadOutputAs<string>().Should().Be("ABC");
        var bad = await app.Client.GetWorkflowStateAsync("parent-1-bad");
        bad.RuntimeStatus.Should().Be(WorkflowRuntimeStatus.Failed);
        bad.FailureDetails!.ErrorType.Should().Be("System.InvalidOperationException");
        bad.FailureDetails.ErrorMessage.Should().Be("child refuses abc");
    }

    [Fact]
    public async Task A_child_failure_the_parent_does_not_catch_fails_the_parent()
    {
        await using var harness = await Harness.StartAsync();
        await using var app = await WorkflowWorkerHost.StartAsync(harness.Sidecar.GrpcPort, Register);

        var id = await app.Client.ScheduleNewWorkflowAsync("UncaughtParent", "parent-2", "xyz").Within("ScheduleNewWorkflowAsync");
        var state = await app.Client.CompletionAsync(id);

        state.RuntimeStatus.Should().Be(WorkflowRuntimeStatus.Failed);
        state.FailureDetails!.ErrorType.Should().Be(typeof(WorkflowTaskFailedException).FullName);
        state.FailureDetails.ErrorMessage.Should().Contain("FailingChild");
        (await app.Client.GetWorkflowStateAsync("parent-2-bad")).RuntimeStatus.Should().Be(WorkflowRuntimeStatus.Failed);
    }
}
