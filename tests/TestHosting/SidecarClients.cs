using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Dapr.Client;
using FluentAssertions;
using DevSidecar.Hosting;

namespace TestHosting;

/// <summary>Clients of one sidecar, as an app or curl would use it: its HTTP API, the official DaprClient, service invocation, publish.</summary>
public static class SidecarClients
{
    /// <summary>The sidecar's Dapr HTTP API (base address <c>http://127.0.0.1:{port}/</c>), with <c>dapr-api-token</c> if given.</summary>
    public static HttpClient Http(Sidecar sidecar, string? token = null)
    {
        var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{sidecar.HttpPort}/"), Timeout = TimeSpan.FromSeconds(30) };
        if (token is not null) http.DefaultRequestHeaders.Add("dapr-api-token", token);
        return http;
    }

    /// <summary>The official client on the sidecar's HTTP and gRPC ports.</summary>
    public static DaprClient Dapr(Sidecar sidecar, string? token = null)
    {
        var builder = new DaprClientBuilder()
            .UseHttpEndpoint($"http://127.0.0.1:{sidecar.HttpPort}")
            .UseGrpcEndpoint($"http://127.0.0.1:{sidecar.GrpcPort}")
            .UseTimeout(TimeSpan.FromSeconds(30));
        if (token is not null) builder.UseDaprApiToken(token);
        return builder.Build();
    }

    /// <summary>Calls <paramref name="appId"/>'s methods through the sidecar's invocation API, as curl would
    /// (base address <c>…/v1.0/invoke/{appId}/method/</c>); <paramref name="handler"/> for a client tuned for load.</summary>
    public static HttpClient Invoke(Sidecar sidecar, string appId, HttpMessageHandler? handler = null) =>
        new(handler ?? new SocketsHttpHandler()) { BaseAddress = new Uri($"http://127.0.0.1:{sidecar.HttpPort}/v1.0/invoke/{appId}/method/") };

    /// <summary>A JSON request body.</summary>
    public static StringContent Json(string json) => new(json, new MediaTypeHeaderValue("application/json"));

    /// <summary>Publishes <c>{"marker": marker}</c> to <c>pubsub/{topic}</c> through the sidecar's HTTP API; <paramref name="query"/>
    /// is appended to the URL as it is (e.g. <c>?metadata.k=v</c>).</summary>
    public static async Task<HttpResponseMessage> PublishAsync(Sidecar sidecar, string topic, string marker, string? query = null)
    {
        using var http = Http(sidecar);
        using var content = new StringContent($$"""{"marker":"{{marker}}"}""", Encoding.UTF8, "application/json");
        return await http.PostAsync($"v1.0/publish/pubsub/{topic}{query}", content);
    }

    /// <summary>Publishes and fails unless the sidecar answers 204.</summary>
    public static async Task PublishOkAsync(Sidecar sidecar, string topic, string marker, string? query = null)
    {
        using var response = await PublishAsync(sidecar, topic, marker, query);
        response.StatusCode.Should().Be(HttpStatusCode.NoContent, $"publishing {marker} to {topic}: {await response.Content.ReadAsStringAsync()}");
    }

    /// <summary>While a broker is down or reconnecting a publish fails: this publishes until the sidecar answers 204.</summary>
    public static Task PublishWhenBrokerUpAsync(Sidecar sidecar, string topic, string marker, TimeSpan? timeout = null) =>
        Wait.UntilAsync(async () =>
        {
            using var response = await PublishAsync(sidecar, topic, marker);
            return response.StatusCode == HttpStatusCode.NoContent;
        }, $"publishing {marker} to {topic} once the broker takes it", timeout);
}
