using Dapr.Workflow;
using Dapr.Workflow.Client;
using DevSidecar.Tests.Conformance.Harness;
using Grpc.Core;

namespace DevSidecar.Tests.Workflow;

// Feature 10: patch versioning (context.IsPatched). The SDK answers true for a patch met outside replay and records it
// in the turn's response (WorkflowResponse.version); the engine keeps it on that turn's OrchestratorStarted event, so on
// replay the SDK answers from history: true where it was recorded, false for instances that ran that code before the
// patch existed. daprd (v1.17.9 orchestrator/versioning.go) stalls an instance whose history patches are not a prefix
// of the patches a replay reports: the turn is discarded and the instance is STALLED.
public sealed class PatchVersioningTests : IDisposable
{
    private const string Patch = "new-path";
    private readonly TempFolder _folder = new("devsidecar-wf-patching-");

    /// <summary>Code before the patch: it never asks.</summary>
    private static Func<WorkflowContext, string, Task<string>> Unpatched() => async (context, _) =>
    {
        await context.CallActivityAsync<string>("Note", "no patch yet");
        await context.WaitForExternalEventAsync<string>("Go");
        return "old path";
    };

    /// <summary>Code with the patch: new instances take the new path, instances begun before it keep the old one.</summary>
    private static Func<WorkflowContext, string, Task<string>> Patched() => async (context, _) =>
    {
        var patched = context.IsPatched(Patch);
        await context.CallActivityAsync<string>("Note", patched ? "patched" : "unpatched");
        await context.WaitForExternalEventAsync<string>("Go");
        return patched ? "new path" : "old path";
    };

    private static Task<WorkflowWorkerHost> WorkerAsync(int grpcPort, CallLog notes, Func<WorkflowContext, string, Task<string>> code) =>
        WorkflowWorkerHost.StartAsync(grpcPort, o =>
        {
            o.RegisterWorkflow("Versioned", code);
            o.RegisterActivity<string, string>("Note", (_, note) => { notes.Add(note); return Task.FromResult(note); });
        });

    /// <summary>Waits until the instance's activity result is in its history: it is now waiting for Go.</summary>
    private static Task WaitingForGoAsync(DaprWorkflowClient client, string id) =>
        Wait.UntilAsync(async () => (await client.HistoryTypesAsync(id)).Contains(WorkflowHistoryEventType.TaskCompleted),
            $"{id} to have its activity result in history");

    [Fact]
    public async Task IsPatched_answers_from_history_on_every_replay_also_after_a_sidecar_restart()
    {
        var appId = Harness.NewAppId("patching");
        var yaml = ComponentYaml.Of("statestore", "state.sqlite", ("connectionString", $"file:{_folder.Combine("state.db")}"), ("actorStateStore", "true"));
        var notes = new CallLog();

        await using (var first = Harness.ClusterWith(yaml))
        {
            var sidecar = await first.StartSidecarAsync(appId, appPort: null);
            // An instance begun by the code before the patch...
            await using (var before = await WorkerAsync(sidecar.GrpcPort, notes, Unpatched()))
            {
                await before.Client.ScheduleNewWorkflowAsync("Versioned", "begun-unpatched", "").Within("ScheduleNewWorkflowAsync");
                await WaitingForGoAsync(before.Client, "begun-unpatched");
            }
            // ... and one begun by the patched code.
            await using (var after = await WorkerAsync(sidecar.GrpcPort, notes, Patched()))
            {
                await after.Client.ScheduleNewWorkflowAsync("Versioned", "begun-patched", "").Within("ScheduleNewWorkflowAsync");
                await WaitingForGoAsync(after.Client, "begun-patched");
            }
        }
        notes.All.Should().Equal("no patch yet", "patched");

        // The sidecar restarts on the same SQLite store; the patched code replays both instances from their history.
        await using var second = Harness.ClusterWith(yaml);
        var restarted = await second.StartSidecarAsync(appId, appPort: null);
        await using var worker = await WorkerAsync(restarted.GrpcPort, notes, Patched());
        await worker.Client.RaiseEventAsync("begun-unpatched", "Go", "").Within("RaiseEventAsync");
        await worker.Client.RaiseEventAsync("begun-patched", "Go", "").Within("RaiseEventAsync");

        var unpatched = await worker.Client.CompletionAsync("begun-unpatched");
        var patched = await worker.Client.CompletionAsync("begun-patched");
        unpatched.RuntimeStatus.Should().Be(WorkflowRuntimeStatus.Completed, WorkflowWaits.Describe(unpatched));
        unpatched.ReadOutputAs<string>().Should().Be("old path", "its history has no patch: IsPatched is false on replay");
        patched.RuntimeStatus.Should().Be(WorkflowRuntimeStatus.Completed, WorkflowWaits.Describe(patched));
        patched.ReadOutputAs<string>().Should().Be("new path", "its history records the patch: IsPatched stays true after the restart");
        notes.All.Should().Equal(["no patch yet", "patched"], "replays do not run the activities again");
    }

    [Fact]
    public async Task Code_that_drops_a_patch_recorded_in_history_leaves_the_instance_STALLED()
    {
        await using var harness = await Harness.StartAsync();
        var notes = new CallLog();
        const string Id = "drops-patch";
        await using (var patchedWorker = await WorkerAsync(harness.Sidecar.GrpcPort, notes, Patched()))
        {
            await patchedWorker.Client.ScheduleNewWorkflowAsync("Versioned", Id, "").Within("ScheduleNewWorkflowAsync");
            await WaitingForGoAsync(patchedWorker.Client, Id);
        }

        // The code is redeployed without the patch: replaying reports no patch where history has one.
        await using var worker = await WorkerAsync(harness.Sidecar.GrpcPort, notes, Unpatched());
        await worker.Client.RaiseEventAsync(Id, "Go", "").Within("RaiseEventAsync");

        var stalled = await worker.Client.StateAsync(Id, s => s.RuntimeStatus == WorkflowRuntimeStatus.Stalled || s.IsWorkflowCompleted,
            "the turn with the mismatch to be answered");
        stalled.RuntimeStatus.Should().Be(WorkflowRuntimeStatus.Stalled, WorkflowWaits.Describe(stalled));
        stalled.ReadOutputAs<string>().Should().BeNull("the mismatching turn is discarded, its completion included");
        var history = await worker.Client.GetInstanceHistoryAsync(Id);
        history[^1].EventType.Should().Be(WorkflowHistoryEventType.ExecutionStalled);
        history.Should().NotContain(e => e.EventType == WorkflowHistoryEventType.ExecutionCompleted);
        // daprd's HTTP API has no name for STALLED (dapr v1.17.9 pkg/runtime/wfengine/client.go).
        using (var response = await harness.Http.GetAsync($"/v1.0/workflows/dapr/{Id}"))
            System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement
                .GetProperty("runtimeStatus").GetString().Should().Be("UNKNOWN");
        // A stalled instance refuses new events (v1.17.9 orchestrator/add.go: "workflow is stalled").
        var raise = await FluentActions.Awaiting(() => worker.Client.RaiseEventAsync(Id, "Go", "again").Within("RaiseEventAsync"))
            .Should().ThrowAsync<RpcException>();
        raise.Which.Status.Detail.Should().Contain("stalled");
    }

    public void Dispose() => _folder.Dispose();
}
