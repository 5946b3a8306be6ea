using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using WorkflowSdk.Internal;

namespace WorkflowSdk;

public static class WorkflowServiceCollectionExtensions
{
    /// <summary>
    /// Registers the workflows and activities, the hosted worker that runs them for the sidecar, and
    /// <see cref="DaprWorkflowClient"/>.
    /// </summary>
    public static IServiceCollection AddDaprWorkflow(
        this IServiceCollection services,
        Action<WorkflowRuntimeOptions> configure,
        ServiceLifetime lifetime = ServiceLifetime.Singleton)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        var options = new WorkflowRuntimeOptions();
        configure(options);
        services.AddLogging();
        services.AddSingleton(options);
        services.TryAddSingleton(sp => new SidecarConnection(sp.GetService<IConfiguration>(), options));
        services.TryAdd(new ServiceDescriptor(
            typeof(DaprWorkflowClient),
            sp => new DaprWorkflowClient(sp.GetRequiredService<SidecarConnection>().Client),
            lifetime));
        services.AddHostedService<WorkflowWorker>();
        return services;
    }

    /// <summary>Registers only <see cref="DaprWorkflowClient"/> (for apps that start workflows hosted elsewhere).</summary>
    public static IServiceCollection AddDaprWorkflowClient(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddSingleton(sp => new SidecarConnection(sp.GetService<IConfiguration>(), new WorkflowRuntimeOptions()));
        services.TryAddSingleton(sp => new DaprWorkflowClient(sp.GetRequiredService<SidecarConnection>().Client));
        return services;
    }
}
