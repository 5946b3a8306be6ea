using Dapr.Workflow;
using DevSidecar.Tests.Conformance.Harness;

namespace DevSidecar.Tests.Workflow;

// Feature 13: cross-app activities and child workflows. Two apps, each with its own sidecar (sharing the harness's
// registry); a workflow on app A calls an activity and a child workflow with TargetAppId = B. They run on B's worker
// (A's worker does not even know them), and their results and failures come back to A.
public sealed class CrossAppTests
{
    [Fact]
    public async Task Activities_and_child_workflows_with_a_target_app_run_on_that_apps_worker()
    {
        await using var harness = await Harness.StartAsync(new HarnessOptions { AppIdPrefix = "wfa" });
        var remote = await harness.StartPeerSidecarAsync("wfb");
        var onA = new CallLog();
        var onB = new CallLog();

        await using var appA = await WorkflowWorkerHost.StartAsync(harness.Sidecar.GrpcPort, o =>
        {
            o.RegisterWorkflow<string, string>("CrossApp", async (context, input) =>
            {
                var upper = await context.CallActivityAsync<string>("RemoteUpper", input, new WorkflowTaskOptions(TargetAppId: remote.AppId));
                var child = await context.CallChildWorkflowAsync<string>("RemoteChild", upper,
                    new ChildWorkflowTaskOptions(InstanceId: context.InstanceId + "-child", TargetAppId: remote.AppId));
                string failure;
                try
                {
                    await context.CallActivityAsync<string>("RemoteFail", input, new WorkflowTaskOptions(TargetAppId: remote.AppId));
                    failure = "none";
                }
                catch (WorkflowTaskFailedException e)
                {
                    failure = $"{e.FailureDetails.ErrorType}: {e.FailureDetails.ErrorMessage}";
                }
                var local = await context.CallActivityAsync<string>("LocalTag", child);
                return $"{local} / {failure}";
            });
            o.RegisterActivity<string, string>("LocalTag", (_, s) => { onA.Add($"LocalTag({s})"); return Task.FromResult($"A[{s}]"); });
        });
        await using var appB = await WorkflowWorkerHost.StartAsync(remote.GrpcPort, o =>
        {
            o.RegisterActivity<string, string>("RemoteUpper", (_, s) => { onB.Add($"RemoteUpper({s})"); return Task.FromResult(s.ToUpperInvariant()); });
            o.RegisterActivity<string, string>("RemoteFail", (_, s) =>
            {
                onB.Add($"RemoteFail({s})");
                throw new InvalidOperationException($"B refuses {s}");
            });
            o.RegisterWorkflow<string, string>("RemoteChild", async (context, input) =>
                "B[" + await context.CallActivityAsync<string>("ChildStep", input) + "]");
            o.RegisterActivity<string, string>("ChildStep", (_, s) => { onB.Add($"ChildStep({s})"); return Task.FromResult(s + "!"); });
        });

        var id = await appA.Client.ScheduleNewWorkflowAsync("CrossApp", "cross-1", "abc").Within("ScheduleNewWorkflowAsync");
        var state = await appA.Client.CompletionAsync(id);

        state.RuntimeStatus.Should().Be(WorkflowRuntimeStatus.Completed, WorkflowWaits.Describe(state));
        state.ReadOutputAs<string>().Should().Be("A[B[ABC!]] / System.InvalidOperationException: B refuses abc");
        onB.All.Should().Equal("RemoteUpper(abc)", "ChildStep(ABC)", "RemoteFail(abc)");
        onA.All.Should().Equal("LocalTag(B[ABC!])");

        // The child workflow is an instance of app B, not of app A.
        var child = await appB.Client.GetWorkflowStateAsync("cross-1-child");
        child.RuntimeStatus.Should().Be(WorkflowRuntimeStatus.Completed);
        child.ReadOutputAs<string>().Should().Be("B[ABC!]");
        (await appA.Client.GetWorkflowStateAsync("cross-1-child")).Exists.Should().BeFalse();
    }
}
