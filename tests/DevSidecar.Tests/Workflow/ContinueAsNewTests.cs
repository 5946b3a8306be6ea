using Dapr.Workflow;
using Dapr.Workflow.Client;
using DevSidecar.Tests.Conformance.Harness;

namespace DevSidecar.Tests.Workflow;

// Feature 6: continue-as-new, the monitor pattern. Each generation does its work, sleeps on a durable timer and
// continues as new with the next input; the instance keeps its id, and its state and history are the last generation's.
public sealed class ContinueAsNewTests
{
    [Fact]
    public async Task A_counter_continues_as_new_N_times_and_the_instance_shows_only_its_last_generation()
    {
        const int N = 4;
        await using var harness = await Harness.StartAsync();
        var checks = new CallLog();
        await using var app = await WorkflowWorkerHost.StartAsync(harness.Sidecar.GrpcPort, o =>
        {
            o.RegisterWorkflow<int, int>("Monitor", async (context, generation) =>
            {
                await context.CallActivityAsync<int>("Check", generation);
                if (generation < N)
                {
                    await context.CreateTimer(TimeSpan.FromMilliseconds(100));
                    context.ContinueAsNew(generation + 1);
                    return -1; // ignored: the instance goes on as generation + 1
                }
                await context.WaitForExternalEventAsync<string>("Stop");
                return generation;
            });
            o.RegisterActivity<int, int>("Check", (_, g) => { checks.Add(g.ToString(System.Globalization.CultureInfo.InvariantCulture)); return Task.FromResult(g); });
        });

        var id = await app.Client.ScheduleNewWorkflowAsync("Monitor", "monitor-1", 0).Within("ScheduleNewWorkflowAsync");

        // The last generation waits for Stop: the instance, still running under its own id, is that generation.
        var last = await app.Client.StateAsync(id, s => s.RuntimeStatus == WorkflowRuntimeStatus.Running && s.ReadInputAs<int>() == N,
            $"running generation {N}");
        last.ReadInputAs<int>().Should().Be(N);
        var history = await app.Client.HistoryTypesAsync(id);
        history.Count(t => t == WorkflowHistoryEventType.ExecutionStarted).Should().Be(1, "continue-as-new starts the history afresh");
        history.Count(t => t == WorkflowHistoryEventType.TaskScheduled).Should().Be(1, "only this generation's activity is in its history");
        history.Should().NotContain(WorkflowHistoryEventType.TimerCreated, "the earlier generations' timers are gone with their history");

        await app.Client.RaiseEventAsync(id, "Stop", "now").Within("RaiseEventAsync");
        var state = await app.Client.CompletionAsync(id);

        state.RuntimeStatus.Should().Be(WorkflowRuntimeStatus.Completed, WorkflowWaits.Describe(state));
        state.ReadOutputAs<int>().Should().Be(N);
        state.ReadInputAs<int>().Should().Be(N);
        checks.All.Should().Equal(Enumerable.Range(0, N + 1).Select(g => g.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            "each generation ran its activity once, in order");
    }
}
