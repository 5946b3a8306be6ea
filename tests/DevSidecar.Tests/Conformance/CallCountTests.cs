using System.Net.Http.Json;
using Dapr.Client;
using Dapr.Workflow;
using DevSidecar.Hosting;
using DevSidecar.Tests.Conformance.Harness;
using K = DevSidecar.Hosting.CallCounts.Kinds;

namespace DevSidecar.Tests.Conformance;

// Not a Dapr API: the dev sidecar's call counter (tools/DevSidecar/Hosting/CallCounts.cs), which the bench reads to
// report the order flow's calls per order. Each call of the app must be counted once, under its kind, on both APIs.
public sealed class CallCountTests
{
    /// <summary>Runs <paramref name="call"/> and returns what the sidecar counted meanwhile (kinds with a non-zero count).</summary>
    private static async Task<Dictionary<string, long>> CountedAsync(Sidecar sidecar, Func<Task> call)
    {
        var before = sidecar.Calls.Snapshot();
        await call();
        return sidecar.Calls.Snapshot().Select(kv => (kv.Key, Delta: kv.Value - before.GetValueOrDefault(kv.Key)))
            .Where(x => x.Delta != 0).ToDictionary(x => x.Key, x => x.Delta);
    }

    [Fact]
    public async Task Each_state_publish_and_invoke_call_counts_once_under_its_kind_on_gRPC_and_HTTP()
    {
        await using var h = await Harness.Harness.StartAsync();
        var dapr = h.Dapr;
        const string store = TestApp.Store;
        var http = h.Http;

        (await CountedAsync(h.Sidecar, () => dapr.SaveStateAsync(store, "k", "v"))).Should().Equal(new Dictionary<string, long> { [K.StateSave] = 1 });
        (await CountedAsync(h.Sidecar, () => dapr.GetStateAsync<string>(store, "k"))).Should().Equal(new Dictionary<string, long> { [K.StateGet] = 1 });
        (await CountedAsync(h.Sidecar, () => dapr.GetBulkStateAsync(store, ["k", "j"], 0))).Should().Equal(new Dictionary<string, long> { [K.StateBulkGet] = 1 });
        (await CountedAsync(h.Sidecar, () => dapr.ExecuteStateTransactionAsync(store,
            [new StateTransactionRequest("t", "\"v\""u8.ToArray(), StateOperationType.Upsert)])))
            .Should().Equal(new Dictionary<string, long> { [K.StateTransaction] = 1 });
        (await CountedAsync(h.Sidecar, () => dapr.DeleteStateAsync(store, "k"))).Should().Equal(new Dictionary<string, long> { [K.StateDelete] = 1 });
        (await CountedAsync(h.Sidecar, () => dapr.PublishEventAsync(TestApp.PubSub, "nobody-listens", new { n = 1 })))
            .Should().Equal(new Dictionary<string, long> { [K.Publish] = 1 });

        (await CountedAsync(h.Sidecar, async () => (await http.PostAsJsonAsync($"v1.0/state/{store}", new[] { new { key = "h", value = 1 } })).EnsureSuccessStatusCode()))
            .Should().Equal(new Dictionary<string, long> { [K.StateSave] = 1 });
        (await CountedAsync(h.Sidecar, async () => (await http.GetAsync($"v1.0/state/{store}/h")).EnsureSuccessStatusCode()))
            .Should().Equal(new Dictionary<string, long> { [K.StateGet] = 1 });
        (await CountedAsync(h.Sidecar, async () => (await http.PostAsJsonAsync($"v1.0/state/{store}/bulk", new { keys = new[] { "h" } })).EnsureSuccessStatusCode()))
            .Should().Equal(new Dictionary<string, long> { [K.StateBulkGet] = 1 });
        (await CountedAsync(h.Sidecar, async () => (await http.PostAsJsonAsync($"v1.0/state/{store}/transaction",
                new { operations = new[] { new { operation = "delete", request = new { key = "h" } } } })).EnsureSuccessStatusCode()))
            .Should().Equal(new Dictionary<string, long> { [K.StateTransaction] = 1 });
        (await CountedAsync(h.Sidecar, async () => (await http.DeleteAsync($"v1.0/state/{store}/h")).EnsureSuccessStatusCode()))
            .Should().Equal(new Dictionary<string, long> { [K.StateDelete] = 1 });
        (await CountedAsync(h.Sidecar, async () => (await http.PostAsJsonAsync($"v1.0/publish/{TestApp.PubSub}/nobody-listens", new { n = 2 })).EnsureSuccessStatusCode()))
            .Should().Equal(new Dictionary<string, long> { [K.Publish] = 1 });
        (await CountedAsync(h.Sidecar, () => http.GetAsync($"v1.0/invoke/{h.AppId}/method/no-such-method")))
            .Should().Equal(new Dictionary<string, long> { [K.Invoke] = 1 });

        // The sidecar's own APIs are not the app's calls.
        (await CountedAsync(h.Sidecar, async () =>
        {
            await http.GetAsync("v1.0/metadata");
            await http.GetAsync("v1.0/healthz");
            await http.GetAsync(CallCounts.Route.TrimStart('/'));
        })).Should().BeEmpty();
    }

    [Fact]
    public async Task A_delivery_counts_once_beside_the_publish_and_the_dev_API_reports_the_counts()
    {
        await using var h = await Harness.Harness.StartAsync();
        var marker = Guid.NewGuid().ToString("N");
        var counted = await CountedAsync(h.Sidecar, async () =>
        {
            await h.Dapr.PublishEventAsync(TestApp.PubSub, "orders", new { marker });
            await Wait.UntilAsync(() => h.RequireApp.At("/orders", marker).Count == 1, "the event to reach the app");
            await Wait.UntilAsync(() => h.Sidecar.Calls.Snapshot().ContainsKey(K.Delivery), "the delivery to be counted");
        });
        counted.Should().Equal(new Dictionary<string, long> { [K.Publish] = 1, [K.Delivery] = 1 });

        var reported = await h.Http.GetFromJsonAsync<Dictionary<string, long>>(CallCounts.Route.TrimStart('/'));
        reported.Should().Equal(h.Sidecar.Calls.Snapshot());
    }

    [Fact]
    public async Task Workflow_calls_and_the_workers_completions_count_under_their_own_kinds()
    {
        await using var h = await Harness.Harness.StartAsync();
        await using var app = await WorkflowWorkerHost.StartAsync(h.Sidecar.GrpcPort, o =>
        {
            o.RegisterWorkflow<string, string>("OneStepThenWait", async (context, input) =>
            {
                var step = await context.CallActivityAsync<string>("Step", input);
                return step + await context.WaitForExternalEventAsync<string>("Go");
            });
            o.RegisterActivity<string, string>("Step", (_, input) => Task.FromResult(input + "!"));
        });

        var id = "counted-" + Guid.NewGuid().ToString("N")[..8];
        var started = await CountedAsync(h.Sidecar, async () =>
        {
            await app.Client.ScheduleNewWorkflowAsync("OneStepThenWait", id, "a");
            // Turn 1 schedules the activity, the activity completes, turn 2 starts waiting for the event.
            await Wait.UntilAsync(() => h.Sidecar.Calls.Snapshot().GetValueOrDefault(K.WorkflowTurnCompleted) >= 2, "two turns");
        });
        started.GetValueOrDefault(K.WorkflowStart).Should().Be(1);
        started.GetValueOrDefault(K.WorkflowActivityCompleted).Should().Be(1);
        started.GetValueOrDefault(K.WorkflowTurnCompleted).Should().Be(2);

        (await CountedAsync(h.Sidecar, () => app.Client.GetWorkflowStateAsync(id)))
            .Should().Equal(new Dictionary<string, long> { [K.WorkflowGet] = 1 });

        var raised = await CountedAsync(h.Sidecar, async () =>
        {
            await app.Client.RaiseEventAsync(id, "Go", "go");
            await Wait.UntilAsync(() => h.Sidecar.Calls.Snapshot().GetValueOrDefault(K.WorkflowTurnCompleted) >= 3, "the last turn");
        });
        raised.Should().Equal(new Dictionary<string, long> { [K.WorkflowRaise] = 1, [K.WorkflowTurnCompleted] = 1 });
    }
}
