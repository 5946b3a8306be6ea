using Dapr;
using Dapr.Client;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace OrderFlow.ServiceDefaults;

/// <summary>
/// The one way an app calls another: an <see cref="HttpClient"/> whose requests to <c>http://{appId}/{method}</c> Dapr's
/// <see cref="InvocationHandler"/> sends to the sidecar as <c>/v1.0/invoke/{appId}/method/{method}</c>. The clients come
/// from <see cref="IHttpClientFactory"/>, which pools the handlers; asking for one per call is cheap.
/// </summary>
public static class AppInvocation
{
    private const string ClientName = "dapr-invocation";

    /// <summary>
    /// Registers the invocation client. The sidecar's address is Dapr's default, read from the app's configuration
    /// first (DAPR_HTTP_ENDPOINT, else DAPR_HTTP_PORT; tests pass them per app on the command line) and then from the
    /// environment. The handler on its own would read the environment only, hence <see cref="InvocationHandler.DaprEndpoint"/>.
    /// </summary>
    internal static IServiceCollection AddAppInvocation(this IServiceCollection services)
    {
        services.AddHttpClient(ClientName)
            .AddHttpMessageHandler(sp => new InvocationHandler
            {
                DaprEndpoint = DaprDefaults.GetDefaultHttpEndpoint(sp.GetRequiredService<IConfiguration>()),
            })
            // As the clients Dapr creates itself, no log lines per request.
            .RemoveAllLoggers();
        return services;
    }

    /// <summary>A client for app <paramref name="appId"/>: relative request URIs are its methods, e.g. <c>PostAsJsonAsync("payments", …)</c>.</summary>
    public static HttpClient CreateAppClient(this IHttpClientFactory factory, string appId)
    {
        var client = factory.CreateClient(ClientName);
        client.BaseAddress = new Uri($"http://{appId}/");
        return client;
    }
}
