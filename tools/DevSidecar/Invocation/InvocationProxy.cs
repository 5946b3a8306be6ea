using System.Diagnostics;
using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using DevSidecar.Api;
using DevSidecar.Hosting;
using DevSidecar.Resiliency;
using DevSidecar.Tracing;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Primitives;

namespace DevSidecar.Invocation;

/// <summary>
/// Service invocation: caller app → its sidecar → the target's sidecar → target app, as daprd does it
/// (pkg/api/http/directmessaging.go, pkg/messaging/direct_messaging.go, http_channel): method, raw query, headers and
/// body forwarded; the app's status, headers and body passed back unwrapped, a success streamed with a flush per
/// chunk, so SSE and chunked responses arrive as produced. Each call runs under the target app's Resiliency policy:
/// an answer outside 200-399 or a failed call is a failed attempt (retried under a retry policy, counted by a circuit
/// breaker); the last answer is passed back as it came. A target app with no policy of its own gets only daprd's
/// built-in retries: 3 more attempts, 1s apart, when its sidecar cannot be reached. A request without a length
/// (chunked) is streamed, and then never retried.
/// </summary>
public sealed class InvocationProxy(SidecarOptions options, AppChannel.AppChannel app, SidecarRegistry registry, string internalToken,
    ResiliencyPolicies resiliency, SidecarTracing tracing, ILogger logger)
{
    /// <summary>The route a sidecar serves for calls forwarded by other sidecars.</summary>
    public const string InternalPrefix = "/v1.0-devsidecar/invoke/";
    public const string InternalTokenHeader = "dapr-devsidecar-token";

    private static readonly HttpClient SidecarClient = new(new SocketsHttpHandler
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        UseCookies = false,
        AutomaticDecompression = DecompressionMethods.None,
        ConnectTimeout = TimeSpan.FromSeconds(5),
    })
    { Timeout = Timeout.InfiniteTimeSpan };

    // Not forwarded in either direction (http_channel / util.go).
    private static readonly HashSet<string> HopByHop = new(StringComparer.OrdinalIgnoreCase)
    {
        "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "http2-settings", "te", "trailer",
        "proxy-authorization", "proxy-authenticate", "content-length", "host",
    };

    // Stamped by the sidecars; values supplied by the caller are dropped.
    private static readonly HashSet<string> SidecarOwned = new(StringComparer.OrdinalIgnoreCase)
    {
        "dapr-app-id", "dapr-api-token", "destination-app-id", "dapr-caller-app-id", "dapr-callee-app-id", "dapr-caller-namespace",
        InternalTokenHeader,
    };

    /// <summary>An answer outside 200-399, kept whole so that a retry can replace it or the caller gets it as it came.</summary>
    private sealed class FailedAnswer(HttpResponseMessage response, byte[] body)
        : StatusCodeException((int)response.StatusCode, $"the app answered {(int)response.StatusCode}")
    {
        public HttpResponseMessage Response { get; } = response;
        public byte[] Body { get; } = body;
    }

    /// <summary>An app's call through this sidecar to <paramref name="targetAppId"/>.</summary>
    public async Task InvokeAsync(HttpContext context, string targetAppId, string method)
    {
        var policy = resiliency.Endpoint(targetAppId, method);
        ApiSpan.Of(context)?.Invoking(targetAppId, method);
        // Go's server reports an unknown length (chunked) as -1: daprd streams such a body and cannot send it twice.
        var streaming = context.Request.ContentLength is null && context.Request.Headers.TransferEncoding.Count > 0;
        var body = streaming ? null : await ReadBodyAsync(context);
        var answered = false;
        try
        {
            await policy.RunAsync(async ct =>
            {
                var response = await SendAsync(context, targetAppId, method, body, streaming, ct);
                var status = (int)response.StatusCode;
                if (!streaming && status is < 200 or > 399)
                {
                    var failed = new FailedAnswer(response, await response.Content.ReadAsByteArrayAsync(ct));
                    response.Dispose();
                    throw failed;
                }
                using (response)
                {
                    if (answered) throw new PermanentFailureException(new InvalidOperationException("already completed"));
                    answered = true;
                    try
                    {
                        await CopyAsync(context, response);
                    }
                    catch (Exception e) when (e is not OperationCanceledException)
                    {
                        throw new PermanentFailureException(e); // part of the answer is out: never send it twice
                    }
                }
                return true;
            }, context.RequestAborted);
        }
        catch (FailedAnswer failed) when (!answered)
        {
            using var response = failed.Response;
            CopyHeaders(context, response);
            await context.Response.Body.WriteAsync(failed.Body, context.RequestAborted);
        }
        catch (Exception e) when (!answered && e is not DaprError && e is not OperationCanceledException)
        {
            throw DaprError.DirectInvoke($"failed to invoke, id: {targetAppId}, err: {e.Message}");
        }
    }

    /// <summary>One attempt: the app's answer, from this sidecar's own app or through the target's sidecar.</summary>
    private async Task<HttpResponseMessage> SendAsync(HttpContext context, string targetAppId, string method, byte[]? body, bool streaming, CancellationToken ct)
    {
        if (targetAppId == options.AppId)
            return await SendToAppAsync(context, method, body, callerAppId: options.AppId, callerNamespace: options.Namespace, ApiSpan.Of(context)?.Span, ct);
        // daprd's built-in retries: only for a target with no policy of its own, only when its sidecar is unreachable
        // (gRPC Unavailable), and not for a streamed body.
        if (streaming || resiliency.AppTargeted(targetAppId)) return await SendToSidecarAsync(context, targetAppId, method, body, refresh: false, ct);
        var attempts = 0;
        return await resiliency.BuiltInServiceRetries().RunAsync(async attemptToken =>
        {
            attempts++;
            try
            {
                return await SendToSidecarAsync(context, targetAppId, method, body, refresh: attempts > 1, attemptToken);
            }
            catch (HttpRequestException e) when (e.InnerException is SocketException)
            {
                logger.LogDebug("sidecar of {AppId} is unreachable: {Error}", targetAppId, e.Message);
                throw new HttpRequestException($"failed to invoke target {targetAppId} after {attempts - 1} retries. Error: {e.Message}", e);
            }
            catch (HttpRequestException e)
            {
                throw new PermanentFailureException(e);
            }
        }, ct);
    }

    private async Task<HttpResponseMessage> SendToSidecarAsync(HttpContext context, string targetAppId, string method, byte[]? body, bool refresh, CancellationToken ct)
    {
        var target = registry.Next(targetAppId, refresh) ?? throw new InvalidOperationException($"couldn't find service: {targetAppId}");
        using var request = CreateRequest(context, new Uri($"http://127.0.0.1:{target.HttpPort}{InternalPrefix}{method}{context.Request.QueryString}"), body,
            ApiSpan.Of(context)?.Span);
        request.Headers.TryAddWithoutValidation(InternalTokenHeader, target.InternalToken);
        request.Headers.TryAddWithoutValidation("dapr-caller-app-id", options.AppId);
        request.Headers.TryAddWithoutValidation("dapr-caller-namespace", options.Namespace);
        return await SidecarClient.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
    }

    /// <summary>A call forwarded by another sidecar, for this sidecar's app.</summary>
    public async Task AcceptForwardedAsync(HttpContext context, string method)
    {
        if (context.Request.Headers[InternalTokenHeader] != internalToken)
        {
            context.Response.StatusCode = StatusCodes.Status403Forbidden;
            return;
        }
        var body = context.Request.ContentLength is null && context.Request.Headers.TransferEncoding.Count > 0 ? null : await ReadBodyAsync(context);
        // daprd's server span for the internal CallLocalStream, the child of the caller's sidecar span (grpc_tracing.go
        // GRPCTraceStreamServerInterceptor, spanAttributesMapFromGRPC): the app's request carries it.
        using var span = tracing.Start($"CallLocal/{options.AppId}/{method}", ActivityKind.Server,
            context.Request.Headers["traceparent"].FirstOrDefault(), context.Request.Headers["tracestate"].FirstOrDefault());
        span?.SetTag("rpc.service", "ServiceInvocation").SetTag("dapr.invoke_method", ApiTracing.NonEmpty(method))
            .SetTag("dapr.protocol", "grpc").SetTag("dapr.api", "/dapr.proto.internals.v1.ServiceInvocation/CallLocalStream");
        try
        {
            using var response = await SendToAppAsync(context, method, body,
                callerAppId: context.Request.Headers["dapr-caller-app-id"].ToString(),
                callerNamespace: context.Request.Headers["dapr-caller-namespace"].ToString(), span, context.RequestAborted);
            await CopyAsync(context, response);
        }
        catch (DaprError e)
        {
            span?.SetError(e.Message);
            throw;
        }
    }

    private async Task<HttpResponseMessage> SendToAppAsync(HttpContext context, string method, byte[]? body, string callerAppId, string callerNamespace,
        SidecarSpan? span, CancellationToken ct)
    {
        if (app.BaseAddress is null)
            throw DaprError.DirectInvoke($"failed to invoke, id: {options.AppId}, err: app channel is not initialized: the sidecar has no app port");
        if (!app.Healthy)
            throw DaprError.DirectInvoke($"failed to invoke, id: {options.AppId}, err: app is not in a healthy state");
        using var request = CreateRequest(context, app.UriFor(method + context.Request.QueryString), body, span);
        request.Headers.TryAddWithoutValidation("dapr-caller-app-id", callerAppId);
        request.Headers.TryAddWithoutValidation("dapr-callee-app-id", options.AppId);
        request.Headers.TryAddWithoutValidation("dapr-caller-namespace", callerNamespace);
        AddForwardedHeaders(context, request);
        app.Stamp(request);
        try
        {
            return await SidecarClient.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        }
        catch (HttpRequestException e)
        {
            throw DaprError.DirectInvoke($"failed to invoke, id: {options.AppId}, err: {e.Message}");
        }
    }

    /// <summary>The whole request body, so that it can be sent again (daprd's WithReplay); null when there is none.</summary>
    private static async Task<byte[]?> ReadBodyAsync(HttpContext context)
    {
        if (!HasBody(context)) return null;
        using var buffer = new MemoryStream();
        await context.Request.Body.CopyToAsync(buffer, context.RequestAborted);
        return buffer.ToArray();
    }

    /// <summary>The request to send on: <paramref name="body"/> when it was read, else the caller's body streamed (chunked).
    /// It carries the sidecar's span as its trace context; with tracing off, the caller's traceparent as it came (daprd
    /// v1.17.9 pkg/messaging/v1/util.go processHTTPToHTTPTraceHeaders, pkg/channel/http/http_channel.go).</summary>
    private static HttpRequestMessage CreateRequest(HttpContext context, Uri uri, byte[]? body, SidecarSpan? span)
    {
        var request = new HttpRequestMessage(HttpMethod.Parse(context.Request.Method), uri);
        if (body is not null) request.Content = new ByteArrayContent(body);
        else if (HasBody(context)) request.Content = new StreamContent(context.Request.Body);
        var listedInConnection = ConnectionListed(context.Request.Headers.Connection);
        foreach (var (name, values) in context.Request.Headers)
        {
            if (HopByHop.Contains(name) || SidecarOwned.Contains(name) || listedInConnection.Contains(name)
                || name.EndsWith("-bin", StringComparison.OrdinalIgnoreCase)) continue;
            if (!request.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values))
                request.Content?.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values);
        }
        if (span is not null)
        {
            request.Headers.Remove("traceparent");
            request.Headers.TryAddWithoutValidation("traceparent", span.TraceParent);
            if (span.TraceState is { } state)
            {
                request.Headers.Remove("tracestate");
                request.Headers.TryAddWithoutValidation("tracestate", state);
            }
        }
        return request;
    }

    /// <summary>Headers the Connection header names are hop-by-hop too (RFC 9110 §7.6.1).</summary>
    private static IReadOnlySet<string> ConnectionListed(IEnumerable<string?> connection) =>
        connection.Any(v => !string.IsNullOrEmpty(v))
            ? connection.SelectMany(v => (v ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
                .ToHashSet(StringComparer.OrdinalIgnoreCase)
            : NoneListed;

    private static readonly IReadOnlySet<string> NoneListed = new HashSet<string>();

    private static bool HasBody(HttpContext context) =>
        context.Request.ContentLength > 0 || context.Request.Headers.TransferEncoding.Count > 0;

    private static void AddForwardedHeaders(HttpContext context, HttpRequestMessage request)
    {
        var remote = context.Connection.RemoteIpAddress?.ToString() ?? "";
        var host = context.Request.Host.Value ?? "";
        request.Headers.TryAddWithoutValidation("X-Forwarded-For", remote);
        request.Headers.TryAddWithoutValidation("X-Forwarded-Host", host);
        request.Headers.TryAddWithoutValidation("Forwarded", $"for={remote};by={context.Connection.LocalIpAddress};host={host}");
    }

    private static void CopyHeaders(HttpContext context, HttpResponseMessage response)
    {
        context.Response.StatusCode = (int)response.StatusCode;
        var listedInConnection = ConnectionListed(response.Headers.Connection);
        foreach (var (name, values) in response.Headers.Concat(response.Content.Headers))
        {
            if ((HopByHop.Contains(name) || listedInConnection.Contains(name)) && !name.Equals("content-length", StringComparison.OrdinalIgnoreCase)) continue;
            context.Response.Headers[name] = new StringValues([.. values]);
        }
    }

    private static async Task CopyAsync(HttpContext context, HttpResponseMessage response)
    {
        CopyHeaders(context, response);
        // Kestrel must not buffer: every chunk the app writes goes out at once.
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        await using var body = await response.Content.ReadAsStreamAsync(context.RequestAborted);
        var buffer = ArrayPool<byte>.Shared.Rent(16 * 1024); // pooled: a fresh buffer per call was most of what a hop allocated
        try
        {
            int read;
            while ((read = await body.ReadAsync(buffer, context.RequestAborted)) > 0)
            {
                await context.Response.Body.WriteAsync(buffer.AsMemory(0, read), context.RequestAborted);
                await context.Response.Body.FlushAsync(context.RequestAborted);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}

/// <summary>
/// W3C trace context as daprd carries it, and the dev sidecar's spans that are not API calls. Each sidecar records
/// through its own ActivitySource, named <see cref="SourceName"/>.{appId}.{n} (Tracing/SidecarTracing.cs): a listener
/// that wants every sidecar's spans adds <c>DevSidecar.*</c>.
/// </summary>
public static class TraceContext
{
    public const string SourceName = "DevSidecar";

    /// <summary>
    /// daprd's span around one delivery (StartInternalCallbackSpan, "pubsub/{topic}", a client span with
    /// messaging.system and messaging.destination.name): the child of the CloudEvent's <c>traceparent</c>, or of its
    /// <c>traceid</c> when it has no <c>traceparent</c>; a new root when that value is not a valid W3C traceparent;
    /// none when the event has neither, or tracing is off (daprd v1.17.9 pkg/runtime/subscription/postman/http/http.go).
    /// The delivery request carries the span's context, as daprd's app channel sets it.
    /// </summary>
    public static SidecarSpan? StartDelivery(SidecarTracing tracing, string topic, string? traceParent, string? traceState)
    {
        if (traceParent is null) return null;
        var span = tracing.Start($"pubsub/{topic}", ActivityKind.Client, traceParent, traceState);
        span?.SetTag("messaging.system", "pubsub").SetTag("messaging.destination.name", topic);
        return span;
    }

    /// <summary>A new W3C traceparent, sampled.</summary>
    public static string NewTraceParent()
    {
        Span<byte> ids = stackalloc byte[24]; // a 16-byte trace id, then an 8-byte parent id
        RandomNumberGenerator.Fill(ids);
        return $"00-{Convert.ToHexStringLower(ids[..16])}-{Convert.ToHexStringLower(ids[16..])}-01";
    }
}
