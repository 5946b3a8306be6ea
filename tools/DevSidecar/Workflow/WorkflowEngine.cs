using System.Collections.Concurrent;
using System.Text.Json;
using System.Threading.Channels;
using Dapr.DurableTask.Protobuf;
using DevSidecar.Hosting;
using DevSidecar.State;
using DevSidecar.Tracing;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace DevSidecar.Workflow;

/// <summary>
/// The engine side of Dapr's workflow protocol, as daprd 1.17 runs durabletask-go: an instance keeps a history; each
/// turn sends the past events plus the new ones (a WorkflowStarted first), and the worker's actions become history
/// events whose eventId is the action id (TaskScheduled, TimerCreated, …). Activities, timers, child workflows and
/// client operations (raise, suspend, resume, terminate) all enter the instance as events in its inbox.
/// Activities and child workflows whose router names another app run on that app's engine (<see cref="IWorkflowPeers"/>).
/// Instances are saved in the app's state store after every change and resumed when the sidecar starts again.
/// </summary>
public sealed class WorkflowEngine : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, InstanceRecord> _instances = new(StringComparer.Ordinal);
    private readonly Channel<Dispatch> _dispatch = Channel.CreateUnbounded<Dispatch>();
    private readonly ConcurrentDictionary<string, Dispatch> _outstanding = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();
    private readonly IStateStore? _store;
    private readonly string _keyPrefix;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _indexLock = new(1, 1);

    // The saved list of instance ids, for recovery, in chunks of at most IndexChunkSize: rewriting one list of every
    // id on each new instance made scheduling slower the more instances there were.
    private const int IndexChunkSize = 256;
    private readonly List<List<string>> _indexChunks = [];
    private int _connectedWorkers;
    private TaskCompletionSource _workerConnected = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// A work item on its way to a worker. Key identifies it among the outstanding ones, as daprd matches completions:
    /// by instance id, and task id for an activity. ReplyTo is the app whose engine waits for an activity (null: this one).
    /// </summary>
    private sealed record Dispatch(string Key, WorkItem Item, int Turn = 0, string? ReplyTo = null, TaskRouter? Router = null, SidecarSpan? Span = null);

    public WorkflowEngine(string appId, IStateStore? store, ILogger logger)
    {
        AppId = appId;
        _store = store;
        _keyPrefix = $"{appId}||dapr.workflow||";
        _logger = logger;
    }

    public string AppId { get; }

    /// <summary>How this engine reaches the engines of other apps; none until the sidecar sets it.</summary>
    public IWorkflowPeers? Peers { get; set; }

    /// <summary>The engine's spans and trace context (<see cref="WorkflowTracing"/>); the sidecar gives it its tracing.</summary>
    public WorkflowTracing Tracing { get; } = new();

    public int ConnectedWorkers => Volatile.Read(ref _connectedWorkers);

    /// <summary>daprd's answer to every workflow call when no state store is marked actorStateStore (messages/predefined.go).</summary>
    public const string NoActorStore =
        "the state store is not configured to use the actor runtime. Have you set the - name: actorStateStore value: \"true\" in your state store component file?";

    /// <summary>This engine, or daprd's error when it has no actor state store to keep workflows in.</summary>
    public WorkflowEngine Available => HasActorStore ? this : throw new RpcException(new Status(StatusCode.Internal, NoActorStore));

    public bool HasActorStore => _store is not null;

    // ---------- client operations ----------

    /// <summary>
    /// Schedules a new instance (durabletask-go's executor.go StartInstance and daprd's orchestrator/create.go, 1.17):
    /// an id in use by an instance that has not finished (pending, running, suspended, stalled) is refused with
    /// Unknown; a finished one is wiped and created again. The request's version and tags are not kept, as there.
    /// </summary>
    public async Task<string> StartAsync(CreateInstanceRequest request, ParentInstanceInfo? parent, TaskRouter? router, CancellationToken ct,
        SidecarSpan? apiSpan = null)
    {
        var instanceId = request.InstanceId;
        var startAt = request.ScheduledStartTimestamp?.ToDateTime();
        var instance = new InstanceRecord
        {
            InstanceId = instanceId, Name = request.Name, Input = request.Input, ScheduledStartAt = startAt, Parent = parent,
        };
        var started = new ExecutionStartedEvent
        {
            Name = request.Name,
            Input = request.Input,
            WorkflowInstance = new Dapr.DurableTask.Protobuf.WorkflowInstance { InstanceId = instanceId, ExecutionId = instance.ExecutionId },
            ScheduledStartTimestamp = request.ScheduledStartTimestamp,
            ParentInstance = parent,
            // A child keeps its parent workflow's context; a client's start makes the create_orchestration span.
            ParentTraceContext = parent is null ? Tracing.CreateOrchestration(request, apiSpan) : WorkflowTracing.Sampled(request.ParentTraceContext),
        };
        instance.Inbox.Add(new HistoryEvent
        {
            EventId = -1, Timestamp = Now(), ExecutionStarted = started,
            // The SDK reads its own app id from here, to stamp it on the routers of cross-app calls.
            Router = router ?? new TaskRouter { SourceAppID = AppId },
        });
        await AddAsync(instance, ct);
        _logger.LogInformation("workflow {Name} instance {InstanceId} scheduled", request.Name, instanceId);
        return instanceId;
    }

    /// <summary>
    /// Waits until a worker is connected. daprd registers its workflow actors only while a worker streams work items,
    /// so until then creating an instance fails to place its actor and is retried every second (backends/actors).
    /// </summary>
    public async Task WaitForWorkerAsync(CancellationToken ct)
    {
        if (ConnectedWorkers > 0) return;
        _logger.LogWarning("no workflow worker is connected to app '{AppId}': waiting for one before the workflow can be created, as daprd does", AppId);
        while (ConnectedWorkers == 0) await _workerConnected.Task.WaitAsync(ct);
    }

    public InstanceRecord? Find(string instanceId) => _instances.GetValueOrDefault(instanceId);

    /// <summary>The instance, or durabletask-go's ErrInstanceNotFound as daprd answers it (gRPC Unknown).</summary>
    public InstanceRecord Get(string instanceId, string? prefix = null) =>
        Find(instanceId) ?? throw new RpcException(new Status(StatusCode.Unknown, $"{prefix}no such instance exists"));

    /// <summary>Every saved instance id in the order the ids were first used, for ListInstanceIDs.</summary>
    public async Task<IReadOnlyList<string>> InstanceIdsAsync(CancellationToken ct)
    {
        await _indexLock.WaitAsync(ct);
        try
        {
            return [.. _indexChunks.SelectMany(chunk => chunk)];
        }
        finally
        {
            _indexLock.Release();
        }
    }

    /// <summary>Waits until the instance satisfies <paramref name="done"/>, or the caller gives up.</summary>
    public async Task<InstanceRecord> WaitAsync(string instanceId, Func<InstanceRecord, bool> done, CancellationToken ct)
    {
        var instance = Get(instanceId);
        while (true)
        {
            var changed = instance.Changed.Task;
            if (done(instance)) return instance;
            await changed.WaitAsync(ct);
            instance = Get(instanceId);
        }
    }

    // Client operations are events in the instance's inbox, handled by the next turn like any other (daprd's
    // orchestrator/add.go): the status changes only when that turn is saved. While an instance is suspended its
    // turns still run; holding back what arrives meanwhile is the SDK's job, as in durabletask-go.

    public Task RaiseEventAsync(string instanceId, string name, string? input, CancellationToken ct) =>
        AddClientEventAsync(instanceId, new HistoryEvent { EventId = -1, Timestamp = Now(), EventRaised = new EventRaisedEvent { Name = name, Input = input } }, ct);

    /// <summary>The next turn ends the instance (the SDK answers it with a Terminated completion); with <paramref name="recursive"/> its children too.</summary>
    public Task TerminateAsync(string instanceId, string? output, bool recursive, CancellationToken ct) =>
        AddClientEventAsync(instanceId, new HistoryEvent { EventId = -1, Timestamp = Now(), ExecutionTerminated = new ExecutionTerminatedEvent { Input = output, Recurse = recursive } }, ct,
            notFoundPrefix: "failed to submit termination request: ");

    public Task SuspendAsync(string instanceId, string? reason, CancellationToken ct) =>
        AddClientEventAsync(instanceId, new HistoryEvent { EventId = -1, Timestamp = Now(), ExecutionSuspended = new ExecutionSuspendedEvent { Input = reason } }, ct);

    public Task ResumeAsync(string instanceId, string? reason, CancellationToken ct) =>
        AddClientEventAsync(instanceId, new HistoryEvent { EventId = -1, Timestamp = Now(), ExecutionResumed = new ExecutionResumedEvent { Input = reason } }, ct);

    /// <summary>A stalled instance refuses client events (orchestrator/add.go, orchestrator.go in daprd 1.17).</summary>
    private Task AddClientEventAsync(string instanceId, HistoryEvent e, CancellationToken ct, string? notFoundPrefix = null)
    {
        var instance = Get(instanceId, notFoundPrefix);
        if (instance.Status == OrchestrationStatus.Stalled)
            throw new RpcException(new Status(StatusCode.Unknown, e.EventRaised is not null
                ? "workflow is stalled"
                : $"failed to invoke method for workflow '{instanceId}': actor is stalled"));
        return DeliverAsync(instanceId, e, ct);
    }

    /// <summary>Adds an event to the inbox of an instance that has not ended; a finished instance drops it, as daprd does.</summary>
    public Task DeliverAsync(string instanceId, HistoryEvent e, CancellationToken ct) =>
        WithInstanceAsync(Get(instanceId), instance =>
        {
            if (e.TaskCompleted is not null || e.TaskFailed is not null) Interlocked.Decrement(ref instance.AwaitedActivities);
            if (!instance.IsTerminal) instance.Inbox.Add(e);
        }, ct);

    /// <summary>
    /// Deletes a finished instance (and, when asked, the children in its history) and returns how many were deleted;
    /// an unknown or unfinished one is an error, checked for every child before anything is deleted (durabletask-go
    /// backend.go purgeOrchestrationState, daprd orchestrator/state.go).
    /// </summary>
    public async Task<int> PurgeAsync(string instanceId, bool recursive, CancellationToken ct)
    {
        var doomed = new List<string>();
        Collect(instanceId, child: false);
        foreach (var id in doomed) await RemoveAsync(id, ct);
        return doomed.Count;

        void Collect(string id, bool child)
        {
            var fetch = recursive ? "failed to fetch orchestration state: " : "";
            var instance = Find(id) ?? throw Purge($"{(child ? "failed to purge sub-orchestration: " : "")}{fetch}no such instance exists");
            if (instance.Status == OrchestrationStatus.Stalled) throw Purge("workflow is stalled");
            if (!instance.IsTerminal) throw Purge("orchestration has not yet completed");
            if (recursive)
                foreach (var created in instance.History.Where(e => e.ChildWorkflowInstanceCreated is not null))
                    Collect(created.ChildWorkflowInstanceCreated.InstanceId, child: true);
            doomed.Add(id);
        }

        static RpcException Purge(string problem) => new(new Status(StatusCode.Unknown, $"failed to purge orchestration state: {problem}"));
    }

    private async Task RemoveAsync(string instanceId, CancellationToken ct)
    {
        _instances.TryRemove(instanceId, out _);
        if (_store is null) return;
        await _store.WriteAsync(new StateWrite(_keyPrefix + instanceId, null, null, Concurrency.LastWrite, StateWrite.NoMetadata), ct);
        await UpdateIndexAsync(chunks => chunks.FindIndex(chunk => chunk.Remove(instanceId)), ct);
    }

    // ---------- worker side ----------

    /// <summary>Streams work items to one connected worker until it disconnects; what it left unfinished goes to another.</summary>
    public async Task StreamWorkItemsAsync(IServerStreamWriter<WorkItem> stream, CancellationToken ct)
    {
        Interlocked.Increment(ref _connectedWorkers);
        Interlocked.Exchange(ref _workerConnected, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        _logger.LogInformation("workflow worker connected ({Count} connected)", ConnectedWorkers);
        var mine = new List<Dispatch>();
        try
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, _stopping.Token);
            await foreach (var dispatch in _dispatch.Reader.ReadAllAsync(linked.Token))
            {
                if (!StillWanted(dispatch)) continue;
                _outstanding[dispatch.Key] = dispatch;
                mine.Add(dispatch);
                try
                {
                    await stream.WriteAsync(dispatch.Item, linked.Token);
                }
                catch (Exception e) when (e is not OperationCanceledException || !linked.IsCancellationRequested)
                {
                    break;
                }
                mine.RemoveAll(d => !_outstanding.ContainsKey(d.Key));
            }
        }
        catch (OperationCanceledException) { }
        finally
        {
            Interlocked.Decrement(ref _connectedWorkers);
            _logger.LogInformation("workflow worker disconnected ({Count} connected)", ConnectedWorkers);
            // Work sent to this worker and not completed is handed to the next one.
            foreach (var dispatch in mine.Where(d => _outstanding.TryRemove(d.Key, out _)))
            {
                _logger.LogInformation("redispatching {Key} from a disconnected worker", dispatch.Key);
                _dispatch.Writer.TryWrite(dispatch);
            }
        }
    }

    /// <summary>
    /// Applies a worker's result. Once its work item is taken off the outstanding ones the result is applied whatever
    /// happens to the call: a worker killed while its completion is being saved must not lose the result, since its
    /// work item will not be sent again. daprd hands the result to the waiting actor, which applies it in its own
    /// context (durabletask-go v0.11.5 backend/executor.go CompleteActivityTask).
    /// </summary>
    public async Task CompleteActivityAsync(ActivityResponse response)
    {
        var ct = _stopping.Token;
        var key = ActivityKey(response.InstanceId, response.TaskId);
        if (!_outstanding.TryRemove(key, out var dispatch))
        {
            // daprd ignores a completion for a task that no longer exists and answers success (backends/actors).
            _logger.LogDebug("activity completion for {InstanceId} task {TaskId} matches no outstanding work item; ignored", response.InstanceId, response.TaskId);
            return;
        }
        var request = dispatch.Item.ActivityRequest;
        dispatch.Span?.Dispose(); // the activity span ends when the worker answers (a failed activity is no span error)
        // The execution id comes from the scheduled task, not from the worker's answer (durabletask-go executor.go).
        var completion = response.FailureDetails is { } failure
            ? new HistoryEvent { EventId = -1, Timestamp = Now(), TaskFailed = new TaskFailedEvent { TaskScheduledId = request.TaskId, FailureDetails = failure, TaskExecutionId = request.TaskExecutionId } }
            : new HistoryEvent { EventId = -1, Timestamp = Now(), TaskCompleted = new TaskCompletedEvent { TaskScheduledId = request.TaskId, Result = response.Result, TaskExecutionId = request.TaskExecutionId } };
        if (dispatch.Router is { } router) completion.Router = router;
        if (dispatch.ReplyTo is { } replyTo)
        {
            await Peers!.DeliverAsync(replyTo, request.WorkflowInstance.InstanceId, completion, ct);
            return;
        }
        if (Find(request.WorkflowInstance.InstanceId) is not { } instance) return;
        await WithInstanceAsync(instance, i =>
        {
            Interlocked.Decrement(ref i.AwaitedActivities);
            if (i.IsTerminal || IsTaskSettled(i, request.TaskId)) return; // a duplicate completion changes nothing
            i.Inbox.Add(completion);
        }, ct);
    }

    /// <summary>Applies a turn's result; as <see cref="CompleteActivityAsync"/>, the worker's call cannot cancel it.</summary>
    public async Task CompleteWorkflowAsync(WorkflowResponse response)
    {
        var ct = _stopping.Token;
        _outstanding.TryRemove(OrchestratorKey(response.InstanceId), out _);
        // daprd ignores a completion for an instance that no longer exists and answers success.
        if (Find(response.InstanceId) is not { } instance) return;
        var followUps = new List<Func<Task>>();
        await WithInstanceAsync(instance, i =>
        {
            if (!i.TurnInFlight) return; // stale: the turn was already completed by another worker
            // A result for an earlier turn: a worker that disconnected sent it after its turn was given to another
            // worker and completed there. daprd drops it (the disconnect cancelled the turn's pending work item);
            // applied to the current turn, it would consume that turn's events with the wrong actions.
            if (response.CompletionToken is { Length: > 0 } token && token != TurnToken(i)) return;
            i.TurnInFlight = false;
            var turn = i.Inbox.GetRange(0, i.TurnEventCount);
            i.Inbox.RemoveRange(0, i.TurnEventCount);
            if (Unsupported(response) is { } unsupported)
            {
                // daprd 1.17 cannot deliver these outbound messages: the turn fails, is not saved, and its reminder
                // runs it again (orchestrator/run.go). The turn's events wait in the inbox for that retry.
                i.Inbox.InsertRange(0, turn.Skip(1));
                _logger.LogError("workflow actor '{InstanceId}': don't know how to process outbound message '{Action}'; the turn is retried in {Retry}",
                    i.InstanceId, unsupported, TurnRetry);
                var retried = i;
                followUps.Add(() => RetryTurnAsync(retried));
                return;
            }
            StampVersion(i, turn[0], response.Version);
            if (Stall(i, response) is { } stall)
            {
                // Nothing of the turn is applied or dispatched; its events stay in the inbox, and the instance waits
                // for a worker that can run them: the next one that connects after a sidecar restart (versioning.go).
                i.Inbox.InsertRange(0, turn.Skip(1));
                if (i.History.LastOrDefault()?.ExecutionStalled?.Description != stall.Description)
                    i.History.Add(new HistoryEvent { EventId = -1, Timestamp = Now(), ExecutionStalled = stall });
                i.Status = OrchestrationStatus.Stalled;
                i.CustomStatus = NonEmpty(response.CustomStatus);
                _logger.LogWarning("workflow instance {InstanceId} is STALLED: {Reason}: {Description}", i.InstanceId, stall.Reason, stall.Description);
                return;
            }
            // The turn's events (WorkflowStarted first) become history; what arrived meanwhile waits for the next turn.
            i.History.AddRange(turn);
            if (i.IsTerminal) return;
            // The status follows the history (durabletask-go runtimestate.go): the last suspend or resume decides.
            i.Status = i.History.LastOrDefault(e => e.ExecutionSuspended is not null || e.ExecutionResumed is not null)?.ExecutionSuspended is not null
                ? OrchestrationStatus.Suspended
                : OrchestrationStatus.Running;
            // Replaced on every turn: a turn that sets none clears it, and an empty one reads back as none (state.go).
            i.CustomStatus = NonEmpty(response.CustomStatus);
            foreach (var action in response.Actions)
            {
                followUps.AddRange(Apply(i, action));
                if (action.CompleteWorkflow is not null) break; // anything after the completion is ignored (applier.go)
            }
        }, ct);
        foreach (var followUp in followUps) await followUp();
    }

    private static readonly TimeSpan TurnRetry = TimeSpan.FromSeconds(1);

    private static string? NonEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;

    /// <summary>Actions Dapr.Workflow 1.19 can send that daprd 1.17 fails the turn on (run.go; T does not know detached workflows).</summary>
    private static string? Unsupported(WorkflowResponse response) => response.Actions.FirstOrDefault(a =>
        a.WorkflowActionTypeCase is WorkflowAction.WorkflowActionTypeOneofCase.SendEvent
            or WorkflowAction.WorkflowActionTypeOneofCase.TerminateWorkflow
            or WorkflowAction.WorkflowActionTypeOneofCase.CreateDetachedWorkflow)?.WorkflowActionTypeCase.ToString();

    private async Task RetryTurnAsync(InstanceRecord instance)
    {
        try
        {
            await Task.Delay(TurnRetry, _stopping.Token);
            await WithInstanceAsync(instance, _ => { }, _stopping.Token);
        }
        catch (OperationCanceledException) { }
    }

    /// <summary>
    /// Keeps the version the worker ran this turn with on the turn's WorkflowStarted event, where the SDK reads it back
    /// on replay. As daprd (orchestrator/versioning.go) only patches not already in the history are kept, and the
    /// name is dropped whenever there are patches.
    /// </summary>
    private static void StampVersion(InstanceRecord instance, HistoryEvent turnStarted, WorkflowVersion? version)
    {
        if (version is null || (version.Patches.Count == 0 && string.IsNullOrEmpty(version.Name))) return;
        if (version.Patches.Count == 0)
        {
            turnStarted.WorkflowStarted.Version = version;
            return;
        }
        var known = HistoryPatches(instance).ToHashSet(StringComparer.Ordinal);
        var added = version.Patches.Where(p => !known.Contains(p)).ToList();
        if (added.Count == 0) return;
        var kept = new WorkflowVersion();
        kept.Patches.AddRange(added);
        turnStarted.WorkflowStarted.Version = kept;
    }

    private static IEnumerable<string> HistoryPatches(InstanceRecord instance) =>
        instance.History.Where(e => e.WorkflowStarted?.Version is not null).SelectMany(e => e.WorkflowStarted.Version.Patches);

    /// <summary>
    /// daprd's stall rules (orchestrator/versioning.go): the worker has no such version, or the patches it ran with do
    /// not begin with the patches the history holds. The SDK's own STALLED completion is the same mismatch, seen first.
    /// </summary>
    private static ExecutionStalledEvent? Stall(InstanceRecord instance, WorkflowResponse response)
    {
        if (response.Actions.Any(a => a.WorkflowVersionNotAvailable is not null))
        {
            var name = instance.History.FirstOrDefault(e => e.WorkflowStarted is not null)?.WorkflowStarted.Version?.Name ?? "";
            return new ExecutionStalledEvent { Reason = StalledReason.VersionNotAvailable, Description = $"Version not available: {name}" };
        }
        var history = HistoryPatches(instance).ToList();
        var current = response.Version?.Patches.ToList() ?? [];
        var sdkStalled = response.Actions.Any(a => a.CompleteWorkflow?.WorkflowStatus == OrchestrationStatus.Stalled);
        if (!sdkStalled && history.Count <= current.Count && history.SequenceEqual(current.Take(history.Count), StringComparer.Ordinal)) return null;
        return new ExecutionStalledEvent
        {
            Reason = StalledReason.PatchMismatch,
            Description = $"Patch mismatch. History patches: [{string.Join(", ", history)}], current patches: [{string.Join(", ", current)}]. ",
        };
    }

    /// <summary>Turns one action into history, and returns what has to happen outside the instance's lock.</summary>
    private IEnumerable<Func<Task>> Apply(InstanceRecord instance, WorkflowAction action)
    {
        var at = Now();
        // daprd routes by the action's own router, stamped with this app as the source (applier.go), and keeps it on the event.
        var router = action.Router is { } r ? new TaskRouter(r) { SourceAppID = AppId } : null;
        switch (action.WorkflowActionTypeCase)
        {
            case WorkflowAction.WorkflowActionTypeOneofCase.ScheduleTask:
                var task = action.ScheduleTask;
                var scheduled = new TaskScheduledEvent
                {
                    Name = task.Name, Version = task.Version, Input = task.Input, TaskExecutionId = task.TaskExecutionId,
                    ParentTraceContext = WorkflowTracing.Of(instance),
                };
                instance.History.Add(new HistoryEvent { EventId = action.Id, Timestamp = at, TaskScheduled = scheduled, Router = router });
                var activity = ActivityRequestFor(instance, action.Id, scheduled);
                Interlocked.Increment(ref instance.AwaitedActivities);
                if (IsRemote(router))
                {
                    var target = router!.TargetAppID;
                    yield return () => Peers!.RunActivityAsync(target, activity, AppId, _stopping.Token);
                }
                else DispatchActivity(activity, replyTo: null, router);
                break;
            case WorkflowAction.WorkflowActionTypeOneofCase.CreateTimer:
                var timer = action.CreateTimer;
                // durabletask-go 0.11.5 does not know the timer's origin (a newer field), so it is not kept.
                instance.History.Add(new HistoryEvent { EventId = action.Id, Timestamp = at, Router = router, TimerCreated = new TimerCreatedEvent { FireAt = timer.FireAt, Name = timer.Name } });
                ArmTimer(instance.InstanceId, action.Id, timer.FireAt);
                break;
            case WorkflowAction.WorkflowActionTypeOneofCase.CreateChildWorkflow:
                var child = action.CreateChildWorkflow;
                var childId = string.IsNullOrEmpty(child.InstanceId) ? $"{instance.InstanceId}:{action.Id:x4}" : child.InstanceId;
                var childCreated = new ChildWorkflowInstanceCreatedEvent
                {
                    InstanceId = childId, Name = child.Name, Version = child.Version, Input = child.Input,
                    ParentTraceContext = WorkflowTracing.Of(instance),
                };
                instance.History.Add(new HistoryEvent { EventId = action.Id, Timestamp = at, ChildWorkflowInstanceCreated = childCreated, Router = router });
                var start = ChildStartFor(instance, action.Id, childCreated, router);
                if (IsRemote(router))
                {
                    var target = router!.TargetAppID;
                    yield return () => Peers!.StartChildAsync(target, start, _stopping.Token);
                }
                else yield return () => StartChildAsync(start, _stopping.Token);
                break;
            case WorkflowAction.WorkflowActionTypeOneofCase.CompleteWorkflow:
                var complete = action.CompleteWorkflow;
                if (complete.WorkflowStatus == OrchestrationStatus.ContinuedAsNew)
                {
                    Tracing.Ended(instance, OrchestrationStatus.ContinuedAsNew, null);
                    ContinueAsNew(instance, complete);
                    break;
                }
                // The output is what the completion carries: for a terminate, the SDK sends none (applier.go keeps it as is).
                var output = complete.Result;
                var terminated = complete.WorkflowStatus == OrchestrationStatus.Terminated
                    ? instance.History.LastOrDefault(e => e.ExecutionTerminated is not null)?.ExecutionTerminated
                    : null;
                instance.History.Add(new HistoryEvent
                {
                    EventId = action.Id, Timestamp = at, Router = router,
                    ExecutionCompleted = new ExecutionCompletedEvent { WorkflowStatus = complete.WorkflowStatus, Result = output, FailureDetails = complete.FailureDetails },
                });
                Finish(instance, complete.WorkflowStatus, output, complete.FailureDetails);
                Tracing.Ended(instance, complete.WorkflowStatus, complete.FailureDetails);
                _logger.LogInformation("workflow instance {InstanceId} {Status}", instance.InstanceId, complete.WorkflowStatus);
                if (instance.Parent is { } parent)
                {
                    var done = instance;
                    yield return () => NotifyParentAsync(parent, done);
                }
                if (terminated is { Recurse: true })
                {
                    var ended = instance;
                    yield return () => TerminateChildrenAsync(ended, terminated.Input);
                }
                break;
        }
    }

    private bool IsRemote(TaskRouter? router) => !string.IsNullOrEmpty(router?.TargetAppID) && router.TargetAppID != AppId;

    private static ActivityRequest ActivityRequestFor(InstanceRecord instance, int taskId, TaskScheduledEvent scheduled) => new()
    {
        Name = scheduled.Name, Version = scheduled.Version, Input = scheduled.Input, TaskId = taskId,
        TaskExecutionId = scheduled.TaskExecutionId, ParentTraceContext = scheduled.ParentTraceContext,
        WorkflowInstance = new Dapr.DurableTask.Protobuf.WorkflowInstance { InstanceId = instance.InstanceId, ExecutionId = instance.ExecutionId },
    };

    private CreateWorkflowInstanceRequest ChildStartFor(InstanceRecord parent, int taskId, ChildWorkflowInstanceCreatedEvent created, TaskRouter? router) => new()
    {
        StartEvent = new HistoryEvent
        {
            EventId = -1, Timestamp = Now(),
            Router = new TaskRouter { SourceAppID = AppId, TargetAppID = router?.TargetAppID ?? "" },
            ExecutionStarted = new ExecutionStartedEvent
            {
                Name = created.Name, Version = created.Version, Input = created.Input,
                WorkflowInstance = new Dapr.DurableTask.Protobuf.WorkflowInstance { InstanceId = created.InstanceId },
                ParentTraceContext = created.ParentTraceContext,
                ParentInstance = new ParentInstanceInfo
                {
                    TaskScheduledId = taskId, Name = parent.Name, AppID = AppId,
                    WorkflowInstance = new Dapr.DurableTask.Protobuf.WorkflowInstance { InstanceId = parent.InstanceId, ExecutionId = parent.ExecutionId },
                },
            },
        },
    };

    private static void Finish(InstanceRecord instance, OrchestrationStatus status, string? output, TaskFailureDetails? failure)
    {
        instance.Status = status;
        instance.Output = output;
        instance.Failure = failure;
        instance.CompletedAt = DateTime.UtcNow;
        instance.Inbox.Clear();
    }

    /// <summary>
    /// A new generation (durabletask-go applier.go): a fresh history that starts with the same name, parent and trace
    /// context, the new input and a new execution id, then the carried-over events; the version, scheduled start and
    /// the workflow's span id are not carried. Events that arrived during the turn stay in the inbox for it.
    /// </summary>
    private static void ContinueAsNew(InstanceRecord instance, CompleteWorkflowAction complete)
    {
        var previous = instance.History.First(e => e.ExecutionStarted is not null);
        instance.ExecutionId = Guid.NewGuid().ToString();
        instance.Input = complete.Result;
        instance.CreatedAt = DateTime.UtcNow;
        instance.ScheduledStartAt = null;
        var pending = instance.Inbox.ToList();
        instance.History.Clear();
        instance.Inbox.Clear();
        var started = new ExecutionStartedEvent
        {
            Name = previous.ExecutionStarted.Name, Input = complete.Result, ParentInstance = previous.ExecutionStarted.ParentInstance,
            ParentTraceContext = previous.ExecutionStarted.ParentTraceContext,
            WorkflowInstance = new Dapr.DurableTask.Protobuf.WorkflowInstance { InstanceId = instance.InstanceId, ExecutionId = instance.ExecutionId },
        };
        instance.Inbox.Add(new HistoryEvent { EventId = -1, Timestamp = Now(), ExecutionStarted = started, Router = previous.Router });
        instance.Inbox.AddRange(complete.CarryoverEvents);
        instance.Inbox.AddRange(pending);
    }

    /// <summary>Creates a child instance here, for a parent on this app or another one; a replayed creation finds it there.</summary>
    public async Task StartChildAsync(CreateWorkflowInstanceRequest start, CancellationToken ct)
    {
        var started = start.StartEvent.ExecutionStarted;
        if (Find(started.WorkflowInstance.InstanceId) is not null) return;
        var request = new CreateInstanceRequest
        {
            InstanceId = started.WorkflowInstance.InstanceId, Name = started.Name, Version = started.Version, Input = started.Input,
            ParentTraceContext = started.ParentTraceContext,
        };
        await StartAsync(request, started.ParentInstance, start.StartEvent.Router, ct);
    }

    /// <summary>
    /// Tells the parent how its child ended (durabletask-go applier.go): completed, or failed with the completion's
    /// failure details, which a terminated child does not have.
    /// </summary>
    private async Task NotifyParentAsync(ParentInstanceInfo parent, InstanceRecord child)
    {
        var e = child.Status == OrchestrationStatus.Completed
            ? new HistoryEvent { EventId = -1, Timestamp = Now(), ChildWorkflowInstanceCompleted = new ChildWorkflowInstanceCompletedEvent { TaskScheduledId = parent.TaskScheduledId, Result = child.Output } }
            : new HistoryEvent
            {
                EventId = -1, Timestamp = Now(),
                ChildWorkflowInstanceFailed = new ChildWorkflowInstanceFailedEvent { TaskScheduledId = parent.TaskScheduledId, FailureDetails = child.Failure },
            };
        if (!string.IsNullOrEmpty(parent.AppID)) e.Router = new TaskRouter { SourceAppID = AppId, TargetAppID = parent.AppID };
        var parentId = parent.WorkflowInstance.InstanceId;
        if (!string.IsNullOrEmpty(parent.AppID) && parent.AppID != AppId) await Peers!.DeliverAsync(parent.AppID, parentId, e, _stopping.Token);
        else if (Find(parentId) is not null) await DeliverAsync(parentId, e, CancellationToken.None);
    }

    /// <summary>
    /// A recursive terminate reaches every child in the history, on this app only: daprd 1.17 sends it to its own
    /// workflow actors (durabletask-go orchestration.go), so a child on another app keeps running.
    /// </summary>
    private async Task TerminateChildrenAsync(InstanceRecord parent, string? reason)
    {
        foreach (var created in parent.History.Where(e => e.ChildWorkflowInstanceCreated is not null && !IsRemote(e.Router)))
        {
            var terminate = new HistoryEvent { EventId = -1, Timestamp = Now(), ExecutionTerminated = new ExecutionTerminatedEvent { Input = reason, Recurse = true } };
            if (Find(created.ChildWorkflowInstanceCreated.InstanceId) is not null)
                await DeliverAsync(created.ChildWorkflowInstanceCreated.InstanceId, terminate, CancellationToken.None);
        }
    }

    // ---------- rerun from an event ----------

    /// <summary>
    /// A new instance from a finished one's history up to one scheduled activity, timer or child workflow, which then
    /// runs again (daprd 1.17 orchestrator/rerun.go and fork/fork.go): the events before it are copied, the target gets
    /// its source on <c>rerunParentInstanceInfo</c> (and a new input if asked), what was scheduled and not finished by
    /// then is dispatched at once (a timer fires at once), and no turn runs first.
    /// </summary>
    public async Task<string> RerunFromEventAsync(RerunWorkflowFromEventRequest request, CancellationToken ct)
    {
        var sourceId = request.SourceInstanceID;
        if (string.IsNullOrEmpty(sourceId)) throw Rerun(StatusCode.InvalidArgument, "rerun workflow source instance ID is required");
        var newId = string.IsNullOrEmpty(request.NewInstanceID) ? Guid.NewGuid().ToString() : request.NewInstanceID;
        if (newId == sourceId) throw Rerun(StatusCode.InvalidArgument, "rerun workflow instance ID must be different from the original instance ID");
        var source = Find(sourceId) ?? throw Rerun(StatusCode.NotFound, $"workflow instance does not exist with ID '{sourceId}'");
        if (!source.IsTerminal) throw Rerun(StatusCode.InvalidArgument, $"'{sourceId}' is not in a terminal state");
        if (source.Parent is not null) throw Rerun(StatusCode.InvalidArgument, $"'{sourceId}': cannot rerun from child-workflows");
        var eventId = request.EventID;
        var cut = source.History.FindIndex(e => e.EventId >= 0 && (uint)e.EventId == eventId);
        if (cut < 0) throw Rerun(StatusCode.NotFound, $"does not have history event with ID '{eventId}'");
        var target = source.History[cut];
        var kind = target.EventTypeCase switch
        {
            HistoryEvent.EventTypeOneofCase.TaskScheduled => "activity",
            HistoryEvent.EventTypeOneofCase.TimerCreated => "timer",
            HistoryEvent.EventTypeOneofCase.ChildWorkflowInstanceCreated => "child",
            _ => throw Rerun(StatusCode.NotFound, $"target event '*protos.HistoryEvent_{GoEventName(target.EventTypeCase)}' with ID '{eventId}' is not an event that can be rerun"),
        };
        if (kind == "timer" && request.OverwriteInput) throw Rerun(StatusCode.InvalidArgument, $"cannot write input to timer event '{eventId}'");
        if (kind != "child" && !string.IsNullOrEmpty(request.NewChildWorkflowInstanceID))
            throw Rerun(StatusCode.InvalidArgument, $"cannot set new child workflow instance ID on {kind} event '{eventId}'");
        if (Find(newId) is not null) throw Rerun(StatusCode.AlreadyExists, $"workflow '{newId}' has already been created");

        var history = source.History.Take(cut + 1).Select(e => e.Clone()).ToList();
        var rerun = history[^1];
        var parentInfo = new RerunParentInstanceInfo { InstanceID = sourceId };
        switch (kind)
        {
            case "activity":
                rerun.TaskScheduled.RerunParentInstanceInfo = parentInfo;
                if (request.OverwriteInput) rerun.TaskScheduled.Input = request.Input;
                break;
            case "timer":
                rerun.TimerCreated.RerunParentInstanceInfo = parentInfo;
                break;
            default:
                rerun.ChildWorkflowInstanceCreated.RerunParentInstanceInfo = parentInfo;
                if (request.OverwriteInput) rerun.ChildWorkflowInstanceCreated.Input = request.Input;
                if (!string.IsNullOrEmpty(request.NewChildWorkflowInstanceID)) rerun.ChildWorkflowInstanceCreated.InstanceId = request.NewChildWorkflowInstanceID;
                break;
        }
        bool Settled(Func<HistoryEvent, bool> settles) => history.Any(settles);
        var unfinished = history.Where(e =>
            (e.TaskScheduled is not null && !Settled(c => c.TaskCompleted?.TaskScheduledId == e.EventId || c.TaskFailed?.TaskScheduledId == e.EventId))
            || (e.TimerCreated is not null && !Settled(c => c.TimerFired?.TimerId == e.EventId))
            || (e.ChildWorkflowInstanceCreated is not null && !Settled(c => c.ChildWorkflowInstanceCompleted?.TaskScheduledId == e.EventId || c.ChildWorkflowInstanceFailed?.TaskScheduledId == e.EventId))).ToList();
        foreach (var e in unfinished)
        {
            e.Timestamp = Now();
            if (e.ChildWorkflowInstanceCreated is { } created && !(ReferenceEquals(e, rerun) && !string.IsNullOrEmpty(request.NewChildWorkflowInstanceID)))
                created.InstanceId = $"{newId}:{e.EventId:x4}";
        }

        var started = history.First(e => e.ExecutionStarted is not null).ExecutionStarted;
        var instance = new InstanceRecord { InstanceId = newId, Name = source.Name, Input = started.Input, History = history, Status = OrchestrationStatus.Running };
        await AddAsync(instance, ct);
        _logger.LogInformation("workflow instance {InstanceId} reruns {SourceId} from event {EventId}", newId, sourceId, eventId);
        foreach (var e in unfinished)
        {
            if (e.TaskScheduled is { } scheduled)
            {
                var activity = ActivityRequestFor(instance, e.EventId, scheduled);
                Interlocked.Increment(ref instance.AwaitedActivities);
                if (IsRemote(e.Router)) await Peers!.RunActivityAsync(e.Router.TargetAppID, activity, AppId, ct);
                else DispatchActivity(activity, replyTo: null, e.Router);
            }
            else if (e.TimerCreated is not null) ArmTimer(newId, e.EventId, Now());
            else
            {
                var start = ChildStartFor(instance, e.EventId, e.ChildWorkflowInstanceCreated, e.Router);
                if (IsRemote(e.Router)) await Peers!.StartChildAsync(e.Router.TargetAppID, start, ct);
                else await StartChildAsync(start, ct);
            }
        }
        return newId;

        static RpcException Rerun(StatusCode code, string message) => new(new Status(code, message));
    }

    /// <summary>The event's type as durabletask-go 0.11.5 names it, for daprd's error texts.</summary>
    private static string GoEventName(HistoryEvent.EventTypeOneofCase type) => type switch
    {
        HistoryEvent.EventTypeOneofCase.WorkflowStarted => "OrchestratorStarted",
        HistoryEvent.EventTypeOneofCase.WorkflowCompleted => "OrchestratorCompleted",
        HistoryEvent.EventTypeOneofCase.ChildWorkflowInstanceCompleted => "SubOrchestrationInstanceCompleted",
        HistoryEvent.EventTypeOneofCase.ChildWorkflowInstanceFailed => "SubOrchestrationInstanceFailed",
        _ => type.ToString(),
    };

    // ---------- work for other apps' engines ----------

    /// <summary>Runs an activity that a workflow on <paramref name="replyTo"/> scheduled on this app; the result goes back there.</summary>
    public void RunActivityFor(string replyTo, ActivityRequest request) =>
        DispatchActivity(request, replyTo, new TaskRouter { SourceAppID = replyTo, TargetAppID = AppId });

    // ---------- turns, dispatch, timers ----------

    /// <summary>Runs a change under the instance's lock, saves it, wakes waiters and starts the next turn if one is due.</summary>
    private async Task WithInstanceAsync(InstanceRecord instance, Action<InstanceRecord> change, CancellationToken ct)
    {
        await instance.Lock.WaitAsync(ct);
        try
        {
            change(instance);
            StartTurnIfDue(instance);
            // Applied, so saved even if the caller goes away now: a caller that retries must find it done.
            await SaveAsync(instance, _stopping.Token);
            instance.NotifyChanged();
        }
        finally
        {
            instance.Lock.Release();
        }
    }

    private void StartTurnIfDue(InstanceRecord instance)
    {
        if (instance.TurnInFlight || instance.Inbox.Count == 0 || instance.IsTerminal || instance.Status == OrchestrationStatus.Stalled) return;
        // The start waits for its scheduled time; an event sent before then wakes it early, as daprd's reminders do.
        if (instance.ScheduledStartAt is { } startAt && startAt > DateTime.UtcNow && instance.History.Count == 0 && instance.Inbox.Count == 1)
        {
            _ = WakeAtAsync(instance, startAt);
            return;
        }
        var started = new HistoryEvent { EventId = -1, Timestamp = Now(), WorkflowStarted = new WorkflowStartedEvent() };
        instance.Inbox.Insert(0, started);
        // The workflow's span id is set on its first turn, when it has a trace context (durabletask-go orchestration.go).
        if (instance.History.Count == 0 && instance.Inbox.FirstOrDefault(e => e.ExecutionStarted is not null)?.ExecutionStarted is { } first)
            Tracing.FirstTurn(instance, first, started.Timestamp.ToDateTime());
        foreach (var fired in instance.Inbox.Where(e => e.TimerFired is not null)) Tracing.TimerFired(instance, fired);
        instance.TurnEventCount = instance.Inbox.Count;
        instance.TurnInFlight = true;
        instance.TurnNumber++;
        var request = new WorkflowRequest { InstanceId = instance.InstanceId, ExecutionId = instance.ExecutionId };
        request.PastEvents.AddRange(instance.History);
        request.NewEvents.AddRange(instance.Inbox);
        var key = OrchestratorKey(instance.InstanceId);
        _dispatch.Writer.TryWrite(new Dispatch(key, new WorkItem { WorkflowRequest = request, CompletionToken = TurnToken(instance) }, instance.TurnNumber));
    }

    private async Task WakeAtAsync(InstanceRecord instance, DateTime at)
    {
        try
        {
            await Task.Delay(at - DateTime.UtcNow, _stopping.Token);
            await WithInstanceAsync(instance, _ => { }, _stopping.Token);
        }
        catch (OperationCanceledException) { }
    }

    private void DispatchActivity(ActivityRequest request, string? replyTo, TaskRouter? router)
    {
        var key = ActivityKey(request.WorkflowInstance.InstanceId, request.TaskId);
        var (carried, span) = Tracing.Activity(request);
        // No completion token, as daprd: activity completions are matched by instance and task id (durabletask-go
        // backend/local), and a duplicate one changes nothing (the task is settled already).
        _dispatch.Writer.TryWrite(new Dispatch(key, new WorkItem { ActivityRequest = carried }, ReplyTo: replyTo, Router: router, Span: span));
    }

    private void ArmTimer(string instanceId, int timerId, Timestamp fireAt)
    {
        _ = Task.Run(async () =>
        {
            try
            {
                // daprd's timer reminder is due at fireAt in RFC 3339 without fractions: the whole second, truncated (timer.go).
                var due = fireAt.ToDateTime();
                due = due.AddTicks(-(due.Ticks % TimeSpan.TicksPerSecond));
                // Task.Delay may wake a little before the clock reaches the due time; a reminder never fires early.
                for (var wait = due - DateTime.UtcNow; wait > TimeSpan.Zero; wait = due - DateTime.UtcNow)
                    await Task.Delay(wait + TimeSpan.FromMilliseconds(1), _stopping.Token);
                if (Find(instanceId) is not { } instance) return;
                await WithInstanceAsync(instance, i =>
                {
                    if (i.IsTerminal || IsTimerFired(i, timerId)) return;
                    i.Inbox.Add(new HistoryEvent { EventId = -1, Timestamp = Now(), TimerFired = new TimerFiredEvent { TimerId = timerId, FireAt = fireAt } });
                }, _stopping.Token);
            }
            catch (OperationCanceledException) { }
        });
    }

    /// <summary>Skips work that no longer needs doing: a finished instance, a settled task, a turn already done.</summary>
    private bool StillWanted(Dispatch dispatch)
    {
        var item = dispatch.Item;
        if (item.RequestCase == WorkItem.RequestOneofCase.WorkflowRequest)
            return Find(item.WorkflowRequest.InstanceId) is { TurnInFlight: true, IsTerminal: false } i0 && i0.TurnNumber == dispatch.Turn;
        if (dispatch.ReplyTo is not null) return true; // the workflow lives on another app, which ignores a stale result
        var activity = item.ActivityRequest;
        return Find(activity.WorkflowInstance.InstanceId) is { IsTerminal: false } i && !IsTaskSettled(i, activity.TaskId);
    }

    private static bool IsTaskSettled(InstanceRecord i, int taskId) =>
        i.AllEvents.Any(e => e.TaskCompleted?.TaskScheduledId == taskId || e.TaskFailed?.TaskScheduledId == taskId);

    private static bool IsTimerFired(InstanceRecord i, int timerId) =>
        i.AllEvents.Any(e => e.TimerFired?.TimerId == timerId);

    private static string OrchestratorKey(string instanceId) => $"o|{instanceId}";

    /// <summary>The completion token of a turn's work item, which the SDK sends back with the turn's result.</summary>
    private static string TurnToken(InstanceRecord instance) => instance.TurnNumber.ToString(System.Globalization.CultureInfo.InvariantCulture);
    private static string ActivityKey(string instanceId, int taskId) => $"a|{instanceId}|{taskId}";
    private static Timestamp Now() => Timestamp.FromDateTime(DateTime.UtcNow);

    // ---------- persistence ----------

    private async Task AddAsync(InstanceRecord instance, CancellationToken ct)
    {
        while (!_instances.TryAdd(instance.InstanceId, instance))
        {
            var existing = Get(instance.InstanceId);
            if (!existing.IsTerminal)
                throw new RpcException(new Status(StatusCode.Unknown, $"an active workflow with ID '{instance.InstanceId}' already exists"));
            // daprd keeps an actor whose activity is still out from being re-created (orchestrator/create.go).
            if (Volatile.Read(ref existing.AwaitedActivities) > 0)
                throw new RpcException(new Status(StatusCode.Unknown, $"a terminated workflow with ID '{instance.InstanceId}' is already awaiting an activity result"));
            // A finished instance with this id is replaced by the new one.
            _instances.TryRemove(new KeyValuePair<string, InstanceRecord>(instance.InstanceId, existing));
        }
        await UpdateIndexAsync(chunks =>
        {
            if (chunks.Any(chunk => chunk.Contains(instance.InstanceId))) return -1;
            if (chunks.Count == 0 || chunks[^1].Count >= IndexChunkSize) chunks.Add([]);
            chunks[^1].Add(instance.InstanceId);
            return chunks.Count - 1;
        }, ct);
        await WithInstanceAsync(instance, _ => { }, ct);
    }

    private async Task SaveAsync(InstanceRecord instance, CancellationToken ct)
    {
        if (_store is null) return;
        await _store.WriteAsync(new StateWrite(_keyPrefix + instance.InstanceId, instance.Serialize(), null, Concurrency.LastWrite, StateWrite.NoMetadata), ct);
    }

    /// <summary>Changes the index in memory and saves the one chunk <paramref name="change"/> returns (none if -1).</summary>
    private async Task UpdateIndexAsync(Func<List<List<string>>, int> change, CancellationToken ct)
    {
        if (_store is null) return;
        await _indexLock.WaitAsync(ct);
        try
        {
            var changed = change(_indexChunks);
            if (changed < 0) return;
            var ids = JsonSerializer.SerializeToUtf8Bytes(_indexChunks[changed], SidecarJson.Default.ListString);
            await _store.WriteAsync(new StateWrite(IndexChunkKey(changed), ids, null, Concurrency.LastWrite, StateWrite.NoMetadata), ct);
        }
        finally
        {
            _indexLock.Release();
        }
    }

    private string IndexChunkKey(int chunk) => $"{_keyPrefix}index-{chunk}";

    /// <summary>Every saved instance id: the chunks in order, until the first one that is missing.</summary>
    private async Task<List<string>> ReadIndexAsync(CancellationToken ct)
    {
        var ids = new List<string>();
        while (await _store!.GetAsync(IndexChunkKey(_indexChunks.Count), ct) is { } chunk)
        {
            var chunkIds = JsonSerializer.Deserialize(chunk.Value, SidecarJson.Default.ListString) ?? [];
            _indexChunks.Add(chunkIds);
            ids.AddRange(chunkIds);
        }
        return ids;
    }

    /// <summary>Loads the saved instances and resumes the unfinished ones: their turns, activities and timers.</summary>
    public async Task RecoverAsync(CancellationToken ct)
    {
        if (_store is null) return;
        var resumed = 0;
        foreach (var id in await ReadIndexAsync(ct))
        {
            if (await _store.GetAsync(_keyPrefix + id, ct) is not { } saved) continue;
            var instance = InstanceRecord.Deserialize(saved.Value);
            _instances[id] = instance;
            if (instance.IsTerminal) continue;
            resumed++;
            // A turn that was in flight when the sidecar stopped is simply run again.
            if (instance.Inbox.FirstOrDefault()?.WorkflowStarted is not null) instance.Inbox.RemoveAt(0);
            // A stalled instance is tried again: the worker that connects now may be the one that can run it.
            if (instance.Status == OrchestrationStatus.Stalled) instance.Status = OrchestrationStatus.Running;
            foreach (var scheduled in instance.History.Where(e => e.TaskScheduled is not null && !IsTaskSettled(instance, e.EventId)))
            {
                var request = ActivityRequestFor(instance, scheduled.EventId, scheduled.TaskScheduled);
                Interlocked.Increment(ref instance.AwaitedActivities);
                if (IsRemote(scheduled.Router)) _ = Peers?.RunActivityAsync(scheduled.Router.TargetAppID, request, AppId, _stopping.Token);
                else DispatchActivity(request, replyTo: null, scheduled.Router);
            }
            foreach (var timer in instance.History.Where(e => e.TimerCreated is not null && !IsTimerFired(instance, e.EventId)))
                ArmTimer(instance.InstanceId, timer.EventId, timer.TimerCreated.FireAt);
            await WithInstanceAsync(instance, _ => { }, ct);
        }
        if (resumed > 0) _logger.LogInformation("resumed {Count} unfinished workflow instance(s)", resumed);
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        _dispatch.Writer.TryComplete();
    }
}
