using Dapr.Workflow;
using DevSidecar.Tests.Conformance.Harness;

namespace DevSidecar.Tests.Workflow;

public sealed class SmokeWorkflowTests
{
    public sealed class Greet : WorkflowActivity<string, string>
    {
        public override Task<string> RunAsync(WorkflowActivityContext context, string name) => Task.FromResult($"hello {name}");
    }

    public sealed class Chain : Workflow<string, string>
    {
        public override async Task<string> RunAsync(WorkflowContext context, string input)
        {
            var a = await context.CallActivityAsync<string>(nameof(Greet), input);
            var b = await context.CallActivityAsync<string>(nameof(Greet), a);
            return b;
        }
    }

    [Fact]
    public async Task Chain_runs()
    {
        await using var harness = await Harness.StartAsync();
        await using var app = await WorkflowWorkerHost.StartAsync(harness.Sidecar.GrpcPort, o =>
        {
            o.RegisterWorkflow<Chain>();
            o.RegisterActivity<Greet>();
        });
        var id = await app.Client.ScheduleNewWorkflowAsync(nameof(Chain), "chain-1", "bob");
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var state = await app.Client.WaitForWorkflowCompletionAsync(id, cancellation: cts.Token);
        state.RuntimeStatus.Should().Be(WorkflowRuntimeStatus.Completed);
        state.ReadOutputAs<string>().Should().Be("hello hello bob");
    }
}
