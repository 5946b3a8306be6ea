using Dapr.Client;

namespace OrderFlow.Patterns;

/// <summary>Service invocation over plain HTTP (http://{appId}/{method}), routed through the sidecar; the SDK's recommended way.</summary>
public sealed class InvocationClient(IConfiguration config)
{
    public HttpClient Client { get; } = DaprClient.CreateInvokeHttpClient(daprEndpoint:
        config["DAPR_HTTP_ENDPOINT"] is { Length: > 0 } endpoint ? endpoint : $"http://127.0.0.1:{config["DAPR_HTTP_PORT"] ?? "3500"}");
}
