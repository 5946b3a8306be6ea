using System.Text;
using System.Text.Json.Serialization;
using DevSidecar.Hosting;
using DevSidecar.Workflow;
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
            app.MapGet(prefix + "/{instanceId}", (string instanceId) => Get(runtime.Workflows, instanceId));
            app.MapPost(prefix + "/{nameOrId}/{operation}", (HttpContext context, string nameOrId, string operation) =>
                Operate(context, runtime.Workflows, nameOrId, operation));
            app.MapPost(prefix + "/{instanceId}/raiseEvent/{eventName}", async (HttpContext context, string instanceId, string eventName) =>
            {
                var instance = Existing(runtime.Workflows, instanceId);
                await runtime.Workflows.RaiseEventAsync(instance.InstanceId, eventName, await BodyAsync(context), context.RequestAborted);
                return Accepted();
            });
        }
    }

    private static async Task<IResult> Operate(HttpContext context, WorkflowEngine engine, string nameOrId, string operation)
    {
        var ct = context.RequestAborted;
        switch (operation)
        {
            case "start":
                var instanceId = context.Request.Query["instanceID"].FirstOrDefault();
                if (instanceId is { Length: > 64 })
                    throw new DaprError(400, StatusCode.InvalidArgument, "ERR_INSTANCE_ID_TOO_LONG", WorkflowIds.Problem(instanceId)!);
                if (WorkflowIds.Problem(instanceId) is { } problem)
                    throw new DaprError(400, StatusCode.InvalidArgument, "ERR_INSTANCE_ID_INVALID", problem);
                string id;
                try
                {
                    id = await engine.StartAsync(new CreateInstanceRequest { Name = nameOrId, InstanceId = instanceId ?? "", Input = await BodyAsync(context) },
                        parent: null, router: null, ct);
                }
                catch (Grpc.Core.RpcException e)
                {
                    throw new DaprError(500, StatusCode.Internal, "ERR_START_WORKFLOW", $"error starting workflow '{nameOrId}': {e.Status.Detail}");
                }
                return Results.Json(new Dictionary<string, string> { ["instanceID"] = id }, HttpApiJson.Web.DictionaryStringString,
                    statusCode: StatusCodes.Status202Accepted);
            case "terminate":
                await engine.TerminateAsync(Existing(engine, nameOrId).InstanceId, null, recursive: true, ct);
                return Accepted();
            case "pause":
                await engine.SuspendAsync(Existing(engine, nameOrId).InstanceId, context.Request.Query["reason"].FirstOrDefault(), ct);
                return Accepted();
            case "resume":
                await engine.ResumeAsync(Existing(engine, nameOrId).InstanceId, context.Request.Query["reason"].FirstOrDefault(), ct);
                return Accepted();
            case "purge":
                var instance = Existing(engine, nameOrId);
                if (!instance.IsTerminal)
                    throw new DaprError(500, StatusCode.Internal, "ERR_PURGE_WORKFLOW", $"failed to purge workflow '{nameOrId}': only completed, failed or terminated instances can be purged");
                await engine.PurgeAsync(instance.InstanceId, recursive: true, ct);
                return Accepted();
            default:
                return Results.NotFound();
        }
    }

    private static IResult Get(WorkflowEngine engine, string instanceId)
    {
        var instance = Existing(engine, instanceId);
        var properties = new Dictionary<string, string>
        {
            ["dapr.workflow.input"] = instance.Input ?? "",
            ["dapr.workflow.custom_status"] = instance.CustomStatus ?? "",
        };
        if (instance.Status != OrchestrationStatus.Failed) properties["dapr.workflow.output"] = instance.Output ?? "";
        if (instance.Failure is { } failure)
        {
            properties["dapr.workflow.failure.error_type"] = failure.ErrorType;
            properties["dapr.workflow.failure.error_message"] = failure.ErrorMessage;
            properties["dapr.workflow.failure.stack_trace"] = failure.StackTrace ?? "";
        }
        return Results.Json(new WorkflowStatus(instance.InstanceId, instance.Name, instance.CreatedAt.ToString("O"),
            instance.LastUpdatedAt.ToString("O"), RuntimeStatus(instance.Status), properties), HttpApiJson.Web.WorkflowStatus);
    }

    /// <summary>The GET answer, keyed as daprd keys it.</summary>
    internal sealed record WorkflowStatus(
        [property: JsonPropertyName("instanceID")] string InstanceId,
        [property: JsonPropertyName("workflowName")] string WorkflowName,
        [property: JsonPropertyName("createdAt")] string CreatedAt,
        [property: JsonPropertyName("lastUpdatedAt")] string LastUpdatedAt,
        [property: JsonPropertyName("runtimeStatus")] string RuntimeStatus,
        [property: JsonPropertyName("properties")] Dictionary<string, string> Properties);

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

    private static InstanceRecord Existing(WorkflowEngine engine, string instanceId) =>
        engine.Find(instanceId) ?? throw new DaprError(404, StatusCode.NotFound, "ERR_INSTANCE_ID_NOT_FOUND",
            $"unable to find workflow with the provided instance ID: {instanceId}");

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

/// <summary>daprd's instance id rules for its workflow HTTP API (not for the SDK's gRPC StartInstance): at most 64
/// characters, letters, digits, '-' and '_'.</summary>
public static class WorkflowIds
{
    public static string? Problem(string? instanceId)
    {
        if (string.IsNullOrEmpty(instanceId)) return null;
        if (instanceId.Length > 64) return $"workflow instance ID exceeds the max length of 64 characters: {instanceId}";
        return instanceId.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_')
            ? null
            : $"workflow instance ID '{instanceId}' is invalid: only alphanumeric and underscore characters are allowed";
    }
}
