using System.Collections.Concurrent;
using System.Diagnostics;
using Dapr.Workflow;

namespace DevSidecar.Tests.Workflow;

// Oracle: durabletask-go v0.11.5 (the version dapr v1.17.9 pins) api/helpers/tracing.go, backend/executor.go
// StartInstance, backend/orchestration.go, backend/activity.go; dapr v1.17.9 pkg/runtime/wfengine/wfengine.go wires its
// orchestration and activity workers, pkg/runtime/runtime.go setupTracing gives it the tracer provider (a samplingRate
// alone is enough: a null exporter). Dapr.Workflow's worker (Worker/WorkflowTrace.cs) starts its spans under the
// contexts the engine sends.
public sealed class EngineSpanTests
{
    private static readonly string Configuration = ComponentYaml.Configuration("    samplingRate: \"1\"");

    [Fact]
    public async Task A_workflow_started_under_a_traceparent_makes_daprds_create_orchestration_orchestration_activity_and_timer_spans_in_that_trace()
    {
        var appId = $"wfspans-{Guid.NewGuid().ToString("N")[..8]}";
        var spans = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Dapr.Workflow" || source.Name.StartsWith($"DevSidecar.{appId}.", StringComparison.Ordinal),
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);

        await using var cluster = new Cluster(new ClusterOptions
        {
            Configuration = Configuration,
            ResourceFiles = new Dictionary<string, string> { ["statestore.yaml"] = ComponentYaml.Of("statestore", "state.in-memory", ("actorStateStore", "true")) },
            ConsoleLogLevel = Microsoft.Extensions.Logging.LogLevel.None,
        });
        var sidecar = await cluster.StartSidecarAsync(appId, appPort: null);
        await using var app = await WorkflowWorkerHost.StartAsync(sidecar.GrpcPort, o =>
        {
            o.RegisterWorkflow<string, string>("Traced", async (context, input) =>
            {
                await context.CreateTimer(TimeSpan.FromMilliseconds(100));
                return await context.CallActivityAsync<string>("Probe", input);
            });
            o.RegisterActivity<string, string>("Probe", (_, input) => Task.FromResult(input));
        });

        using var caller = new Activity("caller").SetIdFormat(ActivityIdFormat.W3C);
        caller.ActivityTraceFlags = ActivityTraceFlags.Recorded;
        caller.Start();
        string id;
        try
        {
            id = await app.Client.ScheduleNewWorkflowAsync("Traced", $"traced-{appId}", "x").Within("ScheduleNewWorkflowAsync");
        }
        finally
        {
            caller.Stop();
        }
        var state = await app.Client.CompletionAsync(id);
        state.RuntimeStatus.Should().Be(WorkflowRuntimeStatus.Completed, WorkflowWaits.Describe(state));

        Activity Span(string name) => spans.Single(s => s.DisplayName == name && s.TraceId == caller.TraceId);
        await Wait.UntilAsync(() => spans.Any(s => s.DisplayName == "orchestration||Traced" && s.TraceId == caller.TraceId)
            && spans.Any(s => s.DisplayName == "WorkflowActivity Probe" && s.TraceId == caller.TraceId),
            "the orchestration span, emitted when the instance completes, and the worker's activity span");

        var create = Span("create_orchestration||Traced");
        create.Kind.Should().Be(ActivityKind.Client);
        create.ParentSpanId.Should().Be(caller.SpanId, "the start request's parentTraceContext is its parent");
        create.GetTagItem("durabletask.type").Should().Be("orchestration");
        create.GetTagItem("durabletask.task.name").Should().Be("Traced");
        create.GetTagItem("durabletask.task.instance_id").Should().Be(id);

        var orchestration = Span("orchestration||Traced");
        orchestration.Kind.Should().Be(ActivityKind.Server);
        orchestration.ParentSpanId.Should().Be(create.SpanId, "ExecutionStarted keeps the create_orchestration span's context");
        orchestration.GetTagItem("durabletask.task.instance_id").Should().Be(id);
        orchestration.GetTagItem("durabletask.runtime_status").Should().Be("COMPLETED");

        var activity = Span("activity||Probe");
        activity.Kind.Should().Be(ActivityKind.Server);
        activity.ParentSpanId.Should().Be(orchestration.SpanId, "what the workflow schedules carries the orchestration span");
        activity.GetTagItem("durabletask.type").Should().Be("activity");
        activity.GetTagItem("durabletask.task.task_id").Should().Be(1L, "the timer is task 0, the activity task 1");
        activity.GetTagItem("durabletask.task.instance_id").Should().Be(id);

        var timer = Span("timer");
        timer.Kind.Should().Be(ActivityKind.Internal);
        timer.ParentSpanId.Should().Be(orchestration.SpanId);
        timer.GetTagItem("durabletask.task.task_id").Should().Be(0L);

        orchestration.StartTimeUtc.Should().BeOnOrBefore(timer.StartTimeUtc, "the orchestration span covers the instance's life");
        (orchestration.StartTimeUtc + orchestration.Duration).Should().BeOnOrAfter(activity.StartTimeUtc + activity.Duration);

        Span("WorkflowActivity Probe").ParentSpanId.Should().Be(activity.SpanId, "the worker's activity span is the child of daprd's");
    }
}
