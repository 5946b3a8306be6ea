using DevSidecar.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using WorkflowSdk;

namespace WorkflowSdk.Tests;

public sealed record Shipment(string OrderId, bool Dispatched);

/// <summary>Exercises activities, retries, timers, external events, child workflows and custom status together.</summary>
public sealed class ShippingWorkflow : Workflow<string, string>
{
    public override async Task<string> RunAsync(WorkflowContext context, string orderId)
    {
        context.SetCustomStatus(new { step = "greeting" });
        string[] greeting = await context.CallActivityAsync<string[]>(nameof(GreetActivity), new GreetingInput(orderId, 1));
        await context.CreateTimer(TimeSpan.FromMilliseconds(50));
        int doubled = await context.CallChildWorkflowAsync<int>(nameof(DoublingWorkflow), 21);
        context.SetCustomStatus(new { step = "waiting" });
        Shipment shipment = await context.WaitForExternalEventAsync<Shipment>("Shipped", TimeSpan.FromMinutes(5));
        context.SetCustomStatus(new { step = "done" });
        return $"{greeting[0]}|{doubled}|{shipment.Dispatched}";
    }
}

public sealed class DoublingWorkflow : Workflow<int, int>
{
    public override async Task<int> RunAsync(WorkflowContext context, int input) =>
        await context.CallActivityAsync<int>("Double", input);
}

public sealed class DevSidecarEndToEndTests : IAsyncLifetime
{
    private readonly string root = Path.Combine(Path.GetTempPath(), "workflowsdk-e2e", Guid.NewGuid().ToString("N"));
    private Sidecar? sidecar;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Path.Combine(this.root, "resources"));
        Directory.CreateDirectory(Path.Combine(this.root, "registry"));
        string appId = "wf-" + Guid.NewGuid().ToString("N")[..8];
        this.sidecar = await Sidecar.StartAsync(
            new SidecarOptions
            {
                AppId = appId,
                InMemoryScope = appId,
                ResourcesPaths = [Path.Combine(this.root, "resources")],
                RegistryDirectory = Path.Combine(this.root, "registry"),
                GracefulShutdown = TimeSpan.FromSeconds(1),
            },
            NullLoggerFactory.Instance,
            CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        if (this.sidecar is not null)
        {
            await this.sidecar.DisposeAsync();
        }

        try
        {
            Directory.Delete(this.root, recursive: true);
        }
        catch (IOException)
        {
            // best effort
        }
    }

    [Fact]
    public async Task A_workflow_runs_end_to_end_through_the_dev_sidecar()
    {
        HostApplicationBuilder builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Configuration["DAPR_GRPC_PORT"] = this.sidecar!.GrpcPort.ToString(System.Globalization.CultureInfo.InvariantCulture);
        builder.Services.AddSingleton<Greeter>();
        builder.Services.AddDaprWorkflow(o =>
        {
            o.RegisterWorkflow<ShippingWorkflow>();
            o.RegisterWorkflow<DoublingWorkflow>();
            o.RegisterActivity<GreetActivity>();
            o.RegisterActivity<int, int>("Double", (_, n) => Task.FromResult(n * 2));
        });
        using IHost host = builder.Build();
        await host.StartAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        DaprWorkflowClient client = host.Services.GetRequiredService<DaprWorkflowClient>();

        string id = await client.ScheduleNewWorkflowAsync(nameof(ShippingWorkflow), "order-1", "o-1");
        id.Should().Be("order-1");

        // Wait (with a deadline) until the workflow waits for the event, then raise it.
        WorkflowState state;
        do
        {
            await Task.Delay(20, cts.Token);
            state = await client.GetWorkflowStateAsync(id, cancellation: cts.Token);
        }
        while (state.ReadCustomStatusAs<Dictionary<string, string>>()?["step"] != "waiting" && !state.IsWorkflowCompleted);

        state.RuntimeStatus.Should().Be(WorkflowRuntimeStatus.Running);
        await client.RaiseEventAsync(id, "shipped", new Shipment("o-1", true), cts.Token);

        WorkflowState done = await client.WaitForWorkflowCompletionAsync(id, cancellation: cts.Token);
        done.RuntimeStatus.Should().Be(WorkflowRuntimeStatus.Completed, done.FailureDetails?.ToString());
        done.ReadOutputAs<string>().Should().Be("Hello, o-1! (GreetActivity for order-1)|42|True");
        done.ReadInputAs<string>().Should().Be("o-1");
        done.ReadCustomStatusAs<Dictionary<string, string>>()!["step"].Should().Be("done");

        (await client.GetWorkflowStateAsync("no-such-instance", cancellation: cts.Token)).Exists.Should().BeFalse();
        await host.StopAsync(cts.Token);
    }
}
