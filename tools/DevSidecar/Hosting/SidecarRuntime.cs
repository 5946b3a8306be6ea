using System.Collections.Concurrent;
using DevSidecar.Invocation;
using DevSidecar.PubSub;
using DevSidecar.Resiliency;
using DevSidecar.Resources;
using DevSidecar.State;
using DevSidecar.Tracing;
using DevSidecar.Workflow;
using Microsoft.Extensions.Logging;

namespace DevSidecar.Hosting;

/// <summary>Everything one sidecar's HTTP and gRPC front ends share.</summary>
public sealed class SidecarRuntime
{
    public SidecarRuntime(SidecarOptions options, ResourceSet resources, ComponentRegistry components, ILoggerFactory loggerFactory, SidecarTracing tracing)
    {
        Options = options;
        Tracing = tracing;
        Logger = loggerFactory.CreateLogger($"DevSidecar.{options.AppId}");
        Components = components;
        DeclarativeSubscriptions = resources.Subscriptions;
        Resiliency = new ResiliencyPolicies(resources.Resiliencies, options.AppId, Logger);
        Outbox = new StateOutbox(Components, options, Logger);
        State = new StateApi(Components, options, Outbox, Resiliency);
        Publish = new PublishApi(Components, options, Resiliency);
        App = new AppChannel.AppChannel(options, Logger);
        Registry = new SidecarRegistry(options.RegistryDirectory);
        InternalToken = Guid.NewGuid().ToString("N");
        Invocation = new InvocationProxy(options, App, Registry, InternalToken, Resiliency, tracing, Logger);
        // Workflows run only on the store marked actorStateStore, as in daprd: without one its actor runtime, and so
        // every workflow call, is unavailable.
        var workflowStore = Components.StateStores.Values.FirstOrDefault(s => s.Spec.Get("actorStateStore") == "true");
        Workflows = new WorkflowEngine(options.AppId, workflowStore, Logger);
        WorkflowPeers = new SidecarWorkflowPeers(Registry, Workflows, InternalToken, Logger);
        Workflows.Peers = WorkflowPeers;
        Workflows.Tracing.Sidecar = tracing;
        foreach (var (key, value) in options.ExtendedMetadata) ExtendedMetadata[key] = value;
    }

    public SidecarOptions Options { get; }

    /// <summary>This sidecar's sampler and exporters (its Configuration's spec.tracing).</summary>
    public SidecarTracing Tracing { get; }
    public ILogger Logger { get; }
    public ComponentRegistry Components { get; }
    public IReadOnlyList<SubscriptionSpec> DeclarativeSubscriptions { get; }

    /// <summary>The Resiliency resources in force for this app id.</summary>
    public ResiliencyPolicies Resiliency { get; }
    public StateApi State { get; }
    public StateOutbox Outbox { get; }
    public PublishApi Publish { get; }
    public AppChannel.AppChannel App { get; }
    public SidecarRegistry Registry { get; }
    public string InternalToken { get; }
    public InvocationProxy Invocation { get; }
    public WorkflowEngine Workflows { get; }
    public SidecarWorkflowPeers WorkflowPeers { get; }

    /// <summary>The app's calls and deliveries, by kind (see <see cref="CallCounts"/>).</summary>
    public CallCounts Calls { get; } = new();

    /// <summary>Test/demo-only rules that make this sidecar lose events for its app (off unless set).</summary>
    public DeliveryFaults Faults { get; } = new();

    /// <summary>The metadata API's <c>extended</c> section (PUT /v1.0/metadata/{key}).</summary>
    public ConcurrentDictionary<string, string> ExtendedMetadata { get; } = new(StringComparer.Ordinal);

    /// <summary>The subscriptions in force, as the metadata API lists them.</summary>
    public IReadOnlyList<SubscriptionSpec> ActiveSubscriptions { get; set; } = [];

    /// <summary>/v1.0/healthz/outbound: components loaded and APIs up.</summary>
    public volatile bool OutboundReady;

    /// <summary>/v1.0/healthz: the app port is open and subscriptions are running.</summary>
    public volatile bool Ready;

    /// <summary>Raised by /v1.0/shutdown and the gRPC Shutdown; the argument says whether it is forced.</summary>
    public Action<bool> RequestShutdown { get; set; } = _ => { };
}
