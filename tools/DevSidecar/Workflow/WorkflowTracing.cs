using Dapr.DurableTask.Protobuf;

namespace DevSidecar.Workflow;

/// <summary>
/// W3C trace context on workflow events, as daprd 1.17 carries it with no trace exporter configured (its tracer is
/// then a no-op that hands on the parent's context): the caller's context is kept on ExecutionStarted only if it is
/// sampled, the workflow's span id is the caller's span id, and everything the workflow schedules (activities, child
/// workflows) carries the same context, so the SDK's workflow and activity spans join the caller's trace
/// (durabletask-go api/helpers/tracing.go, backend/orchestration.go, backend/activity.go).
/// </summary>
public static class WorkflowTracing
{
    /// <summary>The context if its flags say sampled, else none (helpers.TraceContextFromSpan).</summary>
    public static TraceContext? Sampled(TraceContext? context) =>
        context?.TraceParent is { Length: 55 } parent && parent[2] == '-' && parent[35] == '-' && parent[52] == '-'
        && byte.TryParse(parent.AsSpan(53, 2), System.Globalization.NumberStyles.HexNumber, null, out var flags) && (flags & 1) == 1
            ? new TraceContext { TraceParent = parent, TraceState = context.TraceState }
            : null;

    /// <summary>The span id of a traceparent value.</summary>
    public static string? SpanId(string? traceParent) => traceParent is { Length: 55 } ? traceParent.Substring(36, 16) : null;

    /// <summary>The context of the instance's workflow span, for what it schedules: none if it has no sampled trace.</summary>
    public static TraceContext? Of(InstanceRecord instance) =>
        instance.AllEvents.FirstOrDefault(e => e.ExecutionStarted is not null)?.ExecutionStarted.ParentTraceContext?.Clone();
}
