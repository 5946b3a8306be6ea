using Dapr.Workflow;
using Dapr.Workflow.Client;
using DevSidecar.Tests.Conformance.Harness;
using Grpc.Core;

namespace DevSidecar.Tests.Workflow;

// Feature 11: DaprWorkflowClient.ListInstanceIdsAsync (paged by pageSize and an opaque continuation token) and
// GetInstanceHistoryAsync (the persisted history, in order).
public sealed class ListAndHistoryTests
{
    private static void Register(WorkflowRuntimeOptions o)
    {
        o.RegisterWorkflow<string, string>("Echo", (_, input) => Task.FromResult(input));
        o.RegisterWorkflow<string, string>("TwoSteps", async (context, input) =>
        {
            var a = await context.CallActivityAsync<string>("Upper", input);
            return await context.CallActivityAsync<string>("Upper", a + "-b");
        });
        o.RegisterActivity<string, string>("Upper", (_, s) => Task.FromResult(s.ToUpperInvariant()));
    }

    [Fact]
    public async Task ListInstanceIdsAsync_lists_every_instance_once_across_pages()
    {
        await using var harness = await Harness.StartAsync();
        await using var app = await WorkflowWorkerHost.StartAsync(harness.Sidecar.GrpcPort, Register);
        var ids = Enumerable.Range(1, 5).Select(i => $"listed-{i}").ToList();
        foreach (var id in ids) await app.Client.ScheduleNewWorkflowAsync("Echo", id, id).Within("ScheduleNewWorkflowAsync");
        foreach (var id in ids) (await app.Client.CompletionAsync(id)).RuntimeStatus.Should().Be(WorkflowRuntimeStatus.Completed);

        var all = await app.Client.ListInstanceIdsAsync().Within("ListInstanceIdsAsync");
        all.InstanceIds.Should().BeEquivalentTo(ids, "without a page size every instance is listed");
        all.ContinuationToken.Should().BeNull();

        var paged = new List<string>();
        var pages = 0;
        string? token = null;
        do
        {
            var page = await app.Client.ListInstanceIdsAsync(token, pageSize: 2).Within("ListInstanceIdsAsync page");
            page.InstanceIds.Count.Should().BeLessThanOrEqualTo(2);
            paged.AddRange(page.InstanceIds);
            token = page.ContinuationToken;
            pages++;
            pages.Should().BeLessThan(10, "the continuation tokens must lead to the end");
        }
        while (token is not null);

        paged.Should().OnlyHaveUniqueItems().And.BeEquivalentTo(ids);
        pages.Should().BeGreaterThanOrEqualTo(3);
    }

    [Fact]
    public async Task GetInstanceHistoryAsync_returns_the_history_turn_by_turn()
    {
        await using var harness = await Harness.StartAsync();
        await using var app = await WorkflowWorkerHost.StartAsync(harness.Sidecar.GrpcPort, Register);
        var id = await app.Client.ScheduleNewWorkflowAsync("TwoSteps", "history-1", "a").Within("ScheduleNewWorkflowAsync");
        (await app.Client.CompletionAsync(id)).ReadOutputAs<string>().Should().Be("A-B");

        var history = await app.Client.GetInstanceHistoryAsync(id).Within("GetInstanceHistoryAsync");

        // daprd: each turn appends OrchestratorStarted and the events it delivered, then the events of the
        // worker's actions; no OrchestratorCompleted is ever written.
        history.Select(e => e.EventType).Should().Equal(
            WorkflowHistoryEventType.OrchestratorStarted, WorkflowHistoryEventType.ExecutionStarted, WorkflowHistoryEventType.TaskScheduled,
            WorkflowHistoryEventType.OrchestratorStarted, WorkflowHistoryEventType.TaskCompleted, WorkflowHistoryEventType.TaskScheduled,
            WorkflowHistoryEventType.OrchestratorStarted, WorkflowHistoryEventType.TaskCompleted, WorkflowHistoryEventType.ExecutionCompleted);
        history.Where(e => e.EventType == WorkflowHistoryEventType.TaskScheduled).Select(e => e.EventId).Should().Equal(0, 1);
        // Each turn is stamped when it starts (events it delivers may be older: they are stamped when they arrived).
        history.Where(e => e.EventType == WorkflowHistoryEventType.OrchestratorStarted).Select(e => e.Timestamp).Should().BeInAscendingOrder();

        // An unknown instance: gRPC NotFound ("workflow instance 'nope' not found" in daprd).
        var missing = await FluentActions.Awaiting(() => app.Client.GetInstanceHistoryAsync("no-such-instance").Within("GetInstanceHistoryAsync"))
            .Should().ThrowAsync<RpcException>();
        missing.Which.StatusCode.Should().Be(StatusCode.NotFound);
    }
}
