using System.Text.Json;
using Dapr.Workflow;
using DevSidecar.Tests.Conformance.Harness;

namespace DevSidecar.Tests.Workflow;

// Feature 1: activity chaining. Each activity gets the previous one's result; the output is the last result.
public sealed class ActivityChainingTests
{
    [Fact]
    public async Task Activities_run_in_sequence_each_getting_the_previous_result()
    {
        await using var harness = await Harness.StartAsync();
        var calls = new CallLog();
        await using var app = await WorkflowWorkerHost.StartAsync(harness.Sidecar.GrpcPort, o =>
        {
            o.RegisterWorkflow<string, string>("Chain", async (context, input) =>
            {
                var upper = await context.CallActivityAsync<string>("Upper", input);
                var reversed = await context.CallActivityAsync<string>("Reverse", upper);
                return await context.CallActivityAsync<string>("Exclaim", reversed);
            });
            o.RegisterActivity<string, string>("Upper", (_, s) => { calls.Add($"Upper({s})"); return Task.FromResult(s.ToUpperInvariant()); });
            o.RegisterActivity<string, string>("Reverse", (_, s) => { calls.Add($"Reverse({s})"); return Task.FromResult(new string(s.Reverse().ToArray())); });
            o.RegisterActivity<string, string>("Exclaim", (_, s) => { calls.Add($"Exclaim({s})"); return Task.FromResult(s + "!"); });
        });

        var id = await app.Client.ScheduleNewWorkflowAsync("Chain", "chain-1", "abc").Within("ScheduleNewWorkflowAsync");
        id.Should().Be("chain-1");
        var state = await app.Client.CompletionAsync(id);

        state.RuntimeStatus.Should().Be(WorkflowRuntimeStatus.Completed, WorkflowWaits.Describe(state));
        state.ReadInputAs<string>().Should().Be("abc");
        state.ReadOutputAs<string>().Should().Be("CBA!");
        calls.All.Should().Equal("Upper(abc)", "Reverse(ABC)", "Exclaim(CBA)");

        // daprd's HTTP workflow API reports the same instance: status, name, input and output as JSON text.
        using var response = await harness.Http.GetAsync($"/v1.0/workflows/dapr/{id}");
        response.StatusCode.Should().Be(System.Net.HttpStatusCode.OK);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        body.GetProperty("instanceID").GetString().Should().Be(id);
        body.GetProperty("workflowName").GetString().Should().Be("Chain");
        body.GetProperty("runtimeStatus").GetString().Should().Be("COMPLETED");
        var properties = body.GetProperty("properties");
        properties.GetProperty("dapr.workflow.input").GetString().Should().Be("\"abc\"");
        properties.GetProperty("dapr.workflow.output").GetString().Should().Be("\"CBA!\"");
    }
}
