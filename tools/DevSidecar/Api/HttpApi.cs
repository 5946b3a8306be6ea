using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;
using DevSidecar.Hosting;
using DevSidecar.Tracing;
using DevSidecar.Invocation;
using DevSidecar.PubSub;
using DevSidecar.State;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;

namespace DevSidecar.Api;

/// <summary>Dapr's HTTP API v1.0 (pkg/api/http), with daprd's status codes and error bodies.</summary>
public static class HttpApi
{
    private static readonly string[] Versions = ["v1.0", "v1.0-alpha1", "v1.0-beta1"];

    public static void MapDaprHttpApi(this WebApplication app, SidecarRuntime runtime)
    {
        app.Use(async (context, next) =>
        {
            if (!TokenAccepted(context, runtime.Options.ApiToken))
            {
                context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                context.Response.ContentType = "text/plain; charset=utf-8";
                await context.Response.WriteAsync("invalid api token\n");
                return;
            }
            try
            {
                await next(context);
            }
            catch (DaprError error) when (!context.Response.HasStarted)
            {
                await WriteError(context, error);
            }
        });

        MapHealth(app, runtime);
        MapInvocation(app, runtime);
        MapPublish(app, runtime);
        MapState(app, runtime);
        MapMetadata(app, runtime);
        MapFaults(app, runtime);

        // Anything no route matches goes to service invocation, as in daprd (header or basic-auth style addressing).
        app.MapFallback(context => InvokeByHeader(context, runtime));
    }

    private static bool TokenAccepted(HttpContext context, string? token)
    {
        if (string.IsNullOrEmpty(token)) return true;
        var path = context.Request.Path.Value ?? "";
        if (path is "/v1.0/healthz" or "/v1.0/healthz/outbound") return true;
        // Calls forwarded by another sidecar carry their own proof (see InvocationProxy).
        if (path.StartsWith(InvocationProxy.InternalPrefix, StringComparison.Ordinal)) return true;
        if (path.StartsWith(Workflow.SidecarWorkflowPeers.Prefix, StringComparison.Ordinal)) return true;
        return context.Request.Headers["dapr-api-token"] == token;
    }

    public static Task WriteError(HttpContext context, DaprError error)
    {
        context.Response.StatusCode = error.HttpStatus;
        return context.Response.WriteAsJsonAsync(error.ToBody(), HttpApiJson.Web.ErrorBody);
    }

    /// <summary>
    /// Maps a route for the given verbs; other verbs fall through to service invocation, as daprd's
    /// MethodNotAllowed fallback does (e.g. GET /v1.0/shutdown is an invocation).
    /// </summary>
    private static void MapVerbs(WebApplication app, SidecarRuntime runtime, string pattern, string[] verbs, RequestDelegate handler)
    {
        app.Map(pattern, context => verbs.Contains(context.Request.Method, StringComparer.OrdinalIgnoreCase)
            ? handler(context)
            : InvokeByHeader(context, runtime));
    }

    private static void MapHealth(WebApplication app, SidecarRuntime runtime)
    {
        MapVerbs(app, runtime, "/v1.0/healthz", ["GET"], context =>
        {
            if (context.Request.Query["appid"] is { Count: > 0 } appId && appId != runtime.Options.AppId)
                throw new DaprError(500, Grpc.Core.StatusCode.Internal, "ERR_HEALTH_APPID_NOT_MATCH", "dapr app-id does not match");
            if (!runtime.Ready)
                throw new DaprError(500, Grpc.Core.StatusCode.Unavailable, "ERR_HEALTH_NOT_READY", "dapr is not ready: [runtime]");
            context.Response.StatusCode = StatusCodes.Status204NoContent;
            return Task.CompletedTask;
        });
        MapVerbs(app, runtime, "/v1.0/healthz/outbound", ["GET"], context =>
        {
            if (!runtime.OutboundReady)
                throw new DaprError(500, Grpc.Core.StatusCode.Unavailable, "ERR_OUTBOUND_HEALTH_NOT_READY", "dapr outbound is not ready");
            context.Response.StatusCode = StatusCodes.Status204NoContent;
            return Task.CompletedTask;
        });
        MapVerbs(app, runtime, "/v1.0/shutdown", ["POST"], context =>
        {
            var force = string.Equals(context.Request.Headers["dapr-force-shutdown"], "true", StringComparison.OrdinalIgnoreCase);
            context.Response.StatusCode = StatusCodes.Status204NoContent;
            // Answer first, then shut down, as daprd does.
            context.Response.OnCompleted(() =>
            {
                runtime.RequestShutdown(force);
                return Task.CompletedTask;
            });
            return Task.CompletedTask;
        });
    }

    private static void MapInvocation(WebApplication app, SidecarRuntime runtime)
    {
        foreach (var version in Versions)
        {
            app.Map($"/{version}/invoke/{{appId}}/method/{{**method}}", context =>
            {
                var appId = Uri.UnescapeDataString((string)context.Request.RouteValues["appId"]!);
                return runtime.Invocation.InvokeAsync(context, appId, MethodFromRawPath(context, $"/{version}/invoke/"));
            });
        }
        app.Map(InvocationProxy.InternalPrefix + "{**method}", context =>
            runtime.Invocation.AcceptForwardedAsync(context, RawPath(context)[InvocationProxy.InternalPrefix.Length..]));
    }

    private static Task InvokeByHeader(HttpContext context, SidecarRuntime runtime)
    {
        var target = context.Request.Headers["dapr-app-id"].ToString();
        if (string.IsNullOrEmpty(target)) target = AppIdFromBasicAuth(context) ?? "";
        if (string.IsNullOrEmpty(target)) throw DaprError.NoAppId();
        return runtime.Invocation.InvokeAsync(context, target, CleanPath(RawPath(context)).TrimStart('/'));
    }

    private static string? AppIdFromBasicAuth(HttpContext context)
    {
        var header = context.Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase)) return null;
        try
        {
            var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(header[6..].Trim()));
            return decoded.StartsWith("dapr-app-id:", StringComparison.Ordinal) ? decoded["dapr-app-id:".Length..] : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    /// <summary>The method of a URL-style invocation: everything after /method/, path-cleaned, still escaped.</summary>
    private static string MethodFromRawPath(HttpContext context, string prefix)
    {
        var raw = RawPath(context);
        var afterAppId = raw.IndexOf('/', prefix.Length);
        var method = raw[(raw.IndexOf("/method", afterAppId, StringComparison.Ordinal) + "/method".Length)..];
        var cleaned = CleanPath(method).TrimStart('/');
        return cleaned == "." ? "" : cleaned;
    }

    private static string RawPath(HttpContext context)
    {
        var raw = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? context.Request.Path.Value ?? "/";
        var query = raw.IndexOf('?');
        return query >= 0 ? raw[..query] : raw;
    }

    /// <summary>Go's path.Clean: collapses //, resolves . and .. segments.</summary>
    public static string CleanPath(string path)
    {
        var rooted = path.StartsWith('/');
        var parts = new List<string>();
        foreach (var segment in path.Split('/'))
        {
            if (segment is "" or ".") continue;
            if (segment == "..")
            {
                if (parts.Count > 0 && parts[^1] != "..") parts.RemoveAt(parts.Count - 1);
                else if (!rooted) parts.Add("..");
                continue;
            }
            parts.Add(segment);
        }
        var joined = string.Join('/', parts);
        return rooted ? "/" + joined : joined.Length == 0 ? "." : joined;
    }

    private static void MapPublish(WebApplication app, SidecarRuntime runtime)
    {
        foreach (var version in Versions)
        {
            MapVerbs(app, runtime, $"/{version}/publish/bulk/{{pubsub}}/{{**topic}}", ["POST", "PUT"], context => BulkPublish(context, runtime));
            MapVerbs(app, runtime, $"/{version}/publish/{{pubsub}}/{{**topic}}", ["POST", "PUT"], async context =>
            {
                var (pubsub, topic) = PubSubAndTopic(context);
                var body = await ReadBodyAsync(context, runtime);
                await runtime.Publish.PublishAsync(pubsub, topic, body, context.Request.ContentType, QueryMetadata(context),
                    ApiSpan.Propagated(context).TraceParent, ApiSpan.Propagated(context).TraceState, context.RequestAborted);
                context.Response.StatusCode = StatusCodes.Status204NoContent;
            });
        }
    }

    private static async Task BulkPublish(HttpContext context, SidecarRuntime runtime)
    {
        var (pubsub, topic) = PubSubAndTopic(context);
        runtime.Publish.PubSub(pubsub);
        var body = await ReadBodyAsync(context, runtime);
        List<BulkEntry> entries;
        try
        {
            var array = JsonNode.Parse(body) as JsonArray ?? throw new JsonException("the body must be a JSON array");
            entries = array.Select(node => BulkEntryFrom(node as JsonObject ?? throw new JsonException("an entry is not an object"))).ToList();
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException)
        {
            throw DaprError.PubSubEvents(pubsub, $"error when unmarshaling the request for topic {topic} pubsub {pubsub}: {e.Message}");
        }
        var failed = await runtime.Publish.BulkPublishAsync(pubsub, topic, entries, QueryMetadata(context),
            ApiSpan.Propagated(context).TraceParent, ApiSpan.Propagated(context).TraceState, context.RequestAborted);
        if (failed.Count == 0)
        {
            context.Response.StatusCode = StatusCodes.Status204NoContent;
            return;
        }
        context.Response.StatusCode = StatusCodes.Status500InternalServerError;
        await context.Response.WriteAsJsonAsync(
            new BulkPublishFailure(failed, "ERR_PUBSUB_PUBLISH_MESSAGE"), HttpApiJson.Web.BulkPublishFailure);
    }

    /// <summary>daprd's bulk publish answer when entries failed: failedEntries [{entryId, error}], errorCode.</summary>
    internal sealed record BulkPublishFailure(IReadOnlyList<FailedEntry> FailedEntries, string ErrorCode);

    /// <summary>A bulk entry's event, converted by its contentType as daprd's http/util.go does.</summary>
    private static BulkEntry BulkEntryFrom(JsonObject entry)
    {
        var entryId = entry["entryId"]?.GetValue<string>() ?? "";
        var contentType = entry["contentType"]?.GetValue<string>() ?? "";
        var ev = entry["event"];
        var media = contentType.Split(';', 2)[0].Trim().ToLowerInvariant();
        byte[] bytes = media switch
        {
            "application/octet-stream" => Convert.FromBase64String(ev?.GetValue<string>() ?? throw new FormatException($"entry {entryId}: octet-stream events must be base64 strings")),
            _ when media.StartsWith("text/", StringComparison.Ordinal) || media == "application/xml" =>
                Encoding.UTF8.GetBytes(ev?.GetValueKind() == JsonValueKind.String ? ev.GetValue<string>() : throw new FormatException($"entry {entryId}: {media} events must be strings")),
            _ when media.EndsWith("json", StringComparison.Ordinal) => Encoding.UTF8.GetBytes(ev?.ToJsonString() ?? "null"),
            _ => throw new FormatException($"entry {entryId}: unsupported content type '{contentType}'"),
        };
        var metadata = (entry["metadata"] as JsonObject)?.ToDictionary(kv => kv.Key, kv => kv.Value?.ToString() ?? "") ?? [];
        return new BulkEntry(entryId, bytes, contentType, metadata);
    }

    private static (string PubSub, string Topic) PubSubAndTopic(HttpContext context) =>
        ((string)context.Request.RouteValues["pubsub"]!, (string?)context.Request.RouteValues["topic"] ?? "");

    private static void MapState(WebApplication app, SidecarRuntime runtime)
    {
        foreach (var version in Versions)
        {
            var prefix = $"/{version}/state/{{store}}";
            MapVerbs(app, runtime, prefix + "/bulk", ["POST", "PUT"], context => BulkGet(context, runtime));
            MapVerbs(app, runtime, prefix + "/transaction", ["POST", "PUT"], context => Transact(context, runtime));
            MapVerbs(app, runtime, prefix, ["POST", "PUT"], context => Save(context, runtime));
            MapVerbs(app, runtime, prefix + "/{key}", ["GET", "DELETE"], context =>
                HttpMethods.IsGet(context.Request.Method) ? GetState(context, runtime) : DeleteState(context, runtime));
        }
    }

    private static string Store(HttpContext context) => (string)context.Request.RouteValues["store"]!;

    private static async Task GetState(HttpContext context, SidecarRuntime runtime)
    {
        var item = await runtime.State.GetAsync(Store(context), (string)context.Request.RouteValues["key"]!, context.RequestAborted);
        if (item is null)
        {
            context.Response.StatusCode = StatusCodes.Status204NoContent;
            return;
        }
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = "application/json";
        context.Response.Headers.ETag = item.ETag;
        if (item.ExpiresAt is { } expires) context.Response.Headers["metadata.ttlExpireTime"] = StateApi.ExpireTimeText(expires);
        await context.Response.Body.WriteAsync(item.Value, context.RequestAborted);
    }

    private static async Task DeleteState(HttpContext context, SidecarRuntime runtime)
    {
        var etag = context.Request.Headers.IfMatch.FirstOrDefault();
        await runtime.State.DeleteAsync(Store(context), (string)context.Request.RouteValues["key"]!, etag,
            ParseConcurrency(context.Request.Query["concurrency"].FirstOrDefault()), context.RequestAborted);
        context.Response.StatusCode = StatusCodes.Status204NoContent;
    }

    private static async Task Save(HttpContext context, SidecarRuntime runtime)
    {
        var store = Store(context);
        runtime.State.Store(store);
        var queryMetadata = QueryMetadata(context);
        var items = await ParseJsonAsync(context, runtime, SidecarJson.Default.ListJsonObject);
        var saves = items.Select(item => new StateSave(
            RequiredKey(item),
            ValueBytes(item["value"]),
            ETagOf(item),
            ParseConcurrency(item["options"]?["concurrency"]?.GetValue<string>()),
            Merge(queryMetadata, item["metadata"] as JsonObject))).ToList();
        await runtime.State.SaveAsync(store, saves, context.RequestAborted);
        context.Response.StatusCode = StatusCodes.Status204NoContent;
    }

    private static async Task BulkGet(HttpContext context, SidecarRuntime runtime)
    {
        var store = Store(context);
        runtime.State.Store(store);
        var request = await ParseJsonAsync(context, runtime, SidecarJson.Default.JsonObject);
        var keys = (request["keys"] as JsonArray)?.Select(k => k?.GetValue<string>() ?? "").ToList() ?? [];
        var results = new JsonArray();
        foreach (var key in keys)
        {
            var result = new JsonObject { ["key"] = key };
            try
            {
                if (await runtime.State.GetAsync(store, key, context.RequestAborted) is { } item)
                {
                    result["data"] = ParseStored(item.Value);
                    result["etag"] = item.ETag;
                }
            }
            catch (DaprError e)
            {
                result["error"] = e.Message;
            }
            results.Add((JsonNode)result); // not Add<T>, which would wrap it through reflection
        }
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(results.ToJsonString(), context.RequestAborted);
    }

    private static async Task Transact(HttpContext context, SidecarRuntime runtime)
    {
        var store = Store(context);
        runtime.State.Store(store);
        var request = await ParseJsonAsync(context, runtime, SidecarJson.Default.JsonObject);
        var requestMetadata = Merge(QueryMetadata(context), request["metadata"] as JsonObject);
        var operations = new List<StateOperation>();
        foreach (var node in request["operations"] as JsonArray ?? [])
        {
            var operation = node?["operation"]?.GetValue<string>();
            var item = node?["request"] as JsonObject ?? throw DaprError.Malformed("a transaction operation has no request");
            var metadata = Merge(requestMetadata, item["metadata"] as JsonObject);
            var concurrency = ParseConcurrency(item["options"]?["concurrency"]?.GetValue<string>());
            operations.Add(operation switch
            {
                "upsert" => new StateOperation(RequiredKey(item), ValueBytes(item["value"]), ETagOf(item), concurrency, metadata, JsonValue: true),
                "delete" => new StateOperation(RequiredKey(item), null, ETagOf(item), concurrency, metadata),
                _ => throw new DaprError(400, Grpc.Core.StatusCode.Unimplemented, "ERR_NOT_SUPPORTED_STATE_OPERATION", $"operation type {operation} not supported"),
            });
        }
        await runtime.State.TransactAsync(store, operations, ApiSpan.Propagated(context).TraceParent,
            ApiSpan.Propagated(context).TraceState, context.RequestAborted);
        context.Response.StatusCode = StatusCodes.Status204NoContent;
    }

    private static string RequiredKey(JsonObject item) =>
        item["key"]?.GetValue<string>() is { Length: > 0 } key ? key : throw DaprError.Malformed("\"key\" is a required field");

    private static string? ETagOf(JsonObject item) => item["etag"]?.GetValue<string>();

    /// <summary>The stored bytes of an HTTP value: its JSON text (a string value keeps its quotes, as Go re-marshals it).</summary>
    private static byte[] ValueBytes(JsonNode? value) => Encoding.UTF8.GetBytes(value?.ToJsonString() ?? "null");

    private static JsonNode? ParseStored(byte[] value)
    {
        try
        {
            return JsonNode.Parse(value);
        }
        catch (JsonException)
        {
            return JsonValue.Create(Convert.ToBase64String(value));
        }
    }

    private static Concurrency ParseConcurrency(string? value) => value switch
    {
        "first-write" => Concurrency.FirstWrite,
        "last-write" => Concurrency.LastWrite,
        _ => Concurrency.Unspecified,
    };

    private static Dictionary<string, string> Merge(IReadOnlyDictionary<string, string> outer, JsonObject? inner)
    {
        var merged = new Dictionary<string, string>(outer, StringComparer.Ordinal);
        foreach (var (k, v) in inner ?? []) merged[k] = v?.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : v?.ToJsonString() ?? "";
        return merged;
    }

    private static void MapMetadata(WebApplication app, SidecarRuntime runtime)
    {
        MapVerbs(app, runtime, "/v1.0/metadata", ["GET"], context =>
            context.Response.WriteAsJsonAsync(MetadataDocument.Build(runtime), MetadataDocument.MetadataJson.Default.Document));
        MapVerbs(app, runtime, "/v1.0/metadata/{key}", ["PUT"], async context =>
        {
            using var reader = new StreamReader(context.Request.Body);
            runtime.ExtendedMetadata[(string)context.Request.RouteValues["key"]!] = await reader.ReadToEndAsync(context.RequestAborted);
            context.Response.StatusCode = StatusCodes.Status204NoContent;
        });
    }

    /// <summary>Fault injection for tests and demos (not a Dapr API): see <see cref="DeliveryFaults"/>.</summary>
    private static void MapFaults(WebApplication app, SidecarRuntime runtime)
    {
        app.MapPost("/v1.0-devsidecar/faults/drop", async context =>
        {
            DeliveryFaults.DropRule? rule;
            try
            {
                rule = await context.Request.ReadFromJsonAsync(HttpApiJson.Web.DropRule, context.RequestAborted);
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException)
            {
                // Not JSON, or not sent as JSON: answered as daprd answers malformed input, not as a server error.
                throw DaprError.Malformed($"a drop rule is a JSON object: {e.Message}");
            }
            if (rule is null || string.IsNullOrEmpty(rule.Topic) || (rule.Count is null && rule.Rate is null))
                throw DaprError.Malformed("a drop rule needs a topic and a count and/or a rate");
            runtime.Faults.Set(rule);
            runtime.Logger.LogWarning("FAULT INJECTION enabled: events on topic {Topic} for app '{AppId}' will be dropped ({Rule})", rule.Topic, runtime.Options.AppId, rule);
            context.Response.StatusCode = StatusCodes.Status204NoContent;
        });
        app.MapGet("/v1.0-devsidecar/faults", () =>
            Results.Json(new FaultsReport(runtime.Faults.Rules, runtime.Faults.Dropped), HttpApiJson.Web.FaultsReport));
        app.MapDelete("/v1.0-devsidecar/faults", () =>
        {
            runtime.Faults.Clear();
            return Results.NoContent();
        });
    }

    internal sealed record FaultsReport(IReadOnlyList<DeliveryFaults.DropRule> Rules, IReadOnlyList<DeliveryFaults.DroppedEvent> Dropped);

    /// <summary>Query keys with the case-sensitive prefix <c>metadata.</c>, prefix stripped, first value only.</summary>
    private static Dictionary<string, string> QueryMetadata(HttpContext context) =>
        context.Request.Query.Where(q => q.Key.StartsWith("metadata.", StringComparison.Ordinal))
            .ToDictionary(q => q.Key["metadata.".Length..], q => q.Value.FirstOrDefault() ?? "", StringComparer.Ordinal);

    private static async Task<byte[]> ReadBodyAsync(HttpContext context, SidecarRuntime runtime)
    {
        if (context.Request.ContentLength > runtime.Options.MaxBodySize)
            throw new DaprError(413, Grpc.Core.StatusCode.ResourceExhausted, "ERR_BODY_TOO_LARGE", "request body too large");
        using var buffer = new MemoryStream();
        await context.Request.Body.CopyToAsync(buffer, context.RequestAborted);
        return buffer.ToArray();
    }

    private static async Task<T> ParseJsonAsync<T>(HttpContext context, SidecarRuntime runtime, JsonTypeInfo<T> type) where T : class
    {
        var body = await ReadBodyAsync(context, runtime);
        try
        {
            return JsonSerializer.Deserialize(body, type) ?? throw DaprError.Malformed("the request body is empty");
        }
        catch (JsonException e)
        {
            throw DaprError.Malformed($"failed to parse the request body: {e.Message}");
        }
    }
}
