using System.Net;
using Microsoft.Extensions.Logging;
using TestHosting;

namespace OrderFlow.Bench;

/// <summary>How the bench hosts apps and sidecars (with the test-hosting library) and loads them.</summary>
public static class Hosting
{
    /// <summary>
    /// A cluster as the bench runs one: sidecar and app logs only from Error up, on stderr (stdout keeps the tables); no
    /// log lines kept (formatting them would be measured); a minute for every app to be ready on a loaded machine.
    /// </summary>
    public static Cluster Cluster(params string[] resources) => new(new ClusterOptions
    {
        Resources = resources,
        ConsoleLogLevel = LogLevel.Error,
        CapturedLogLevel = LogLevel.None,
        AppArgs = ["--Logging:LogLevel:Default=Error", "--Logging:Console:LogToStandardErrorThreshold=Trace"],
        ReadyTimeout = TimeSpan.FromSeconds(60),
    });

    /// <summary>The connections for load: 16 (or <paramref name="connections"/>) pooled HTTP/1.1 connections, no proxy, no cookies.</summary>
    public static SocketsHttpHandler LoadHandler(int connections) => new()
    {
        MaxConnectionsPerServer = connections,
        UseProxy = false,
        UseCookies = false,
        AllowAutoRedirect = false,
        AutomaticDecompression = DecompressionMethods.None,
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
    };

    public static HttpClient LoadClient(int connections) => new(LoadHandler(connections)) { Timeout = TimeSpan.FromSeconds(30) };

    /// <summary>A load client calling <paramref name="appId"/> through <paramref name="member"/>'s sidecar.</summary>
    public static HttpClient InvokeClient(Member member, string appId, int connections)
    {
        var client = SidecarClients.Invoke(member.Sidecar, appId, LoadHandler(connections));
        client.Timeout = TimeSpan.FromSeconds(30);
        return client;
    }
}
