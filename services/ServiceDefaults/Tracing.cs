using System.Diagnostics;

namespace OrderFlow.ServiceDefaults;

/// <summary>The services' own spans and the trace context they hand on where no instrumentation does (see <see cref="Telemetry"/>).</summary>
public static class Tracing
{
    /// <summary>The services' own spans: work done later, outside the request that asked for it.</summary>
    public const string SourceName = "OrderFlow";

    private static readonly ActivitySource Source = new(SourceName);

    /// <summary>Grpc.Net.Client's own source: its call spans are the parents of the HttpClient spans that carry the Dapr
    /// client's gRPC calls, so without them those spans would hang off a span nobody records.</summary>
    public const string GrpcClientSourceName = "Grpc.Net.Client";

    /// <summary>Dapr.Workflow's spans of workflow and activity runs (it takes their parents from the trace context the
    /// sidecar keeps with the instance): the calls an activity makes are their children.</summary>
    public const string WorkflowSourceName = "Dapr.Workflow";

    /// <summary>
    /// A span for work a background loop does for an earlier request (e.g. a shipment dispatched when due), the child of
    /// that request's <paramref name="traceParent"/> (kept with the work, <see cref="Activity.Id"/> when it was
    /// accepted), so the events it publishes stay in the order's trace. Null when nobody records it.
    /// </summary>
    public static Activity? StartDeferredWork(string name, string? traceParent) =>
        ActivityContext.TryParse(traceParent, null, isRemote: false, out var parent)
            ? Source.StartActivity(name, ActivityKind.Internal, parent)
            : Source.StartActivity(name, ActivityKind.Internal, parentContext: default);

    /// <summary>
    /// The current trace context as the metadata of a state operation, for a transaction on an outbox store. daprd
    /// copies an operation's metadata into the CloudEvent it announces, but sets no <c>traceparent</c> there itself
    /// (empty, with the transaction's context only in <c>traceid</c>, which delivery reads only when
    /// <c>traceparent</c> is absent): without these entries the announced event starts a new trace (daprd v1.17.9
    /// pkg/runtime/pubsub/outbox.go, pkg/runtime/subscription/postman/http/http.go).
    /// </summary>
    public static Dictionary<string, string> OutboxTraceMetadata()
    {
        var metadata = new Dictionary<string, string>();
        if (Activity.Current is not { IdFormat: ActivityIdFormat.W3C } current) return metadata;
        metadata["traceparent"] = current.Id!;
        if (current.TraceStateString is { Length: > 0 } state) metadata["tracestate"] = state;
        return metadata;
    }
}
