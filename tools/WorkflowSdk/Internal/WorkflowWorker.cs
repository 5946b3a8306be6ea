using System.Collections.Concurrent;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.DurableTask.Protobuf;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace WorkflowSdk.Internal;

/// <summary>
/// The hosted worker: says Hello, opens the GetWorkItems stream, runs each work item and reports its result
/// with CompleteOrchestratorTask / CompleteActivityTask. Reconnects after failures (1 s doubling to 5 s) and
/// when the stream ends; stops when the host shuts down.
/// </summary>
internal sealed class WorkflowWorker(
    SidecarConnection connection,
    WorkflowRuntimeOptions options,
    IServiceScopeFactory scopes,
    ILoggerFactory loggerFactory) : BackgroundService
{
    private static readonly TimeSpan MinBackoff = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(5);

    private readonly ILogger logger = loggerFactory.CreateLogger("WorkflowSdk.WorkflowWorker");
    private readonly ConcurrentDictionary<Task, byte> inFlight = new();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        TaskHubSidecarService.TaskHubSidecarServiceClient client = connection.Client;
        TimeSpan backoff = MinBackoff;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await client.HelloAsync(new Empty(), cancellationToken: stoppingToken);
                using AsyncServerStreamingCall<WorkItem> call =
                    client.GetWorkItems(new GetWorkItemsRequest(), cancellationToken: stoppingToken);
                this.logger.LogInformation(
                    "Workflow worker connected to {Endpoint} ({Workflows} workflows, {Activities} activities registered)",
                    connection.Endpoint, options.Workflows.Count, options.Activities.Count);
                backoff = MinBackoff;
                while (await call.ResponseStream.MoveNext(stoppingToken))
                {
                    this.Dispatch(client, call.ResponseStream.Current, stoppingToken);
                }

                this.logger.LogInformation("Workflow work-item stream ended; reconnecting");
            }
            catch (Exception) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                this.logger.LogWarning(
                    "Workflow worker cannot reach the sidecar at {Endpoint}: {Error}; retrying in {Delay}",
                    connection.Endpoint, ex is RpcException rpc ? $"{rpc.StatusCode}: {rpc.Status.Detail}" : ex.Message, backoff);
            }

            try
            {
                await Task.Delay(backoff, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxBackoff.Ticks));
        }

        // Let work items already running finish reporting (they observe the stopping token).
        await Task.WhenAll(this.inFlight.Keys).ContinueWith(_ => { }, TaskScheduler.Default);
    }

    private void Dispatch(TaskHubSidecarService.TaskHubSidecarServiceClient client, WorkItem item, CancellationToken stoppingToken)
    {
        Task task = item.RequestCase switch
        {
            WorkItem.RequestOneofCase.OrchestratorRequest => Task.Run(() => this.RunOrchestratorAsync(client, item.OrchestratorRequest, stoppingToken), CancellationToken.None),
            WorkItem.RequestOneofCase.ActivityRequest => Task.Run(() => this.RunActivityAsync(client, item.ActivityRequest, stoppingToken), CancellationToken.None),
            _ => Task.CompletedTask,
        };
        if (!task.IsCompleted)
        {
            this.inFlight.TryAdd(task, 0);
            task.ContinueWith(t => this.inFlight.TryRemove(t, out _), TaskScheduler.Default);
        }
        else if (item.RequestCase is not (WorkItem.RequestOneofCase.OrchestratorRequest or WorkItem.RequestOneofCase.ActivityRequest))
        {
            this.logger.LogWarning("Ignoring unsupported work item {Kind}", item.RequestCase);
        }
    }

    private async Task RunOrchestratorAsync(
        TaskHubSidecarService.TaskHubSidecarServiceClient client, OrchestratorRequest request, CancellationToken stoppingToken)
    {
        try
        {
            OrchestratorResponse response;
            await using (AsyncServiceScope scope = scopes.CreateAsyncScope())
            {
                response = OrchestrationExecutor.Execute(
                    request, name => options.CreateWorkflow(name, scope.ServiceProvider), loggerFactory);
            }

            await client.CompleteOrchestratorTaskAsync(response, cancellationToken: stoppingToken);
        }
        catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
        {
            this.logger.LogError(ex, "Workflow {InstanceId}: could not run or report an orchestrator turn", request.InstanceId);
        }
        catch (Exception)
        {
            // Shutting down: the sidecar redelivers the work item to the next worker.
        }
    }

    private async Task RunActivityAsync(
        TaskHubSidecarService.TaskHubSidecarServiceClient client, ActivityRequest request, CancellationToken stoppingToken)
    {
        try
        {
            ActivityResponse response;
            await using (AsyncServiceScope scope = scopes.CreateAsyncScope())
            {
                response = await ActivityExecutor.ExecuteAsync(
                    request, name => options.CreateActivity(name, scope.ServiceProvider), stoppingToken);
            }

            await client.CompleteActivityTaskAsync(response, cancellationToken: stoppingToken);
        }
        catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
        {
            this.logger.LogError(
                ex, "Workflow {InstanceId}: could not run or report activity {Activity} (#{TaskId})",
                request.OrchestrationInstance?.InstanceId, request.Name, request.TaskId);
        }
        catch (Exception)
        {
            // Shutting down: the sidecar redelivers the work item to the next worker.
        }
    }
}
