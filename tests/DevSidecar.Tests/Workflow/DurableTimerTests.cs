using Dapr.Workflow;
using Dapr.Workflow.Client;
using DevSidecar.Tests.Conformance.Harness;

namespace DevSidecar.Tests.Workflow;

// Feature 4: durable timers. The workflow resumes only once its timer is due, measured on the workflow's own clock
// (context.CurrentUtcDateTime is the timestamp of the turn's OrchestratorStarted event), not on a wall clock here.
public sealed class DurableTimerTests
{
    public sealed record TimerReport(DateTime Before, DateTime FireAt, DateTime After);

    /// <summary>
    /// daprd schedules a workflow timer as a reminder whose due time is fireAt formatted as RFC 3339 with whole seconds
    /// (dapr v1.17.9 pkg/actors/targets/workflow/orchestrator/timer.go), so it may fire up to a second before fireAt,
    /// never before fireAt truncated to the second. That is the bound asserted.
    /// </summary>
    private static DateTime TruncatedToSecond(DateTime t) => new(t.Ticks - t.Ticks % TimeSpan.TicksPerSecond, t.Kind);

    [Fact]
    public async Task CreateTimer_resumes_the_workflow_only_once_the_delay_has_passed_on_its_own_clock()
    {
        var delay = TimeSpan.FromMilliseconds(1500);
        await using var harness = await Harness.StartAsync();
        await using var app = await WorkflowWorkerHost.StartAsync(harness.Sidecar.GrpcPort, o =>
            o.RegisterWorkflow<int, TimerReport>("Sleeper", async (context, ms) =>
            {
                var before = context.CurrentUtcDateTime;
                var fireAt = before.AddMilliseconds(ms);
                await context.CreateTimer(TimeSpan.FromMilliseconds(ms));
                return new TimerReport(before, fireAt, context.CurrentUtcDateTime);
            }));

        var id = await app.Client.ScheduleNewWorkflowAsync("Sleeper", "sleeper-1", (int)delay.TotalMilliseconds).Within("ScheduleNewWorkflowAsync");
        var state = await app.Client.CompletionAsync(id);

        state.RuntimeStatus.Should().Be(WorkflowRuntimeStatus.Completed, WorkflowWaits.Describe(state));
        var report = state.ReadOutputAs<TimerReport>()!;
        report.FireAt.Should().Be(report.Before + delay);
        report.After.Should().BeOnOrAfter(TruncatedToSecond(report.FireAt), "the turn after the timer starts no earlier than the timer is due");

        // The timer is durable: it is in the history as created, then fired, and the fired event is not early either.
        var history = await app.Client.GetInstanceHistoryAsync(id);
        var types = history.Select(e => e.EventType).ToList();
        types.Should().ContainInOrder(WorkflowHistoryEventType.TimerCreated, WorkflowHistoryEventType.TimerFired);
        types.Count(t => t == WorkflowHistoryEventType.TimerFired).Should().Be(1);
        history.Single(e => e.EventType == WorkflowHistoryEventType.TimerFired).Timestamp.Should().BeOnOrAfter(TruncatedToSecond(report.FireAt));
    }
}
