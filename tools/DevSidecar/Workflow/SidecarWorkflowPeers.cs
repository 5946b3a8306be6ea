using Dapr.DurableTask.Protobuf;
using DevSidecar.Invocation;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace DevSidecar.Workflow;

/// <summary>
/// Cross-app workflows between dev sidecars: the protocol's own messages (ActivityRequest, CreateWorkflowInstanceRequest,
/// WorkflowRuntimeStateMessage) posted as protobuf to the target app's sidecar, found by name resolution and proven
/// by its internal token. A target that is not running yet is tried again until it is, as daprd's workflow actors
/// retry through their reminders.
/// </summary>
public sealed class SidecarWorkflowPeers(SidecarRegistry registry, WorkflowEngine engine, string internalToken, ILogger logger) : IWorkflowPeers
{
    public const string Prefix = "/v1.0-devsidecar/workflow-peers/";
    private static readonly TimeSpan RetryEvery = TimeSpan.FromSeconds(1);
    private static readonly HttpClient Client = new(new SocketsHttpHandler { UseProxy = false, ConnectTimeout = TimeSpan.FromSeconds(5) });

    public Task RunActivityAsync(string appId, ActivityRequest request, string replyTo, CancellationToken ct) =>
        PostAsync(appId, "activities", request, ct);

    public Task StartChildAsync(string appId, CreateWorkflowInstanceRequest start, CancellationToken ct) =>
        PostAsync(appId, "instances", start, ct);

    public Task DeliverAsync(string appId, string instanceId, HistoryEvent e, CancellationToken ct) =>
        PostAsync(appId, "events", new WorkflowRuntimeStateMessage { TargetInstanceId = instanceId, HistoryEvent = e }, ct);

    private async Task PostAsync(string appId, string kind, IMessage message, CancellationToken ct)
    {
        var body = message.ToByteArray();
        for (var attempt = 0; ; attempt++)
        {
            var target = registry.Next(appId, refresh: attempt > 0);
            var problem = target is null ? $"no sidecar of app '{appId}' is running" : null;
            if (target is not null)
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{target.HttpPort}{Prefix}{kind}") { Content = new ByteArrayContent(body) };
                request.Headers.TryAddWithoutValidation(InvocationProxy.InternalTokenHeader, target.InternalToken);
                request.Headers.TryAddWithoutValidation("dapr-caller-app-id", engine.AppId);
                try
                {
                    using var response = await Client.SendAsync(request, ct);
                    if (response.IsSuccessStatusCode) return;
                    if (response.StatusCode == System.Net.HttpStatusCode.NotFound)
                    {
                        // The instance is gone there (purged): nothing will take this event, as daprd drops it too.
                        logger.LogWarning("workflow {Kind} for app '{AppId}' dropped: the instance no longer exists", kind, appId);
                        return;
                    }
                    problem = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync(ct)}";
                }
                catch (HttpRequestException e)
                {
                    problem = e.Message;
                }
            }
            if (attempt == 0) logger.LogWarning("workflow {Kind} for app '{AppId}' not delivered, retrying every {Retry}: {Problem}", kind, appId, RetryEvery, problem);
            await Task.Delay(RetryEvery, ct);
        }
    }

    /// <summary>The routes other sidecars post to.</summary>
    public void Map(WebApplication app)
    {
        app.MapPost(Prefix + "activities", context => AcceptAsync(context, ActivityRequest.Parser, (caller, request) =>
        {
            engine.RunActivityFor(caller, request);
            return Task.CompletedTask;
        }));
        app.MapPost(Prefix + "instances", context => AcceptAsync(context, CreateWorkflowInstanceRequest.Parser, (_, start) =>
            engine.StartChildAsync(start, context.RequestAborted)));
        app.MapPost(Prefix + "events", context => AcceptAsync(context, WorkflowRuntimeStateMessage.Parser, async (_, message) =>
        {
            if (engine.Find(message.TargetInstanceId) is null)
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return;
            }
            await engine.DeliverAsync(message.TargetInstanceId, message.HistoryEvent, context.RequestAborted);
        }));
    }

    private async Task AcceptAsync<T>(HttpContext context, MessageParser<T> parser, Func<string, T, Task> handle) where T : IMessage<T>
    {
        if (context.Request.Headers[InvocationProxy.InternalTokenHeader] != internalToken)
        {
            context.Response.StatusCode = StatusCodes.Status403Forbidden;
            return;
        }
        using var body = new MemoryStream();
        await context.Request.Body.CopyToAsync(body, context.RequestAborted);
        await handle(context.Request.Headers["dapr-caller-app-id"].ToString(), parser.ParseFrom(body.ToArray()));
    }
}
