using System.Collections.Concurrent;
using System.Diagnostics;
using Dapr.Workflow;
using DevSidecar.Tests.Conformance.Harness;

namespace DevSidecar.Tests.Workflow;

// Feature 16: W3C trace context from the caller to the workflow and its activities. DaprWorkflowClient sends the
// current Activity as the start request's parentTraceContext; the engine keeps it on ExecutionStarted and passes a
// context of that trace on to each activity (durabletask-go v0.11.5 backend/orchestration.go, backend/activity.go;
// only sampled contexts are carried). Dapr.Workflow 1.19 (Worker/WorkflowTrace.cs) restores it as Activity.Current
// for each workflow turn, and starts a "WorkflowActivity <name>" span on its ActivitySource "Dapr.Workflow" for each
// activity: both must be in the caller's trace.
public sealed class TraceContextTests
{
    private const string SdkActivitySource = "Dapr.Workflow";

    [Fact]
    public async Task The_workflow_turns_and_the_SDKs_activity_spans_are_in_the_callers_trace()
    {
        var spans = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == SdkActivitySource,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);

        await using var harness = await Harness.StartAsync();
        // The worker starts outside the caller's Activity, so nothing but the protocol can carry the trace to it.
        await using var app = await WorkflowWorkerHost.StartAsync(harness.Sidecar.GrpcPort, o =>
        {
            o.RegisterWorkflow<string, string>("Traced", async (context, input) =>
            {
                var turnTrace = Activity.Current?.TraceId.ToHexString() ?? "none";
                var activityTrace = await context.CallActivityAsync<string>("TraceProbe", input);
                return $"{turnTrace}|{activityTrace}";
            });
            o.RegisterActivity<string, string>("TraceProbe", (_, _) => Task.FromResult(Activity.Current?.TraceId.ToHexString() ?? "none"));
        });

        using var caller = new Activity("conformance-caller").SetIdFormat(ActivityIdFormat.W3C);
        caller.ActivityTraceFlags = ActivityTraceFlags.Recorded; // sampled: daprd carries only sampled contexts
        caller.Start();
        var traceId = caller.TraceId;
        string id;
        try
        {
            id = await app.Client.ScheduleNewWorkflowAsync("Traced", "traced-1", "x").Within("ScheduleNewWorkflowAsync");
        }
        finally
        {
            caller.Stop();
        }

        var state = await app.Client.CompletionAsync(id);

        state.RuntimeStatus.Should().Be(WorkflowRuntimeStatus.Completed, WorkflowWaits.Describe(state));
        state.ReadOutputAs<string>().Should().Be($"{traceId.ToHexString()}|{traceId.ToHexString()}",
            "the workflow's turns and its activity run in the caller's trace");
        await Wait.UntilAsync(() => spans.Any(s => s.OperationName == "WorkflowActivity TraceProbe" && s.TraceId == traceId),
            $"a 'WorkflowActivity TraceProbe' span of the SDK's ActivitySource in trace {traceId}");
        var span = spans.First(s => s.OperationName == "WorkflowActivity TraceProbe" && s.TraceId == traceId);
        span.Source.Name.Should().Be(SdkActivitySource);
        span.ParentSpanId.Should().NotBe(default(ActivitySpanId), "the activity span has a remote parent in the caller's trace");
    }
}
