using System.Diagnostics;
using Dapr.DurableTask.Protobuf;

namespace DevSidecar.Workflow;

/// <summary>
/// W3C trace context on workflow events, as daprd fills it in: the workflow's own span id on ExecutionStarted, and on
/// each scheduled activity or child workflow a context whose parent is the workflow's span, in the caller's trace.
/// </summary>
public static class WorkflowTracing
{
    public static string NewSpanId() => ActivitySpanId.CreateRandom().ToHexString();

    /// <summary>A context for work the instance schedules: the caller's trace (a new one if it sent none), a new span.</summary>
    public static TraceContext ChildOf(InstanceRecord instance)
    {
        var started = instance.AllEvents.FirstOrDefault(e => e.ExecutionStarted is not null)?.ExecutionStarted;
        var traceId = TraceId(started?.ParentTraceContext?.TraceParent) ?? ActivityTraceId.CreateRandom().ToHexString();
        var spanId = NewSpanId();
        var context = new TraceContext { TraceParent = $"00-{traceId}-{spanId}-01" };
        if (started?.ParentTraceContext?.TraceState is { } state) context.TraceState = state;
        return context;
    }

    /// <summary>The trace id of a traceparent header value, or null if it is not one.</summary>
    public static string? TraceId(string? traceParent) =>
        traceParent is { Length: 55 } && traceParent[2] == '-' && traceParent[35] == '-' ? traceParent.Substring(3, 32) : null;
}
