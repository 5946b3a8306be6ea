using Dapr.Workflow;
using Dapr.Workflow.Client;
using DevSidecar.Tests.Conformance.Harness;

namespace DevSidecar.Tests.Workflow;

// Feature 2: fan-out/fan-in. N activities scheduled in one turn, awaited with Task.WhenAll, results aggregated.
public sealed class FanOutFanInTests
{
    [Fact]
    public async Task All_activities_are_scheduled_at_once_each_runs_once_and_the_results_are_aggregated()
    {
        const int N = 10;
        await using var harness = await Harness.StartAsync();
        var calls = new CallLog();
        await using var app = await WorkflowWorkerHost.StartAsync(harness.Sidecar.GrpcPort, o =>
        {
            o.RegisterWorkflow<int, int>("FanOut", async (context, n) =>
            {
                var squares = Enumerable.Range(1, n).Select(i => context.CallActivityAsync<int>("Square", i)).ToList();
                var results = await Task.WhenAll(squares);
                return results.Sum();
            });
            o.RegisterActivity<int, int>("Square", (_, i) => { calls.Add(i.ToString(System.Globalization.CultureInfo.InvariantCulture)); return Task.FromResult(i * i); });
        });

        var id = await app.Client.ScheduleNewWorkflowAsync("FanOut", "fan-1", N).Within("ScheduleNewWorkflowAsync");
        var state = await app.Client.CompletionAsync(id);

        state.RuntimeStatus.Should().Be(WorkflowRuntimeStatus.Completed, WorkflowWaits.Describe(state));
        state.ReadOutputAs<int>().Should().Be(Enumerable.Range(1, N).Sum(i => i * i));
        calls.All.Should().BeEquivalentTo(Enumerable.Range(1, N).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            "every activity runs exactly once");

        // Fan-out: every activity was scheduled (in the first turn) before any result came back.
        var history = await app.Client.GetInstanceHistoryAsync(id);
        var scheduled = history.Where(e => e.EventType == WorkflowHistoryEventType.TaskScheduled).ToList();
        scheduled.Select(e => e.EventId).Should().BeEquivalentTo(Enumerable.Range(0, N));
        history.Count(e => e.EventType == WorkflowHistoryEventType.TaskCompleted).Should().Be(N);
        var lastScheduled = history.ToList().FindLastIndex(e => e.EventType == WorkflowHistoryEventType.TaskScheduled);
        var firstCompleted = history.ToList().FindIndex(e => e.EventType == WorkflowHistoryEventType.TaskCompleted);
        lastScheduled.Should().BeLessThan(firstCompleted, "the N activities are scheduled together, not one after another");
    }
}
