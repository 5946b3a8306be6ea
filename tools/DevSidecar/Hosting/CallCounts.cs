using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace DevSidecar.Hosting;

/// <summary>
/// How many calls the app made to this sidecar, by kind, and how many events the sidecar delivered to it: a count,
/// so the cost of a flow can be compared without a stopwatch (not a Dapr API; daprd's Prometheus metrics count per
/// method too, but this keeps the dev sidecar free of a metrics stack). Calls between sidecars (forwarded
/// invocations, workflow peers) and the dev-only API are not counted.
/// </summary>
public sealed class CallCounts
{
    public const string Route = "/v1.0-devsidecar/calls";

    /// <summary>The kinds, as reported: state, publish, invocation, workflow client calls, the workflow worker's
    /// completions, and deliveries to the app.</summary>
    public static class Kinds
    {
        public const string StateGet = "state.get", StateBulkGet = "state.bulk-get", StateSave = "state.save",
            StateDelete = "state.delete", StateBulkDelete = "state.bulk-delete", StateTransaction = "state.transaction",
            Publish = "publish", BulkPublish = "publish.bulk", Invoke = "invoke",
            WorkflowStart = "workflow.start", WorkflowGet = "workflow.get", WorkflowRaise = "workflow.raise", WorkflowOther = "workflow.other",
            WorkflowTurnCompleted = "workflow.orchestrator-completion", WorkflowActivityCompleted = "workflow.activity-completion",
            Delivery = "delivery";
    }

    private readonly ConcurrentDictionary<string, long> _counts = new(StringComparer.Ordinal);

    public void Count(string kind) => _counts.AddOrUpdate(kind, 1, (_, n) => n + 1);

    /// <summary>The counts so far, by kind (kinds never seen are absent).</summary>
    public IReadOnlyDictionary<string, long> Snapshot() => new Dictionary<string, long>(_counts, StringComparer.Ordinal);

    /// <summary>
    /// Counts every request on one of the sidecar's hosts (HTTP API or gRPC API) by what it asks for; on the HTTP host
    /// also maps GET <see cref="Route"/>, the counts as a JSON object. Call before the APIs are mapped.
    /// </summary>
    public void Hook(WebApplication host, bool mapRoute)
    {
        host.Use((context, next) =>
        {
            if (Classify(context.Request.Method, context.Request.Path.Value ?? "", context.Request.Headers.ContainsKey("dapr-app-id")) is { } kind) Count(kind);
            return next(context);
        });
        if (mapRoute) host.MapGet(Route, async context =>
        {
            context.Response.ContentType = "application/json";
            await using var json = new Utf8JsonWriter(context.Response.Body);
            json.WriteStartObject();
            foreach (var (kind, count) in Snapshot().OrderBy(kv => kv.Key, StringComparer.Ordinal)) json.WriteNumber(kind, count);
            json.WriteEndObject();
        });
    }

    /// <summary>The kind of one request to the sidecar's HTTP or gRPC API; null for what is not an app's call.</summary>
    public static string? Classify(string method, string path, bool hasAppIdHeader)
    {
        var s = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (s.Length == 2 && s[0].StartsWith("dapr.proto.runtime.v1.Dapr", StringComparison.Ordinal)) return s[1] switch
        {
            "GetState" => Kinds.StateGet,
            "GetBulkState" => Kinds.StateBulkGet,
            "SaveState" => Kinds.StateSave,
            "DeleteState" => Kinds.StateDelete,
            "DeleteBulkState" => Kinds.StateBulkDelete,
            "ExecuteStateTransaction" => Kinds.StateTransaction,
            "PublishEvent" => Kinds.Publish,
            "BulkPublishEvent" or "BulkPublishEventAlpha1" => Kinds.BulkPublish,
            "InvokeService" => Kinds.Invoke,
            _ => null,
        };
        if (s.Length == 2 && s[0].EndsWith("TaskHubSidecarService", StringComparison.Ordinal)) return s[1] switch
        {
            "StartInstance" => Kinds.WorkflowStart,
            "GetInstance" or "WaitForInstanceStart" or "WaitForInstanceCompletion" => Kinds.WorkflowGet,
            "RaiseEvent" => Kinds.WorkflowRaise,
            "CompleteOrchestratorTask" or "CompleteWorkflowTask" => Kinds.WorkflowTurnCompleted,
            "CompleteActivityTask" => Kinds.WorkflowActivityCompleted,
            _ => Kinds.WorkflowOther,
        };
        if (s.Length >= 2 && s[0].StartsWith("v1.0", StringComparison.Ordinal) && s[0] != "v1.0-devsidecar")
        {
            var post = method is "POST" or "PUT";
            switch (s[1])
            {
                case "invoke": return Kinds.Invoke;
                case "publish": return s.Length > 2 && s[2] == "bulk" ? Kinds.BulkPublish : Kinds.Publish;
                case "state" when s.Length == 3 && post: return Kinds.StateSave;
                case "state" when s.Length == 4 && post && s[3] == "bulk": return Kinds.StateBulkGet;
                case "state" when s.Length == 4 && post && s[3] == "transaction": return Kinds.StateTransaction;
                case "state" when s.Length == 4 && method == "GET": return Kinds.StateGet;
                case "state" when s.Length == 4 && method == "DELETE": return Kinds.StateDelete;
                case "workflows" when s.Length == 4 && method == "GET": return Kinds.WorkflowGet;
                case "workflows" when s.Length == 5 && s[4] == "start": return Kinds.WorkflowStart;
                case "workflows" when s.Length == 6 && s[4] == "raiseEvent": return Kinds.WorkflowRaise;
                case "workflows": return Kinds.WorkflowOther;
                case "healthz" or "metadata" or "shutdown": return null;
            }
        }
        // daprd routes whatever no API matches to service invocation when the dapr-app-id header names a target.
        return hasAppIdHeader && !path.StartsWith("/v1.0-devsidecar/", StringComparison.Ordinal) ? Kinds.Invoke : null;
    }
}
