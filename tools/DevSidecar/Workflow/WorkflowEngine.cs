using System.Collections.Concurrent;
using System.Text.Json;
using System.Threading.Channels;
using Dapr.DurableTask.Protobuf;
using DevSidecar.Hosting;
using DevSidecar.State;
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

    /// <summary>
    /// A work item on its way to a worker. Key identifies it among the outstanding ones and is its completion token;
    /// ReplyTo is the app whose engine waits for an activity scheduled there (null: this one).
    /// </summary>
    private sealed record Dispatch(string Key, WorkItem Item, int Turn = 0, string? ReplyTo = null);

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

    public int ConnectedWorkers => Volatile.Read(ref _connectedWorkers);

    // ---------- client operations ----------

    /// <summary>
    /// Schedules a new instance. An id that is in use by an instance that has not finished is refused; a finished one
    /// is replaced by the new instance, as durabletask-go does without a reuse policy.
    /// </summary>
    public async Task<string> StartAsync(CreateInstanceRequest request, ParentInstanceInfo? parent, TaskRouter? router, CancellationToken ct)
    {
        var instanceId = string.IsNullOrEmpty(request.InstanceId) ? Guid.NewGuid().ToString() : request.InstanceId;
        var startAt = request.ScheduledStartTimestamp?.ToDateTime();
        var instance = new InstanceRecord
        {
            InstanceId = instanceId, Name = request.Name, Version = request.Version, Input = request.Input, ScheduledStartAt = startAt, Parent = parent,
        };
        var started = new ExecutionStartedEvent
        {
            Name = request.Name,
            Version = request.Version,
            Input = request.Input,
            WorkflowInstance = new Dapr.DurableTask.Protobuf.WorkflowInstance { InstanceId = instanceId, ExecutionId = instance.ExecutionId },
            ScheduledStartTimestamp = request.ScheduledStartTimestamp,
            ParentInstance = parent,
            ParentTraceContext = request.ParentTraceContext,
            WorkflowSpanID = WorkflowTracing.NewSpanId(),
        };
        started.Tags.Add(request.Tags);
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

    public InstanceRecord? Find(string instanceId) => _instances.GetValueOrDefault(instanceId);

    public InstanceRecord Get(string instanceId) =>
        Find(instanceId) ?? throw new RpcException(new Status(StatusCode.NotFound, $"no such instance exists: {instanceId}"));

    /// <summary>Every instance id, in the order they were created, for ListInstanceIDs.</summary>
    public IReadOnlyList<string> InstanceIds() => [.. _instances.Values.OrderBy(i => i.CreatedAt).ThenBy(i => i.InstanceId, StringComparer.Ordinal).Select(i => i.InstanceId)];

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

    public Task RaiseEventAsync(string instanceId, string name, string? input, CancellationToken ct) =>
        DeliverAsync(instanceId, new HistoryEvent { EventId = -1, Timestamp = Now(), EventRaised = new EventRaisedEvent { Name = name, Input = input } }, ct);

    /// <summary>
    /// Puts a terminate event in the instance's inbox; the next turn ends it (the SDK answers it with a Terminated
    /// completion). With <paramref name="recursive"/>, its children are terminated too when it ends.
    /// </summary>
    public Task TerminateAsync(string instanceId, string? output, bool recursive, CancellationToken ct) =>
        DeliverAsync(instanceId, new HistoryEvent { EventId = -1, Timestamp = Now(), ExecutionTerminated = new ExecutionTerminatedEvent { Input = output, Recurse = recursive } }, ct);

    public Task SuspendAsync(string instanceId, string? reason, CancellationToken ct) =>
        DeliverAsync(instanceId, new HistoryEvent { EventId = -1, Timestamp = Now(), ExecutionSuspended = new ExecutionSuspendedEvent { Input = reason } }, ct);

    public Task ResumeAsync(string instanceId, string? reason, CancellationToken ct) =>
        DeliverAsync(instanceId, new HistoryEvent { EventId = -1, Timestamp = Now(), ExecutionResumed = new ExecutionResumedEvent { Input = reason } }, ct);

    /// <summary>Adds an event to the inbox of an instance that has not ended; a finished instance ignores it.</summary>
    public Task DeliverAsync(string instanceId, HistoryEvent e, CancellationToken ct) =>
        WithInstanceAsync(Get(instanceId), instance =>
        {
            if (instance.IsTerminal) return;
            if (e.ExecutionSuspended is not null) instance.Status = OrchestrationStatus.Suspended;
            if (e.ExecutionResumed is not null && instance.IsSuspended) instance.Status = instance.History.Count == 0 ? OrchestrationStatus.Pending : OrchestrationStatus.Running;
            instance.Inbox.Add(e);
        }, ct);

    /// <summary>Deletes a finished instance (and, when asked, its children) and returns how many were deleted.</summary>
    public async Task<int> PurgeAsync(string instanceId, bool recursive, CancellationToken ct)
    {
        var instance = Get(instanceId);
        if (!instance.IsTerminal)
            throw new RpcException(new Status(StatusCode.FailedPrecondition, $"unable to purge workflow '{instanceId}': the workflow is not in a completed state"));
        var count = 0;
        if (recursive)
            foreach (var child in ChildrenOf(instanceId).Where(c => c.IsTerminal)) count += await PurgeAsync(child.InstanceId, recursive, ct);
        await RemoveAsync(instanceId, ct);
        return count + 1;
    }

    private async Task RemoveAsync(string instanceId, CancellationToken ct)
    {
        _instances.TryRemove(instanceId, out _);
        if (_store is null) return;
        await _store.ApplyAsync([new StateWrite(_keyPrefix + instanceId, null, null, Concurrency.LastWrite, null)], atomic: false, ct);
        await UpdateIndexAsync(chunks => chunks.FindIndex(chunk => chunk.Remove(instanceId)), ct);
    }

    private IEnumerable<InstanceRecord> ChildrenOf(string instanceId) =>
        _instances.Values.Where(i => i.Parent?.WorkflowInstance.InstanceId == instanceId);

    // ---------- worker side ----------

    /// <summary>Streams work items to one connected worker until it disconnects; what it left unfinished goes to another.</summary>
    public async Task StreamWorkItemsAsync(IServerStreamWriter<WorkItem> stream, CancellationToken ct)
    {
        Interlocked.Increment(ref _connectedWorkers);
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

    public async Task CompleteActivityAsync(ActivityResponse response, CancellationToken ct)
    {
        var key = string.IsNullOrEmpty(response.CompletionToken) ? ActivityKey(response.InstanceId, response.TaskId) : response.CompletionToken;
        if (!_outstanding.TryRemove(key, out var dispatch))
        {
            _logger.LogDebug("activity completion for {InstanceId} task {TaskId} matches no outstanding work item; ignored", response.InstanceId, response.TaskId);
            return;
        }
        var request = dispatch.Item.ActivityRequest;
        var completion = response.FailureDetails is { } failure
            ? new HistoryEvent { EventId = -1, Timestamp = Now(), TaskFailed = new TaskFailedEvent { TaskScheduledId = request.TaskId, FailureDetails = failure, TaskExecutionId = request.TaskExecutionId } }
            : new HistoryEvent { EventId = -1, Timestamp = Now(), TaskCompleted = new TaskCompletedEvent { TaskScheduledId = request.TaskId, Result = response.Result, TaskExecutionId = request.TaskExecutionId } };
        if (dispatch.ReplyTo is { } replyTo)
        {
            await Peers!.DeliverAsync(replyTo, request.WorkflowInstance.InstanceId, completion, ct);
            return;
        }
        if (Find(request.WorkflowInstance.InstanceId) is not { } instance) return;
        await WithInstanceAsync(instance, i =>
        {
            if (i.IsTerminal || IsTaskSettled(i, request.TaskId)) return; // a duplicate completion changes nothing
            i.Inbox.Add(completion);
        }, ct);
    }

    public async Task CompleteWorkflowAsync(WorkflowResponse response, CancellationToken ct)
    {
        var key = string.IsNullOrEmpty(response.CompletionToken) ? OrchestratorKey(response.InstanceId) : response.CompletionToken;
        _outstanding.TryRemove(key, out _);
        if (Find(response.InstanceId) is not { } instance)
            throw new RpcException(new Status(StatusCode.NotFound, $"no such instance exists: {response.InstanceId}"));
        var followUps = new List<Func<Task>>();
        await WithInstanceAsync(instance, i =>
        {
            if (!i.TurnInFlight) return; // stale: the turn was already completed by another worker
            i.TurnInFlight = false;
            var turn = i.Inbox.GetRange(0, i.TurnEventCount);
            i.Inbox.RemoveRange(0, i.TurnEventCount);
            // The version the worker ran this turn with is kept on the turn's WorkflowStarted event and so replayed.
            if (response.Version is { } version) turn[0].WorkflowStarted.Version = version;
            if (IsStall(response, out var stall))
            {
                // Nothing of the turn is applied: its events wait, and the instance waits for a worker that can run them.
                i.Inbox.InsertRange(0, turn.Skip(1));
                i.History.Add(new HistoryEvent { EventId = -1, Timestamp = Now(), ExecutionStalled = stall });
                i.Status = OrchestrationStatus.Stalled;
                _logger.LogWarning("workflow instance {InstanceId} is STALLED: {Reason} {Description}", i.InstanceId, stall.Reason, stall.Description);
                return;
            }
            // The turn's events (WorkflowStarted first) become history; what arrived meanwhile waits for the next turn.
            i.History.AddRange(turn);
            if (i.IsTerminal) return;
            if (i.Status is OrchestrationStatus.Pending) i.Status = OrchestrationStatus.Running;
            // Replaced on every turn: a turn that sets none clears it, as durabletask-go does.
            i.CustomStatus = response.CustomStatus;
            foreach (var action in response.Actions) followUps.AddRange(Apply(i, action));
        }, ct);
        foreach (var followUp in followUps) await followUp();
    }

    private static bool IsStall(WorkflowResponse response, out ExecutionStalledEvent stall)
    {
        foreach (var action in response.Actions)
        {
            if (action.CompleteWorkflow is { WorkflowStatus: OrchestrationStatus.Stalled } complete)
            {
                stall = new ExecutionStalledEvent { Reason = StalledReason.PatchMismatch, Description = complete.Details ?? "" };
                return true;
            }
            if (action.WorkflowVersionNotAvailable is not null)
            {
                stall = new ExecutionStalledEvent { Reason = StalledReason.VersionNotAvailable, Description = "the workflow version is not available on the worker" };
                return true;
            }
        }
        stall = null!;
        return false;
    }

    /// <summary>Turns one action into history, and returns what has to happen outside the instance's lock.</summary>
    private IEnumerable<Func<Task>> Apply(InstanceRecord instance, WorkflowAction action)
    {
        var at = Now();
        var router = action.Router;
        switch (action.WorkflowActionTypeCase)
        {
            case WorkflowAction.WorkflowActionTypeOneofCase.ScheduleTask:
                var task = action.ScheduleTask;
                router ??= task.Router;
                var scheduled = new TaskScheduledEvent
                {
                    Name = task.Name, Version = task.Version, Input = task.Input, TaskExecutionId = task.TaskExecutionId,
                    ParentTraceContext = WorkflowTracing.ChildOf(instance),
                };
                instance.History.Add(new HistoryEvent { EventId = action.Id, Timestamp = at, TaskScheduled = scheduled, Router = router });
                var activity = ActivityRequestFor(instance, action.Id, scheduled);
                if (IsRemote(router))
                {
                    var target = router!.TargetAppID;
                    yield return () => Peers!.RunActivityAsync(target, activity, AppId, _stopping.Token);
                }
                else DispatchActivity(activity, replyTo: null);
                break;
            case WorkflowAction.WorkflowActionTypeOneofCase.CreateTimer:
                var timer = action.CreateTimer;
                var created = new TimerCreatedEvent { FireAt = timer.FireAt, Name = timer.Name };
                switch (timer.OriginCase)
                {
                    case CreateTimerAction.OriginOneofCase.CreateTimer: created.CreateTimer = timer.CreateTimer; break;
                    case CreateTimerAction.OriginOneofCase.ExternalEvent: created.ExternalEvent = timer.ExternalEvent; break;
                    case CreateTimerAction.OriginOneofCase.ActivityRetry: created.ActivityRetry = timer.ActivityRetry; break;
                    case CreateTimerAction.OriginOneofCase.ChildWorkflowRetry: created.ChildWorkflowRetry = timer.ChildWorkflowRetry; break;
                }
                instance.History.Add(new HistoryEvent { EventId = action.Id, Timestamp = at, TimerCreated = created });
                ArmTimer(instance.InstanceId, action.Id, timer.FireAt);
                break;
            case WorkflowAction.WorkflowActionTypeOneofCase.CreateChildWorkflow:
                var child = action.CreateChildWorkflow;
                router ??= child.Router;
                var childId = string.IsNullOrEmpty(child.InstanceId) ? $"{instance.InstanceId}:{action.Id:x4}" : child.InstanceId;
                var childCreated = new ChildWorkflowInstanceCreatedEvent
                {
                    InstanceId = childId, Name = child.Name, Version = child.Version, Input = child.Input,
                    ParentTraceContext = WorkflowTracing.ChildOf(instance),
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
            case WorkflowAction.WorkflowActionTypeOneofCase.SendEvent:
                var send = action.SendEvent;
                instance.History.Add(new HistoryEvent { EventId = action.Id, Timestamp = at, EventSent = new EventSentEvent { InstanceId = send.Instance.InstanceId, Name = send.Name, Input = send.Data } });
                yield return () => Find(send.Instance.InstanceId) is null ? Task.CompletedTask : RaiseEventAsync(send.Instance.InstanceId, send.Name, send.Data, CancellationToken.None);
                break;
            case WorkflowAction.WorkflowActionTypeOneofCase.TerminateWorkflow:
                var terminate = action.TerminateWorkflow;
                yield return () => Find(terminate.InstanceId) is null ? Task.CompletedTask : TerminateAsync(terminate.InstanceId, terminate.Reason, terminate.Recurse, CancellationToken.None);
                break;
            case WorkflowAction.WorkflowActionTypeOneofCase.CompleteWorkflow:
                var complete = action.CompleteWorkflow;
                if (complete.WorkflowStatus == OrchestrationStatus.ContinuedAsNew)
                {
                    ContinueAsNew(instance, complete);
                    break;
                }
                var output = complete.Result;
                var recurse = false;
                if (complete.WorkflowStatus == OrchestrationStatus.Terminated &&
                    instance.History.LastOrDefault(e => e.ExecutionTerminated is not null)?.ExecutionTerminated is { } terminated)
                {
                    output ??= terminated.Input;
                    recurse = terminated.Recurse;
                }
                instance.History.Add(new HistoryEvent
                {
                    EventId = action.Id, Timestamp = at,
                    ExecutionCompleted = new ExecutionCompletedEvent { WorkflowStatus = complete.WorkflowStatus, Result = output, FailureDetails = complete.FailureDetails },
                });
                Finish(instance, complete.WorkflowStatus, output, complete.FailureDetails);
                _logger.LogInformation("workflow instance {InstanceId} {Status}", instance.InstanceId, complete.WorkflowStatus);
                if (instance.Parent is { } parent)
                {
                    var done = instance;
                    yield return () => NotifyParentAsync(parent, done);
                }
                if (recurse)
                {
                    var ended = instance;
                    yield return () => TerminateChildrenAsync(ended, output);
                }
                break;
            default:
                _logger.LogWarning("workflow instance {InstanceId}: action {Action} is not supported by the dev sidecar; ignored", instance.InstanceId, action.WorkflowActionTypeCase);
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
            Router = new TaskRouter { SourceAppID = AppId, TargetAppID = IsRemote(router) ? router!.TargetAppID : "" },
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

    private static void ContinueAsNew(InstanceRecord instance, CompleteWorkflowAction complete)
    {
        var previous = instance.History.First(e => e.ExecutionStarted is not null);
        instance.ExecutionId = Guid.NewGuid().ToString("N");
        instance.Input = complete.Result;
        instance.CreatedAt = DateTime.UtcNow;
        if (complete.NewVersion is not null) instance.Version = complete.NewVersion;
        var pending = instance.Inbox.ToList();
        instance.History.Clear();
        instance.Inbox.Clear();
        var started = previous.ExecutionStarted.Clone();
        started.Input = complete.Result;
        started.Version = instance.Version;
        started.WorkflowInstance = new Dapr.DurableTask.Protobuf.WorkflowInstance { InstanceId = instance.InstanceId, ExecutionId = instance.ExecutionId };
        instance.Inbox.Add(new HistoryEvent { EventId = -1, Timestamp = Now(), ExecutionStarted = started, Router = previous.Router });
        instance.Inbox.AddRange(complete.CarryoverEvents);
        instance.Inbox.AddRange(pending);
        instance.Status = OrchestrationStatus.Running;
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

    private async Task NotifyParentAsync(ParentInstanceInfo parent, InstanceRecord child)
    {
        var e = child.Status == OrchestrationStatus.Completed
            ? new HistoryEvent { EventId = -1, Timestamp = Now(), ChildWorkflowInstanceCompleted = new ChildWorkflowInstanceCompletedEvent { TaskScheduledId = parent.TaskScheduledId, Result = child.Output } }
            : new HistoryEvent
            {
                EventId = -1, Timestamp = Now(),
                ChildWorkflowInstanceFailed = new ChildWorkflowInstanceFailedEvent
                {
                    TaskScheduledId = parent.TaskScheduledId,
                    FailureDetails = child.Failure ?? new TaskFailureDetails { ErrorType = "WorkflowTerminated", ErrorMessage = $"child workflow {child.InstanceId} ended {child.Status}" },
                },
            };
        var parentId = parent.WorkflowInstance.InstanceId;
        if (!string.IsNullOrEmpty(parent.AppID) && parent.AppID != AppId) await Peers!.DeliverAsync(parent.AppID, parentId, e, _stopping.Token);
        else if (Find(parentId) is not null) await DeliverAsync(parentId, e, CancellationToken.None);
    }

    private async Task TerminateChildrenAsync(InstanceRecord parent, string? output)
    {
        foreach (var created in parent.History.Where(e => e.ChildWorkflowInstanceCreated is not null))
        {
            var childId = created.ChildWorkflowInstanceCreated.InstanceId;
            var terminate = new HistoryEvent { EventId = -1, Timestamp = Now(), ExecutionTerminated = new ExecutionTerminatedEvent { Input = output, Recurse = true } };
            if (IsRemote(created.Router)) await Peers!.DeliverAsync(created.Router.TargetAppID, childId, terminate, _stopping.Token);
            else if (Find(childId) is { IsTerminal: false }) await DeliverAsync(childId, terminate, CancellationToken.None);
        }
    }

    // ---------- work for other apps' engines ----------

    /// <summary>Runs an activity that a workflow on <paramref name="replyTo"/> scheduled on this app; the result goes back there.</summary>
    public void RunActivityFor(string replyTo, ActivityRequest request) => DispatchActivity(request, replyTo);

    // ---------- turns, dispatch, timers ----------

    /// <summary>Runs a change under the instance's lock, saves it, wakes waiters and starts the next turn if one is due.</summary>
    private async Task WithInstanceAsync(InstanceRecord instance, Action<InstanceRecord> change, CancellationToken ct)
    {
        await instance.Lock.WaitAsync(ct);
        try
        {
            change(instance);
            StartTurnIfDue(instance);
            await SaveAsync(instance, ct);
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
        // A suspended instance keeps what arrives until it is resumed or terminated; the suspension itself is a turn.
        if (instance.IsSuspended && !instance.Inbox.Any(e => e.ExecutionSuspended is not null || e.ExecutionResumed is not null || e.ExecutionTerminated is not null))
            return;
        if (instance.ScheduledStartAt is { } startAt && startAt > DateTime.UtcNow && instance.History.Count == 0)
        {
            _ = WakeAtAsync(instance, startAt);
            return;
        }
        var started = new HistoryEvent { EventId = -1, Timestamp = Now(), WorkflowStarted = new WorkflowStartedEvent() };
        instance.Inbox.Insert(0, started);
        instance.TurnEventCount = instance.Inbox.Count;
        instance.TurnInFlight = true;
        instance.TurnNumber++;
        var request = new WorkflowRequest { InstanceId = instance.InstanceId, ExecutionId = instance.ExecutionId };
        request.PastEvents.AddRange(instance.History);
        request.NewEvents.AddRange(instance.Inbox);
        var key = OrchestratorKey(instance.InstanceId);
        _dispatch.Writer.TryWrite(new Dispatch(key, new WorkItem { WorkflowRequest = request, CompletionToken = key }, instance.TurnNumber));
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

    private void DispatchActivity(ActivityRequest request, string? replyTo)
    {
        var key = ActivityKey(request.WorkflowInstance.InstanceId, request.TaskId);
        if (replyTo is not null) key = $"{replyTo}|{key}";
        _dispatch.Writer.TryWrite(new Dispatch(key, new WorkItem { ActivityRequest = request, CompletionToken = key }, ReplyTo: replyTo));
    }

    private void ArmTimer(string instanceId, int timerId, Timestamp fireAt)
    {
        _ = Task.Run(async () =>
        {
            try
            {
                var wait = fireAt.ToDateTime() - DateTime.UtcNow;
                if (wait > TimeSpan.Zero) await Task.Delay(wait, _stopping.Token);
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
        await _store.ApplyAsync([new StateWrite(_keyPrefix + instance.InstanceId, instance.Serialize(), null, Concurrency.LastWrite, null)], atomic: false, ct);
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
            await _store.ApplyAsync([new StateWrite(IndexChunkKey(changed), ids, null, Concurrency.LastWrite, null)], atomic: false, ct);
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
                if (IsRemote(scheduled.Router)) _ = Peers?.RunActivityAsync(scheduled.Router.TargetAppID, request, AppId, _stopping.Token);
                else DispatchActivity(request, replyTo: null);
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
