using Dapr.Workflow;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace TestHosting;

/// <summary>
/// An app's workflow side as users write it with the official Dapr.Workflow package: a host with AddDaprWorkflow
/// (worker and DaprWorkflowClient) pointed at one dev sidecar's gRPC port. Stopping it disconnects the worker.
/// </summary>
public sealed class WorkflowWorkerHost : IAsyncDisposable
{
    private readonly IHost _host;

    private WorkflowWorkerHost(IHost host) => _host = host;

    public DaprWorkflowClient Client => _host.Services.GetRequiredService<DaprWorkflowClient>();

    public IServiceProvider Services => _host.Services;

    public static async Task<WorkflowWorkerHost> StartAsync(int sidecarGrpcPort, Action<WorkflowRuntimeOptions> register,
        Action<IServiceCollection>? services = null)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["DAPR_GRPC_PORT"] = sidecarGrpcPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["DAPR_GRPC_ENDPOINT"] = $"http://127.0.0.1:{sidecarGrpcPort}",
            ["DAPR_HTTP_ENDPOINT"] = "",
        });
        builder.Logging.ClearProviders();
        builder.Services.AddDaprWorkflow(register);
        services?.Invoke(builder.Services);
        var host = builder.Build();
        await host.StartAsync();
        return new WorkflowWorkerHost(host);
    }

    public async ValueTask DisposeAsync()
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try { await _host.StopAsync(stop.Token); } catch (OperationCanceledException) { }
        _host.Dispose();
    }
}
