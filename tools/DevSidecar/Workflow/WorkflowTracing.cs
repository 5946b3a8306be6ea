using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Dapr.DurableTask.Protobuf;
using DevSidecar.Tracing;

namespace DevSidecar.Workflow;

/// <summary>
/// The workflow engine's spans and the W3C trace context on workflow events, as daprd 1.17.9 makes them through
/// durabletask-go v0.11.5 (api/helpers/tracing.go; backend/client.go and executor.go StartInstance,
/// backend/orchestration.go, backend/activity.go). They go through the sidecar's tracing, so they are sampled and
/// exported like its other spans, but only where daprd has a tracer provider (<see cref="SidecarTracing.HasProvider"/>).
/// Without one, durabletask-go's spans are no-ops that hand on their parent's context: the caller's context is kept
/// on ExecutionStarted only if it is sampled, the workflow's span id is the caller's span id, and everything the
/// workflow schedules carries that same context.
/// With one: <c>create_orchestration||{name}</c> (client) when a client starts an instance, the child of the API span
/// (or of the gRPC request's parentTraceContext), whose sampled context ExecutionStarted keeps;
/// <c>orchestration||{name}</c> (server), its child, from the first turn to the end of the instance (or its
/// continue-as-new), the parent of what the workflow schedules; <c>activity||{name}</c> (server) around each activity
/// run, the parent of the worker's; and a <c>timer</c> span (internal) when a timer fires. Only sampled contexts are
/// carried on events.
/// </summary>
public sealed partial class WorkflowTracing
{
    // The open orchestration spans by instance id: daprd re-creates the span on every turn with the span id kept on
    // ExecutionStarted; a .NET span id cannot be set, so the one span lives here from the first turn to the end.
    private readonly ConcurrentDictionary<string, SidecarSpan> _orchestrations = new(StringComparer.Ordinal);

    /// <summary>The sidecar's tracing; none (tests of the engine alone): no spans, contexts handed on.</summary>
    public SidecarTracing? Sidecar { get; set; }

    private bool Spans => Sidecar?.HasProvider == true;

    /// <summary>
    /// The client's start: the context ExecutionStarted keeps. With spans, a create_orchestration span, the child of
    /// the request's parentTraceContext when it has one, else of the API call's span, ended at once.
    /// </summary>
    public TraceContext? CreateOrchestration(CreateInstanceRequest request, SidecarSpan? apiSpan)
    {
        if (!Spans) return Sampled(request.ParentTraceContext);
        var parent = request.ParentTraceContext is { } given
            ? (given.TraceParent, given.TraceState)
            : (apiSpan?.TraceParent, apiSpan?.TraceState);
        using var span = Start("create_orchestration", request.Name, request.Version, ActivityKind.Client, parent.Item1, parent.Item2);
        if (span.Recording)
            span.SetTag("durabletask.type", "orchestration").SetTag("durabletask.task.name", request.Name)
                .SetTag("durabletask.task.instance_id", request.InstanceId);
        return ContextOf(span);
    }

    /// <summary>
    /// On the instance's first turn: its workflow span id. With spans, the orchestration span starts here (at the
    /// turn's start, as runtimestate.GetStartedTime), as the child of ExecutionStarted's context.
    /// </summary>
    public void FirstTurn(InstanceRecord instance, ExecutionStartedEvent started, DateTime turnStartedAt)
    {
        if (started.ParentTraceContext is not { } parent || started.WorkflowSpanID is not null) return;
        if (!Spans)
        {
            started.WorkflowSpanID = SpanId(parent.TraceParent);
            return;
        }
        var span = Start("orchestration", started.Name, started.Version, ActivityKind.Server, parent.TraceParent, parent.TraceState, turnStartedAt);
        if (span.Recording)
            span.SetTag("durabletask.type", "orchestration").SetTag("durabletask.task.name", started.Name)
                .SetTag("durabletask.task.instance_id", instance.InstanceId);
        started.WorkflowSpanID = span.SpanId.ToHexString();
        _orchestrations[instance.InstanceId] = span;
    }

    /// <summary>
    /// The instance ended (or continued as new): its orchestration span ends with the runtime status, an error status
    /// with the failure's message (backend/orchestration.go endOrchestratorSpan).
    /// </summary>
    public void Ended(InstanceRecord instance, OrchestrationStatus status, TaskFailureDetails? failure)
    {
        if (!_orchestrations.TryRemove(instance.InstanceId, out var span)) return;
        span.SetTag("durabletask.runtime_status", StatusName(status));
        if (failure is not null) span.SetError(failure.ErrorMessage);
        span.Dispose();
    }

    /// <summary>A fired timer, as the turn takes it in: a timer span, started at the event's time and ended at once.</summary>
    public void TimerFired(InstanceRecord instance, HistoryEvent fired)
    {
        if (!Spans) return;
        var parent = Of(instance);
        using var span = Start("timer", "", null, ActivityKind.Internal, parent?.TraceParent, parent?.TraceState, fired.Timestamp.ToDateTime());
        if (span.Recording)
            span.SetTag("durabletask.type", "timer")
                .SetTag("durabletask.fire_at", fired.TimerFired.FireAt.ToDateTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture))
                .SetTag("durabletask.task.task_id", fired.TimerFired.TimerId)
                .SetTag("durabletask.task.instance_id", instance.InstanceId);
    }

    /// <summary>
    /// An activity handed to the worker: with spans, an activity span, the child of the scheduled task's context, which
    /// the request then carries instead (none if unsampled). Ended by <see cref="SidecarSpan.Dispose"/> on completion.
    /// </summary>
    public (ActivityRequest Request, SidecarSpan? Span) Activity(ActivityRequest request)
    {
        if (!Spans) return (request, null);
        var span = Start("activity", request.Name, request.Version, ActivityKind.Server,
            request.ParentTraceContext?.TraceParent, request.ParentTraceContext?.TraceState);
        if (span.Recording)
            span.SetTag("durabletask.type", "activity").SetTag("durabletask.task.name", request.Name)
                .SetTag("durabletask.task.task_id", request.TaskId)
                .SetTag("durabletask.task.instance_id", request.WorkflowInstance.InstanceId);
        var carried = request.Clone();
        carried.ParentTraceContext = ContextOf(span);
        return (carried, span);
    }

    /// <summary>The context of the instance's workflow span, for what it schedules: none if it has no sampled trace.</summary>
    public static TraceContext? Of(InstanceRecord instance)
    {
        var started = instance.AllEvents.FirstOrDefault(e => e.ExecutionStarted is not null)?.ExecutionStarted;
        if (started?.ParentTraceContext is not { } parent) return null;
        var context = parent.Clone();
        if (started.WorkflowSpanID is { Length: 16 } spanId && parent.TraceParent is { Length: 55 } traceParent)
            context.TraceParent = $"{traceParent[..36]}{spanId}{traceParent[52..]}";
        return context;
    }

    /// <summary>The context if its flags say sampled, else none (helpers.TraceContextFromSpan).</summary>
    public static TraceContext? Sampled(TraceContext? context) =>
        context?.TraceParent is { Length: 55 } parent && parent[2] == '-' && parent[35] == '-' && parent[52] == '-'
        && byte.TryParse(parent.AsSpan(53, 2), NumberStyles.HexNumber, null, out var flags) && (flags & 1) == 1
            ? new TraceContext { TraceParent = parent, TraceState = context.TraceState }
            : null;

    /// <summary>The span id of a traceparent value.</summary>
    public static string? SpanId(string? traceParent) => traceParent is { Length: 55 } ? traceParent.Substring(36, 16) : null;

    private static TraceContext? ContextOf(SidecarSpan span) =>
        span.Sampled ? new TraceContext { TraceParent = span.TraceParent, TraceState = span.TraceState } : null;

    /// <summary>startNewSpan's name: type||name||version, type||name, or the type alone; the version also as an attribute.</summary>
    private SidecarSpan Start(string type, string name, string? version, ActivityKind kind, string? traceParent, string? traceState, DateTime? startedAt = null)
    {
        var spanName = !string.IsNullOrEmpty(version) ? $"{type}||{name}||{version}" : name.Length > 0 ? $"{type}||{name}" : type;
        var span = Sidecar!.StartDetached(spanName, kind, traceParent, traceState, startedAt);
        if (!string.IsNullOrEmpty(version)) span.SetTag("durabletask.task.version", version);
        return span;
    }

    /// <summary>helpers.ToRuntimeStatusString: the proto name without ORCHESTRATION_STATUS_ (ContinuedAsNew: CONTINUED_AS_NEW).</summary>
    private static string StatusName(OrchestrationStatus status) => WordStart().Replace(status.ToString(), "_$1").ToUpperInvariant();

    [GeneratedRegex("(?<=[a-z])([A-Z])")]
    private static partial Regex WordStart();
}
