using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using DevSidecar.Api;
using DevSidecar.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Primitives;

namespace DevSidecar.Invocation;

/// <summary>
/// Service invocation: caller app → its sidecar → the target's sidecar → target app, as daprd does it
/// (directmessaging, http_channel): method, raw query, headers and body forwarded; the app's status, headers
/// and body passed back unwrapped and streamed with a flush per chunk, so SSE and chunked responses arrive as produced.
/// </summary>
public sealed class InvocationProxy(SidecarOptions options, AppChannel.AppChannel app, SidecarRegistry registry, string internalToken, ILogger logger)
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

    /// <summary>An app's call through this sidecar to <paramref name="targetAppId"/>.</summary>
    public async Task InvokeAsync(HttpContext context, string targetAppId, string method)
    {
        if (targetAppId == options.AppId)
        {
            await ForwardToAppAsync(context, method, callerAppId: options.AppId, callerNamespace: options.Namespace);
            return;
        }

        for (var attempt = 0; ; attempt++)
        {
            var target = registry.Next(targetAppId, refresh: attempt > 0)
                         ?? throw DaprError.DirectInvoke($"failed to invoke, id: {targetAppId}, err: couldn't find service: {targetAppId}");
            using var request = CreateRequest(context, new Uri($"http://127.0.0.1:{target.HttpPort}{InternalPrefix}{method}{context.Request.QueryString}"));
            request.Headers.TryAddWithoutValidation(InternalTokenHeader, target.InternalToken);
            request.Headers.TryAddWithoutValidation("dapr-caller-app-id", options.AppId);
            request.Headers.TryAddWithoutValidation("dapr-caller-namespace", options.Namespace);
            try
            {
                await SendAndCopyAsync(context, request);
                return;
            }
            catch (HttpRequestException e) when (e.InnerException is SocketException && attempt < 2 && !HasBody(context))
            {
                // The chosen instance is gone (daprd retries sidecar-to-sidecar transport errors); look again.
                logger.LogDebug("sidecar of {AppId} on port {Port} is unreachable, retrying: {Error}", targetAppId, target.HttpPort, e.Message);
            }
            catch (HttpRequestException e)
            {
                throw DaprError.DirectInvoke($"failed to invoke, id: {targetAppId}, err: {e.Message}");
            }
        }
    }

    /// <summary>A call forwarded by another sidecar, for this sidecar's app.</summary>
    public async Task AcceptForwardedAsync(HttpContext context, string method)
    {
        if (context.Request.Headers[InternalTokenHeader] != internalToken)
        {
            context.Response.StatusCode = StatusCodes.Status403Forbidden;
            return;
        }
        await ForwardToAppAsync(context, method,
            callerAppId: context.Request.Headers["dapr-caller-app-id"].ToString(),
            callerNamespace: context.Request.Headers["dapr-caller-namespace"].ToString());
    }

    private async Task ForwardToAppAsync(HttpContext context, string method, string callerAppId, string callerNamespace)
    {
        if (app.BaseAddress is null)
            throw DaprError.DirectInvoke($"failed to invoke, id: {options.AppId}, err: app channel is not initialized: the sidecar has no app port");
        if (!app.Healthy)
            throw DaprError.DirectInvoke($"failed to invoke, id: {options.AppId}, err: app is not in a healthy state");
        using var request = CreateRequest(context, app.UriFor(method + context.Request.QueryString));
        request.Headers.TryAddWithoutValidation("dapr-caller-app-id", callerAppId);
        request.Headers.TryAddWithoutValidation("dapr-callee-app-id", options.AppId);
        request.Headers.TryAddWithoutValidation("dapr-caller-namespace", callerNamespace);
        AddForwardedHeaders(context, request);
        app.Stamp(request);
        try
        {
            await SendAndCopyAsync(context, request);
        }
        catch (HttpRequestException e)
        {
            throw DaprError.DirectInvoke($"failed to invoke, id: {options.AppId}, err: {e.Message}");
        }
    }

    private static HttpRequestMessage CreateRequest(HttpContext context, Uri uri)
    {
        var request = new HttpRequestMessage(HttpMethod.Parse(context.Request.Method), uri);
        if (HasBody(context))
        {
            request.Content = new StreamContent(context.Request.Body);
            if (context.Request.ContentLength is { } length) request.Content.Headers.ContentLength = length;
        }
        var listedInConnection = ConnectionListed(context.Request.Headers.Connection);
        foreach (var (name, values) in context.Request.Headers)
        {
            if (HopByHop.Contains(name) || SidecarOwned.Contains(name) || listedInConnection.Contains(name)
                || name.EndsWith("-bin", StringComparison.OrdinalIgnoreCase)) continue;
            if (!request.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values))
                request.Content?.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values);
        }
        if (!request.Headers.Contains("traceparent")) request.Headers.TryAddWithoutValidation("traceparent", TraceContext.NewTraceParent());
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

    private static async Task SendAndCopyAsync(HttpContext context, HttpRequestMessage request)
    {
        using var response = await SidecarClient.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, context.RequestAborted);
        context.Response.StatusCode = (int)response.StatusCode;
        var listedInConnection = ConnectionListed(response.Headers.Connection);
        foreach (var (name, values) in response.Headers.Concat(response.Content.Headers))
        {
            if ((HopByHop.Contains(name) || listedInConnection.Contains(name)) && !name.Equals("content-length", StringComparison.OrdinalIgnoreCase)) continue;
            context.Response.Headers[name] = new StringValues([.. values]);
        }
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

public static class TraceContext
{
    /// <summary>A new W3C traceparent, sampled.</summary>
    public static string NewTraceParent()
    {
        Span<byte> ids = stackalloc byte[24]; // a 16-byte trace id, then an 8-byte parent id
        RandomNumberGenerator.Fill(ids);
        return $"00-{Convert.ToHexStringLower(ids[..16])}-{Convert.ToHexStringLower(ids[16..])}-01";
    }
}
