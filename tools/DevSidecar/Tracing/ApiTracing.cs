using System.Diagnostics;
using System.Globalization;
using DevSidecar.Invocation;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Proto = Dapr.Client.Autogen.Grpc.v1;

namespace DevSidecar.Tracing;

/// <summary>
/// The span daprd starts around each call of its APIs (dapr v1.17.9 pkg/diagnostics/http_tracing.go HTTPTraceMiddleware,
/// grpc_tracing.go GRPCTraceUnaryServerInterceptor / GRPCTraceStreamServerInterceptor), kept on the request so the
/// API can propagate it: the child of the caller's traceparent (gRPC: grpc-trace-bin, else traceparent), a client
/// span named after the path (HTTP) or the full method (gRPC), renamed <c>CallLocal/{appId}/{method}</c> for service
/// invocation; attributes only on a sampled span. None at all with a sampling rate of 0.
/// </summary>
public sealed class ApiSpan(SidecarSpan span)
{
    public SidecarSpan Span { get; } = span;

    /// <summary>The invocation's target and method, which rename the span (directmessaging.go directMessagingSpanData).</summary>
    public (string AppId, string Method)? Invocation { get; private set; }

    public void Invoking(string appId, string method) => Invocation = (appId, method);

    public static ApiSpan? Of(HttpContext? context) => context?.Features.Get<ApiSpan>();

    /// <summary>
    /// The trace context daprd puts in what the call produces (a CloudEvent's traceparent, the outbox's event): its API
    /// span's. With tracing off there is no span, and daprd writes an empty traceparent (http.go onPublish
    /// TraceIDAndStateFromSpan of a no-op span).
    /// </summary>
    public static (string TraceParent, string? TraceState) Propagated(HttpContext? context) =>
        Of(context) is { } api ? (api.Span.TraceParent, api.Span.TraceState) : ("", null);

    public static (string TraceParent, string? TraceState) Propagated(ServerCallContext context) => Propagated(context.GetHttpContext());
}

public static class ApiTracing
{
    /// <summary>Registers the HTTP API's tracing middleware (before the API token check, as daprd's chain runs).</summary>
    public static void UseDaprTracing(this WebApplication app, SidecarTracing tracing)
    {
        if (!tracing.Enabled) return; // daprd's useTracing: no middleware for a rate of 0
        app.Use(async (context, next) =>
        {
            var path = context.Request.Path.Value ?? "";
            // Health checks are not traced (isHealthzRequest); the dev sidecar's own sidecar-to-sidecar routes are
            // daprd's internal gRPC, traced where they are served (InvocationProxy).
            if (path.Contains("/healthz", StringComparison.Ordinal) || path.StartsWith("/v1.0-devsidecar/", StringComparison.Ordinal))
            {
                await next(context);
                return;
            }
            using var span = tracing.Start(path, ActivityKind.Client,
                context.Request.Headers["traceparent"].FirstOrDefault(), context.Request.Headers["tracestate"].FirstOrDefault())!;
            var api = new ApiSpan(span);
            context.Features.Set(api);
            context.Response.OnStarting(() =>
            {
                End(context, api);
                return Task.CompletedTask;
            });
            await next(context);
            if (!context.Response.HasStarted) End(context, api);
        });
    }

    private static void End(HttpContext context, ApiSpan api)
    {
        var span = api.Span;
        var status = context.Response.StatusCode;
        if (span.Recording)
        {
            var request = context.Request;
            foreach (var (key, values) in request.Headers)
            {
                if (key.Length >= 5 && key.StartsWith("dapr-", StringComparison.OrdinalIgnoreCase) && values.Count > 0)
                    span.SetTag(key.ToLowerInvariant(), NonEmpty(values[^1]));
            }
            var route = (context.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? "";
            var pathText = request.PathBase + request.Path;
            if (api.Invocation is { } target)
            {
                span.SetTag("rpc.service", "ServiceInvocation").SetTag("net.peer.name", NonEmpty(target.AppId));
                span.SetName($"CallLocal/{target.AppId}/{target.Method}");
            }
            else if (route.Contains("/state/{store}", StringComparison.Ordinal))
            {
                span.SetTag("db.system", "state").SetTag("db.connection_string", "state")
                    .SetTag("db.statement", $"{request.Method} {pathText}").SetTag("db.name", NonEmpty(request.RouteValues["store"] as string));
            }
            else if (route.Contains("/publish/", StringComparison.Ordinal))
            {
                // daprd reads a "topic" route parameter its publish routes do not have (they end in /*): the
                // destination is always empty, and an empty attribute is not set.
                span.SetTag("messaging.system", "pubsub");
            }
            span.SetTag("dapr.protocol", "http").SetTag("dapr.api", $"{request.Method} {pathText}")
                .SetTag("dapr.status_code", status.ToString(CultureInfo.InvariantCulture))
                .SetTag("http.request.method", request.Method)
                .SetTag("url.full", NonEmpty(context.Features.Get<IHttpRequestFeature>()?.RawTarget))
                .SetTag("server.address", NonEmpty(context.Connection.RemoteIpAddress?.ToString()))
                .SetTag("server.port", context.Connection.RemotePort.ToString(CultureInfo.InvariantCulture));
        }
        // The caller learns the span's context, unless the handler answered with one (an invocation passes the app's on).
        if (!context.Response.HasStarted && !context.Response.Headers.ContainsKey("traceparent"))
        {
            context.Response.Headers["traceparent"] = span.TraceParent;
            if (span.TraceState is { Length: <= 512 } state) context.Response.Headers["tracestate"] = state;
        }
        span.SetHttpStatus(status);
        span.Dispose();
    }

    /// <summary>daprd's AddAttributesToSpan skips empty values.</summary>
    internal static string? NonEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}

/// <summary>daprd's gRPC tracing interceptors, for the Dapr and workflow (TaskHubSidecarService) services.</summary>
public sealed class GrpcTracingInterceptor(SidecarTracing tracing) : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        if (!tracing.Enabled) return await continuation(request, context);
        // Unary calls of any service but the internal one are client spans.
        using var span = Start(context, ActivityKind.Client);
        try
        {
            return await continuation(request, context);
        }
        catch (RpcException e)
        {
            span.SetError(e.Status.Detail);
            throw;
        }
        finally
        {
            Finish(span, request, context);
        }
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        if (!tracing.Enabled)
        {
            await continuation(request, responseStream, context);
            return;
        }
        // Streams of the workflow service are server spans, of the Dapr service client spans.
        using var span = Start(context, context.Method.StartsWith("/TaskHubSidecarService", StringComparison.Ordinal) ? ActivityKind.Server : ActivityKind.Client);
        try
        {
            await continuation(request, responseStream, context);
        }
        catch (RpcException e)
        {
            span.SetError(e.Status.Detail);
            throw;
        }
        finally
        {
            Finish(span, request: null, context);
        }
    }

    private SidecarSpan Start(ServerCallContext context, ActivityKind kind)
    {
        var (traceParent, traceState) = IncomingContext(context.RequestHeaders);
        var span = tracing.Start(context.Method, kind, traceParent, traceState)!;
        context.GetHttpContext().Features.Set(new ApiSpan(span));
        return span;
    }

    /// <summary>SpanContextFromIncomingGRPCMetadata: grpc-trace-bin, else traceparent (and tracestate).</summary>
    private static (string? TraceParent, string? TraceState) IncomingContext(Metadata headers)
    {
        if (headers.GetValueBytes("grpc-trace-bin") is { } binary)
            return (FromBinary(binary), null);
        return (headers.GetValue("traceparent"), headers.GetValue("tracestate"));
    }

    /// <summary>OpenCensus's binary trace context: version 0, then field 0 (trace id), 1 (span id), 2 (options).</summary>
    private static string? FromBinary(byte[] bytes)
    {
        if (bytes.Length < 29 || bytes[0] != 0 || bytes[1] != 0 || bytes[18] != 1 || bytes[27] != 2) return null;
        return $"00-{Convert.ToHexStringLower(bytes.AsSpan(2, 16))}-{Convert.ToHexStringLower(bytes.AsSpan(19, 8))}-{bytes[28] & 1:x2}";
    }

    private static void Finish(SidecarSpan span, object? request, ServerCallContext context)
    {
        if (span.Recording)
        {
            foreach (var entry in context.RequestHeaders)
            {
                if (entry.Key.StartsWith("dapr-", StringComparison.Ordinal) && !entry.IsBinary)
                    span.SetTag(entry.Key, ApiTracing.NonEmpty(entry.Value));
            }
            AppendRequestAttributes(span, request, context.Method);
            span.SetTag("dapr.protocol", "grpc").SetTag("dapr.api", context.Method);
        }
        // grpc-trace-bin goes back on every call but InvokeService.
        var response = context.GetHttpContext().Response;
        if (!response.HasStarted) response.Headers["grpc-trace-bin"] = Convert.ToBase64String(span.Binary()).TrimEnd('=');
    }

    /// <summary>The request types' AppendSpanAttributes (dapr v1.17.9 pkg/proto/runtime/v1/dapr_tracing.go).</summary>
    private static void AppendRequestAttributes(SidecarSpan span, object? request, string method)
    {
        switch (request)
        {
            case Proto.GetStateRequest r: State(r.StoreName); break;
            case Proto.SaveStateRequest r: State(r.StoreName); break;
            case Proto.DeleteStateRequest r: State(r.StoreName); break;
            case Proto.PublishEventRequest r: PubSub(r.Topic); break;
            case Proto.BulkPublishRequest r: PubSub(r.Topic); break;
        }

        void State(string store) => span.SetTag("db.name", ApiTracing.NonEmpty(store)).SetTag("rpc.service", "Dapr").SetTag("db.system", "state")
            .SetTag("db.statement", method).SetTag("db.connection_string", "state");
        void PubSub(string topic) => span.SetTag("rpc.service", "Dapr").SetTag("messaging.system", "pubsub")
            .SetTag("messaging.destination.name", ApiTracing.NonEmpty(topic));
    }
}
