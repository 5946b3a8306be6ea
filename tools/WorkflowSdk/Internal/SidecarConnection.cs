using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using Microsoft.DurableTask.Protobuf;
using Microsoft.Extensions.Configuration;

namespace WorkflowSdk.Internal;

/// <summary>
/// The gRPC channel to the sidecar: plaintext HTTP/2 to DAPR_GRPC_ENDPOINT, or http://127.0.0.1:DAPR_GRPC_PORT,
/// or http://127.0.0.1:50001; sends <c>dapr-api-token</c> when DAPR_API_TOKEN is set.
/// </summary>
internal sealed class SidecarConnection : IDisposable
{
    private readonly GrpcChannel channel;

    public SidecarConnection(IConfiguration? configuration, WorkflowRuntimeOptions options)
    {
        string? Setting(string key) =>
            configuration?[key] is { Length: > 0 } v ? v : Environment.GetEnvironmentVariable(key) is { Length: > 0 } e ? e : null;

        this.Endpoint = ResolveEndpoint(Setting("DAPR_GRPC_ENDPOINT"), Setting("DAPR_GRPC_PORT"));
        this.channel = GrpcChannel.ForAddress(this.Endpoint, options.GrpcChannelOptions ?? new GrpcChannelOptions());
        CallInvoker invoker = this.channel.CreateCallInvoker();
        if (Setting("DAPR_API_TOKEN") is { } token)
        {
            invoker = invoker.Intercept(metadata =>
            {
                metadata.Add("dapr-api-token", token);
                return metadata;
            });
        }

        this.Client = new TaskHubSidecarService.TaskHubSidecarServiceClient(invoker);
    }

    public Uri Endpoint { get; }

    public TaskHubSidecarService.TaskHubSidecarServiceClient Client { get; }

    internal static Uri ResolveEndpoint(string? endpoint, string? port)
    {
        if (!string.IsNullOrWhiteSpace(endpoint))
        {
            string e = endpoint.Trim();
            if (!e.Contains("://", StringComparison.Ordinal))
            {
                e = "http://" + e;
            }

            return new Uri(e);
        }

        if (!string.IsNullOrWhiteSpace(port) && int.TryParse(port, out int p) && p is > 0 and < 65536)
        {
            return new Uri($"http://127.0.0.1:{p}");
        }

        return new Uri("http://127.0.0.1:50001");
    }

    public void Dispose() => this.channel.Dispose();
}
