using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using DevSidecar.Hosting;
using DevSidecar.Resources;
using Microsoft.Extensions.Logging;

namespace DevSidecar.AppChannel;

/// <summary>The sidecar's connection to its app over HTTP: readiness, discovery calls, and the client that delivers and invokes.</summary>
public sealed class AppChannel : IDisposable
{
    private readonly SidecarOptions _options;
    private readonly ILogger _logger;

    public AppChannel(SidecarOptions options, ILogger logger)
    {
        _options = options;
        _logger = logger;
        if (options.AppPort is { } port)
        {
            if (options.AppProtocol is not ("http" or ""))
                throw new NotSupportedException($"app protocol '{options.AppProtocol}' is not supported by the dev sidecar; use http");
            BaseAddress = new Uri($"http://{options.AppChannelAddress}:{port}");
        }
        Http = new HttpClient(new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
            ConnectTimeout = TimeSpan.FromSeconds(5),
        })
        { Timeout = Timeout.InfiniteTimeSpan };
    }

    /// <summary>Null for a sidecar without an app.</summary>
    public Uri? BaseAddress { get; }
    public HttpClient Http { get; }

    /// <summary>False while app health checks find the app unhealthy: it gets no invocations and no events.</summary>
    public volatile bool Healthy = true;

    public Uri UriFor(string pathAndQuery) =>
        new(BaseAddress ?? throw new InvalidOperationException("this sidecar has no app"), pathAndQuery.StartsWith('/') ? pathAndQuery : "/" + pathAndQuery);

    /// <summary>Headers daprd puts on every call to the app.</summary>
    public void Stamp(HttpRequestMessage request)
    {
        if (_options.AppApiToken is { Length: > 0 } token) request.Headers.TryAddWithoutValidation("dapr-api-token", token);
    }

    /// <summary>Blocks until the app port accepts TCP connections, dialling every 100 ms as daprd does.</summary>
    public async Task WaitForAppPortAsync(CancellationToken cancellationToken)
    {
        var logged = false;
        while (true)
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await socket.ConnectAsync(BaseAddress!.Host, BaseAddress.Port, cancellationToken);
                return;
            }
            catch (SocketException)
            {
                if (!logged) _logger.LogInformation("waiting for the app to listen on port {Port}", BaseAddress!.Port);
                logged = true;
            }
            await Task.Delay(100, cancellationToken);
        }
    }

    /// <summary>One app health probe: GET the health path, any 2xx within the timeout is healthy.</summary>
    public async Task<bool> ProbeHealthAsync(CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.AppHealthProbeTimeout);
        try
        {
            using var response = await Http.GetAsync(UriFor(_options.AppHealthCheckPath), timeout.Token);
            return response.IsSuccessStatusCode;
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>GET /dapr/config: daprd reads actor settings from it; the dev sidecar only calls it as daprd does.</summary>
    public async Task CallConfigAsync(CancellationToken cancellationToken)
    {
        using var request = DiscoveryRequest("dapr/config");
        try
        {
            using var response = await Http.SendAsync(request, cancellationToken);
        }
        catch (HttpRequestException e)
        {
            _logger.LogDebug("GET /dapr/config failed: {Error}", e.Message);
        }
    }

    /// <summary>GET /dapr/subscribe, retried on transport errors (500 ms, 3 times); 404 or any other failure means none.</summary>
    public async Task<IReadOnlyList<SubscriptionSpec>> GetProgrammaticSubscriptionsAsync(CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                using var request = DiscoveryRequest("dapr/subscribe");
                using var response = await Http.SendAsync(request, cancellationToken);
                if (response.StatusCode == HttpStatusCode.NotFound) return [];
                if (!response.IsSuccessStatusCode)
                {
                    _logger.LogError("GET /dapr/subscribe answered {Status}; the app has no programmatic subscriptions", (int)response.StatusCode);
                    return [];
                }
                var body = await response.Content.ReadAsStringAsync(cancellationToken);
                return ProgrammaticSubscriptions.Parse(body);
            }
            catch (HttpRequestException) when (attempt < 3)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(500 * Math.Pow(2, attempt)), cancellationToken);
            }
            catch (Exception e) when (e is HttpRequestException or JsonException)
            {
                _logger.LogError("GET /dapr/subscribe failed: {Error}; the app has no programmatic subscriptions", e.Message);
                return [];
            }
        }
    }

    private HttpRequestMessage DiscoveryRequest(string path)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, UriFor(path))
        {
            // daprd sends Content-Type: application/json on these GETs; HttpClient puts it on (empty) content only.
            Content = new ByteArrayContent([]) { Headers = { ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json") } },
        };
        request.Headers.TryAddWithoutValidation("dapr-app-id", _options.AppId);
        Stamp(request);
        return request;
    }

    public void Dispose() => Http.Dispose();
}
