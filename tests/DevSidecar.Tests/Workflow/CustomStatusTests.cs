using System.Text.Json;
using Dapr.Workflow;
using DevSidecar.Tests.Conformance.Harness;

namespace DevSidecar.Tests.Workflow;

// Feature 9: custom status. Each turn's response carries the custom status the workflow code holds at its end
// (Dapr.Workflow 1.19 re-runs the code from the start on every turn, so an earlier SetCustomStatus is replayed);
// the engine replaces the stored value with it on every turn (durabletask-go v0.11.5 applier.go:
// `s.CustomStatus = customStatus`). SetCustomStatus(null) makes the SDK send none, which clears it.
public sealed class CustomStatusTests
{
    [Fact]
    public async Task The_custom_status_is_replaced_on_every_turn_and_cleared_by_SetCustomStatus_null()
    {
        await using var harness = await Harness.StartAsync();
        var marks = new CallLog();
        await using var app = await WorkflowWorkerHost.StartAsync(harness.Sidecar.GrpcPort, o =>
        {
            o.RegisterWorkflow<string, string>("Stepper", async (context, _) =>
            {
                context.SetCustomStatus("step-1");
                await context.WaitForExternalEventAsync<string>("Next");
                context.SetCustomStatus(new { step = 2 });
                await context.WaitForExternalEventAsync<string>("Next");
                context.SetCustomStatus(null);
                await context.CallActivityAsync<string>("Mark", "cleared");
                await context.WaitForExternalEventAsync<string>("Next");
                return "done";
            });
            o.RegisterActivity<string, string>("Mark", (_, value) => { marks.Add(value); return Task.FromResult(value); });
        });

        var id = await app.Client.ScheduleNewWorkflowAsync("Stepper", "status-1", "").Within("ScheduleNewWorkflowAsync");
        await app.Client.StateAsync(id, s => s.ReadCustomStatusAs<string>() == "step-1", "custom status step-1");
        (await HttpCustomStatusAsync(harness, id)).Should().Be("\"step-1\"");

        await app.Client.RaiseEventAsync(id, "Next", "").Within("RaiseEventAsync");
        var second = await app.Client.StateAsync(id, s => s.ReadCustomStatusAs<JsonElement>() is { ValueKind: JsonValueKind.Object },
            "custom status replaced by {step: 2}");
        second.ReadCustomStatusAs<JsonElement>().GetProperty("step").GetInt32().Should().Be(2);
        (await HttpCustomStatusAsync(harness, id)).Should().Be("{\"step\":2}");

        await app.Client.RaiseEventAsync(id, "Next", "").Within("RaiseEventAsync");
        // The turn that cleared the status scheduled Mark, so once Mark ran that turn has been applied.
        await marks.FirstCall.Within("the Mark activity scheduled by the clearing turn");
        var cleared = await app.Client.StateAsync(id, s => s.ReadCustomStatusAs<JsonElement?>() is null, "custom status cleared");
        cleared.RuntimeStatus.Should().Be(WorkflowRuntimeStatus.Running);
        // daprd's HTTP API lists dapr.workflow.custom_status only when there is one (dapr v1.17.9 pkg/runtime/wfengine/client.go).
        (await HttpCustomStatusAsync(harness, id)).Should().BeNull();

        await app.Client.RaiseEventAsync(id, "Next", "").Within("RaiseEventAsync");
        var state = await app.Client.CompletionAsync(id);
        state.RuntimeStatus.Should().Be(WorkflowRuntimeStatus.Completed, WorkflowWaits.Describe(state));
        state.ReadCustomStatusAs<JsonElement?>().Should().BeNull("the replayed SetCustomStatus(null) still holds at the end");
    }

    private static async Task<string?> HttpCustomStatusAsync(Harness harness, string id)
    {
        using var response = await harness.Http.GetAsync($"/v1.0/workflows/dapr/{id}");
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        return body.TryGetProperty("properties", out var properties) && properties.TryGetProperty("dapr.workflow.custom_status", out var status)
            ? status.GetString()
            : null;
    }
}
