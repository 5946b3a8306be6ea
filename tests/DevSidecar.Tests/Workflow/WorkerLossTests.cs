using System.Threading.Channels;
using Dapr.DurableTask.Protobuf;
using DevSidecar.Resources;
using DevSidecar.State;
using DevSidecar.Workflow;
using Grpc.Core;
using Microsoft.Extensions.Logging.Abstractions;

namespace DevSidecar.Tests.Workflow;

// A worker that dies while the engine is applying its results. daprd hands a worker's result to the workflow actor
// that waits for it, which applies it in its own context; only work the worker had not answered is sent again
// (durabletask-go v0.11.5 backend/executor.go: CompleteActivityTask, and GetWorkItems' clean-up of pending work).
// Driven at the engine, with a store whose saves wait for the test, so the worker dies at a chosen moment.
public sealed class WorkerLossTests
{
    [Fact]
    public async Task Results_a_worker_sent_before_it_died_count_even_while_the_engine_was_still_saving()
    {
        var store = new GatedStore();
        await using var engine = new WorkflowEngine("app", store, NullLogger.Instance);
        await engine.StartAsync(new CreateInstanceRequest { InstanceId = "i1", Name = "Twin" }, null, null, CancellationToken.None);

        using var killed = new CancellationTokenSource();
        var first = new Worker();
        var firstStream = engine.StreamWorkItemsAsync(first, killed.Token);
        (await first.NextAsync()).WorkflowRequest.InstanceId.Should().Be("i1");
        // The workflow's first turn schedules two activities at once, as the order workflow does (record + command).
        await engine.CompleteWorkflowAsync(new WorkflowResponse
        {
            InstanceId = "i1",
            Actions =
            {
                new WorkflowAction { Id = 0, ScheduleTask = new ScheduleTaskAction { Name = "A" } },
                new WorkflowAction { Id = 1, ScheduleTask = new ScheduleTaskAction { Name = "B" } },
            },
        });
        (await first.NextAsync()).ActivityRequest.Should().NotBeNull();
        (await first.NextAsync()).ActivityRequest.Should().NotBeNull();

        // Both answers arrive together: A's save is held, so B's waits behind it; then the worker is killed.
        store.Hold();
        var a = engine.CompleteActivityAsync(new ActivityResponse { InstanceId = "i1", TaskId = 0, Result = "\"a\"" });
        await store.Held.Within("A's result to reach the store");
        var b = engine.CompleteActivityAsync(new ActivityResponse { InstanceId = "i1", TaskId = 1, Result = "\"b\"" });
        await killed.CancelAsync();
        await firstStream.Within("the dead worker's stream to end");
        store.Release();
        await Task.WhenAll(a, b).Within("both results to be applied");

        // The next worker gets the results in turns (A's result started one before B's arrived), and no activity again.
        var second = new Worker();
        using var stop = new CancellationTokenSource();
        var secondStream = engine.StreamWorkItemsAsync(second, stop.Token);
        var results = new List<string>();
        while (results.Count < 2)
        {
            var next = await second.NextAsync();
            next.RequestCase.Should().Be(WorkItem.RequestOneofCase.WorkflowRequest, "both results were applied, so no activity is sent again");
            results.AddRange(next.WorkflowRequest.NewEvents.Where(e => e.TaskCompleted is not null).Select(e => e.TaskCompleted.Result));
            await engine.CompleteWorkflowAsync(new WorkflowResponse { InstanceId = "i1" }); // still waiting for the other
        }
        results.Should().BeEquivalentTo(["\"a\"", "\"b\""]);
        await stop.CancelAsync();
        await secondStream.Within("the second worker's stream to end");
    }

    [Fact]
    public async Task A_turn_result_a_dead_worker_sends_late_is_not_taken_for_a_later_turn()
    {
        await using var engine = new WorkflowEngine("app", new GatedStore(), NullLogger.Instance);
        await engine.StartAsync(new CreateInstanceRequest { InstanceId = "i2", Name = "Late" }, null, null, CancellationToken.None);
        var schedule = new WorkflowAction { Id = 0, ScheduleTask = new ScheduleTaskAction { Name = "A" } };

        // The first worker gets turn 1 and dies before its result arrives; the turn goes to the next worker.
        using var killed = new CancellationTokenSource();
        var first = new Worker();
        var firstStream = engine.StreamWorkItemsAsync(first, killed.Token);
        var turn1 = (await first.NextAsync()).CompletionToken;
        await killed.CancelAsync();
        await firstStream.Within("the dead worker's stream to end");
        var second = new Worker();
        using var stop = new CancellationTokenSource();
        var secondStream = engine.StreamWorkItemsAsync(second, stop.Token);
        (await second.NextAsync()).CompletionToken.Should().Be(turn1, "the same turn, given to the next worker");

        // The second worker runs turn 1 and the activity; turn 2 is out when the dead worker's result for turn 1 lands.
        await engine.CompleteWorkflowAsync(new WorkflowResponse { InstanceId = "i2", CompletionToken = turn1, Actions = { schedule } });
        (await second.NextAsync()).ActivityRequest.TaskId.Should().Be(0);
        await engine.CompleteActivityAsync(new ActivityResponse { InstanceId = "i2", TaskId = 0, Result = "\"a\"" });
        var turn2 = (await second.NextAsync()).CompletionToken;
        turn2.Should().NotBe(turn1);
        await engine.CompleteWorkflowAsync(new WorkflowResponse { InstanceId = "i2", CompletionToken = turn1, Actions = { schedule } });

        // Turn 2's own result still counts: the workflow completes, with the activity scheduled once.
        await engine.CompleteWorkflowAsync(new WorkflowResponse
        {
            InstanceId = "i2", CompletionToken = turn2,
            Actions = { new WorkflowAction { Id = 1, CompleteWorkflow = new CompleteWorkflowAction { WorkflowStatus = OrchestrationStatus.Completed, Result = "\"done\"" } } },
        });
        var instance = engine.Get("i2");
        instance.Status.Should().Be(OrchestrationStatus.Completed);
        instance.History.Count(e => e.TaskScheduled is not null).Should().Be(1);
        await stop.CancelAsync();
        await secondStream.Within("the second worker's stream to end");
    }

    /// <summary>A worker's end of the work item stream.</summary>
    private sealed class Worker : IServerStreamWriter<WorkItem>
    {
        private readonly Channel<WorkItem> _items = Channel.CreateUnbounded<WorkItem>();

        public WriteOptions? WriteOptions { get; set; }

        public Task WriteAsync(WorkItem message) => _items.Writer.WriteAsync(message).AsTask();

        public Task WriteAsync(WorkItem message, CancellationToken cancellationToken) => _items.Writer.WriteAsync(message, cancellationToken).AsTask();

        public Task<WorkItem> NextAsync() => _items.Reader.ReadAsync().AsTask().Within("the next work item");
    }

    /// <summary>An in-memory store whose writes can be held until the test lets them go.</summary>
    private sealed class GatedStore : IStateStore
    {
        private readonly InMemoryStateStore _inner = new(new ComponentSpec("wf", "state.in-memory", "v1", new Dictionary<string, string>(), [], "wf.yaml"));
        private TaskCompletionSource _gate = Open();
        private readonly TaskCompletionSource _held = new(TaskCreationOptions.RunContinuationsAsynchronously);

        private static TaskCompletionSource Open()
        {
            var open = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            open.SetResult();
            return open;
        }

        public Task Held => _held.Task;
        public void Hold() => _gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        public void Release() => _gate.TrySetResult();

        public ComponentSpec Spec => _inner.Spec;
        public IReadOnlyList<string> Features => _inner.Features;
        public Task<StoredItem?> GetAsync(string key, CancellationToken cancellationToken) => _inner.GetAsync(key, cancellationToken);

        public async Task WriteAsync(StateWrite write, CancellationToken cancellationToken)
        {
            if (!_gate.Task.IsCompleted) _held.TrySetResult();
            await _gate.Task.WaitAsync(cancellationToken);
            await _inner.WriteAsync(write, cancellationToken);
        }

        public Task MultiAsync(IReadOnlyList<StateWrite> writes, CancellationToken cancellationToken) => _inner.MultiAsync(writes, cancellationToken);
        public ValueTask DisposeAsync() => _inner.DisposeAsync();
    }
}
