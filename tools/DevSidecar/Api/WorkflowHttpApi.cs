using System.Text;
using System.Text.Json.Serialization;
using DevSidecar.Hosting;
using DevSidecar.Tracing;
using DevSidecar.Workflow;
using Google.Protobuf.WellKnownTypes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Dapr.DurableTask.Protobuf;
using StatusCode = Grpc.Core.StatusCode;

namespace DevSidecar.Api;

/// <summary>The workflow management API (pkg/api/http/workflow.go): start, get, raiseEvent, terminate, pause, resume, purge.</summary>
public static class WorkflowHttpApi
{
    private static readonly string[] Versions = ["v1.0", "v1.0-beta1", "v1.0-alpha1"];

    public static void MapWorkflowHttpApi(this WebApplication app, SidecarRuntime runtime)
    {
        foreach (var version in Versions)
        {
            var prefix = $"/{version}/workflows/{{component}}";
            app.MapGet(prefix + "/{instanceId}", (string instanceId) => Get(EngineOf(runtime), instanceId));
            app.MapPost(prefix + "/{nameOrId}/{operation}", (HttpContext context, string nameOrId, string operation) =>
                Operate(context, EngineOf(runtime), nameOrId, operation));
            app.MapPost(prefix + "/{instanceId}/raiseEvent/{eventName}", async (HttpContext context, string instanceId, string eventName) =>
            {
                var input = await BodyAsync(context);
                await Engine("ERR_RAISE_EVENT_WORKFLOW", $"error raising event on workflow '{instanceId}'", instanceId, () =>
                    EngineOf(runtime).RaiseEventAsync(instanceId, eventName, input, context.RequestAborted));
                return Accepted();
            });
        }
    }

    private static WorkflowEngine EngineOf(SidecarRuntime runtime) => runtime.Workflows.HasActorStore
        ? runtime.Workflows
        : throw new DaprError(500, StatusCode.Internal, "ERR_ACTOR_RUNTIME_NOT_FOUND", WorkflowEngine.NoActorStore);

    /// <summary>
    /// daprd's HTTP verbs (pkg/api/universal/workflow.go with durabletask-go's client): none waits for a turn; an
    /// instance is created only once a workflow worker is connected; terminate and purge are always recursive.
    /// </summary>
    private static async Task<IResult> Operate(HttpContext context, WorkflowEngine engine, string nameOrId, string operation)
    {
        var ct = context.RequestAborted;
        switch (operation)
        {
            case "start":
                var instanceId = context.Request.Query["instanceID"].FirstOrDefault();
                if (string.IsNullOrEmpty(instanceId)) instanceId = Guid.NewGuid().ToString();
                if (Encoding.UTF8.GetByteCount(instanceId) > 64)
                    throw new DaprError(400, StatusCode.InvalidArgument, "ERR_INSTANCE_ID_TOO_LONG", "workflow instance ID exceeds the max length of 64 characters");
                if (WorkflowIds.Problem(instanceId) is { } problem)
                    throw new DaprError(400, StatusCode.InvalidArgument, "ERR_INSTANCE_ID_INVALID", problem);
                var input = await BodyAsync(context) ?? "";
                await engine.WaitForWorkerAsync(ct);
                var id = await Engine("ERR_START_WORKFLOW", $"error starting workflow '{nameOrId}'", instanceId, () =>
                    engine.StartAsync(new CreateInstanceRequest { Name = nameOrId, InstanceId = instanceId, Input = input }, parent: null, router: null, ct,
                        ApiSpan.Of(context)?.Span));
                return Results.Json(new Dictionary<string, string> { ["instanceID"] = id }, HttpApiJson.Web.DictionaryStringString,
                    statusCode: StatusCodes.Status202Accepted);
            case "terminate":
                await Engine("ERR_TERMINATE_WORKFLOW", $"error terminating workflow '{nameOrId}'", nameOrId, () => engine.TerminateAsync(nameOrId, null, recursive: true, ct));
                return Accepted();
            case "pause":
                await Engine("ERR_PAUSE_WORKFLOW", $"error pausing workflow {nameOrId}", nameOrId, () => engine.SuspendAsync(nameOrId, null, ct));
                return Accepted();
            case "resume":
                await Engine("ERR_RESUME_WORKFLOW", $"error resuming workflow {nameOrId}", nameOrId, () => engine.ResumeAsync(nameOrId, null, ct));
                return Accepted();
            case "purge":
                await Engine("ERR_PURGE_WORKFLOW", $"error purging workflow '{nameOrId}'", nameOrId, () => engine.PurgeAsync(nameOrId, recursive: true, ct));
                return Accepted();
            default:
                return Results.NotFound();
        }
    }

    /// <summary>An engine call whose failure daprd answers 500 with <paramref name="errorCode"/>, or 404 for an unknown instance where it does.</summary>
    private static async Task<T> Engine<T>(string errorCode, string what, string instanceId, Func<Task<T>> call)
    {
        try
        {
            return await call();
        }
        catch (Grpc.Core.RpcException e)
        {
            if (e.Status.Detail.EndsWith("no such instance exists", StringComparison.Ordinal) && errorCode is "ERR_TERMINATE_WORKFLOW" or "ERR_PURGE_WORKFLOW")
                throw NotFound(instanceId);
            throw new DaprError(500, StatusCode.Internal, errorCode, $"{what}: {e.Status.Detail}");
        }
    }

    private static Task Engine(string errorCode, string what, string instanceId, Func<Task> call) =>
        Engine(errorCode, what, instanceId, async () => { await call(); return 0; });

    private static DaprError NotFound(string instanceId) =>
        new(404, StatusCode.NotFound, "ERR_INSTANCE_ID_NOT_FOUND", $"unable to find workflow with the provided instance ID: {instanceId}");

    /// <summary>
    /// The GET answer as daprd builds it from the saved history (wfengine/client.go, runtimestate.go): timestamps of the
    /// current generation's start and last event, each property only when it has a value; an instance whose first
    /// turn has not run yet has no name and zero times.
    /// </summary>
    private static IResult Get(WorkflowEngine engine, string instanceId)
    {
        var instance = engine.Find(instanceId) ?? throw NotFound(instanceId);
        var started = instance.History.FirstOrDefault(e => e.ExecutionStarted is not null);
        var properties = new Dictionary<string, string>();
        if (started is not null)
        {
            if (instance.CustomStatus is not null) properties["dapr.workflow.custom_status"] = instance.CustomStatus;
            if (started.ExecutionStarted.Input is { } input) properties["dapr.workflow.input"] = input;
            if (instance.History.LastOrDefault(e => e.ExecutionCompleted is not null)?.ExecutionCompleted is { } completed)
            {
                if (completed.Result is { } output) properties["dapr.workflow.output"] = output;
                if (completed.FailureDetails is { } failure)
                {
                    properties["dapr.workflow.failure.error_type"] = failure.ErrorType;
                    properties["dapr.workflow.failure.error_message"] = failure.ErrorMessage;
                    if (failure.StackTrace is { } stack) properties["dapr.workflow.failure.stack_trace"] = stack;
                }
            }
        }
        return Results.Json(new WorkflowStatus(instance.InstanceId, started is null ? null : instance.Name,
            ProtoTime(started?.Timestamp), ProtoTime(started is null ? null : instance.History[^1].Timestamp),
            RuntimeStatus(instance.Status), properties.Count == 0 ? null : properties), HttpApiJson.Web.WorkflowStatus);
    }

    /// <summary>The GET answer, keyed as daprd keys it (protojson: absent fields are left out).</summary>
    internal sealed record WorkflowStatus(
        [property: JsonPropertyName("instanceID")] string InstanceId,
        [property: JsonPropertyName("workflowName"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? WorkflowName,
        [property: JsonPropertyName("createdAt")] string CreatedAt,
        [property: JsonPropertyName("lastUpdatedAt")] string LastUpdatedAt,
        [property: JsonPropertyName("runtimeStatus")] string RuntimeStatus,
        [property: JsonPropertyName("properties"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] Dictionary<string, string>? Properties);

    /// <summary>A protobuf Timestamp as protojson writes it: UTC, 'Z', 0, 3, 6 or 9 fraction digits.</summary>
    public static string ProtoTime(Timestamp? timestamp)
    {
        if (timestamp is null) return "0001-01-01T00:00:00Z";
        var text = timestamp.ToDateTime().ToString("yyyy-MM-ddTHH:mm:ss", System.Globalization.CultureInfo.InvariantCulture);
        var nanos = timestamp.Nanos;
        if (nanos == 0) return text + "Z";
        var digits = nanos % 1_000_000 == 0 ? 3 : nanos % 1_000 == 0 ? 6 : 9;
        return $"{text}.{(nanos / (int)Math.Pow(10, 9 - digits)).ToString(System.Globalization.CultureInfo.InvariantCulture).PadLeft(digits, '0')}Z";
    }

    /// <summary>daprd's status names (wfengine/client.go); STALLED is not among them and reads UNKNOWN.</summary>
    public static string RuntimeStatus(OrchestrationStatus status) => status switch
    {
        OrchestrationStatus.Running => "RUNNING",
        OrchestrationStatus.Completed => "COMPLETED",
        OrchestrationStatus.ContinuedAsNew => "CONTINUED_AS_NEW",
        OrchestrationStatus.Failed => "FAILED",
        OrchestrationStatus.Canceled => "CANCELED",
        OrchestrationStatus.Terminated => "TERMINATED",
        OrchestrationStatus.Pending => "PENDING",
        OrchestrationStatus.Suspended => "SUSPENDED",
        _ => "UNKNOWN",
    };

    /// <summary>The raw body is the input, kept as text (send JSON); an empty body is no input.</summary>
    private static async Task<string?> BodyAsync(HttpContext context)
    {
        using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
        var body = await reader.ReadToEndAsync(context.RequestAborted);
        return body.Length == 0 ? null : body;
    }

    /// <summary>daprd answers the 202 routes with an empty JSON object.</summary>
    private static IResult Accepted() =>
        Results.Json(new Dictionary<string, string>(), HttpApiJson.Web.DictionaryStringString, statusCode: StatusCodes.Status202Accepted);
}

/// <summary>daprd's instance id rule for its workflow API (pkg/api/universal/workflow.go), not for the SDK's gRPC
/// StartInstance: letters and digits (any script), '-' and '_'. The 64-byte limit is checked apart.</summary>
public static class WorkflowIds
{
    public static string? Problem(string? instanceId)
    {
        if (string.IsNullOrEmpty(instanceId)) return null;
        return instanceId.EnumerateRunes().All(c => Rune.IsLetterOrDigit(c) || c.Value is '-' or '_')
            ? null
            : $"workflow instance ID '{instanceId}' is invalid: only alphanumeric and underscore characters are allowed";
    }
}
