using System.Collections.Concurrent;
using System.Text.Json;
using System.Threading.Channels;
using DevSidecar.Hosting;
using DevSidecar.State;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.DurableTask.Protobuf;
using Microsoft.Extensions.Logging;

namespace DevSidecar.Workflow;

/// <summary>
/// The engine side of Dapr's workflow protocol, as daprd's embedded durabletask-go does it: instances keep a history;
/// each orchestrator turn sends the past events plus the new ones (starting with OrchestratorStarted), and the
/// worker's actions become history events whose eventId is the action id (TaskScheduled, TimerCreated, …).
/// Activities, timers and child workflows feed completions back into the instance's inbox.
/// Instances are saved in the app's state store after every change and resumed when the sidecar starts again.
/// </summary>
public sealed class WorkflowEngine : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, WorkflowInstance> _instances = new(StringComparer.Ordinal);
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

    /// <summary>A work item on its way to a worker; Key identifies it among the outstanding ones.</summary>
    private sealed record Dispatch(string Key, WorkItem Item, int Turn = 0);

    public WorkflowEngine(string appId, IStateStore? store, ILogger logger)
    {
        _store = store;
        _keyPrefix = $"{appId}||dapr.workflow||";
        _logger = logger;
    }

    public int ConnectedWorkers => Volatile.Read(ref _connectedWorkers);

    // ---------- client operations ----------

    public async Task<string> StartAsync(string name, string? instanceId, string? input, DateTime? startAt, CancellationToken ct)
    {
        instanceId = string.IsNullOrEmpty(instanceId) ? Guid.NewGuid().ToString("N") : instanceId;
        var instance = new WorkflowInstance { InstanceId = instanceId, Name = name, Input = input, ScheduledStartAt = startAt };
        instance.Inbox.Add(new HistoryEvent
        {
            EventId = -1,
            Timestamp = Now(),
            ExecutionStarted = new ExecutionStartedEvent
            {
                Name = name,
                Input = input,
                OrchestrationInstance = new OrchestrationInstance { InstanceId = instanceId, ExecutionId = instance.ExecutionId },
                ScheduledStartTimestamp = startAt is { } s ? Timestamp.FromDateTime(DateTime.SpecifyKind(s, DateTimeKind.Utc)) : null,
            },
        });
        await AddAsync(instance, ct);
        _logger.LogInformation("workflow {Name} instance {InstanceId} scheduled", name, instanceId);
        return instanceId;
    }

    public WorkflowInstance? Find(string instanceId) => _instances.GetValueOrDefault(instanceId);

    public WorkflowInstance Get(string instanceId) =>
        Find(instanceId) ?? throw new RpcException(new Status(StatusCode.NotFound, $"no such instance exists: {instanceId}"));

    /// <summary>Waits until the instance satisfies <paramref name="done"/>, or the caller gives up.</summary>
    public async Task<WorkflowInstance> WaitAsync(string instanceId, Func<WorkflowInstance, bool> done, CancellationToken ct)
    {
        var instance = Get(instanceId);
        while (true)
        {
            var changed = instance.Changed.Task;
            if (done(instance)) return instance;
            await changed.WaitAsync(ct);
        }
    }

    public Task RaiseEventAsync(string instanceId, string name, string? input, CancellationToken ct) =>
        WithInstanceAsync(Get(instanceId), instance =>
        {
            if (instance.IsTerminal) return;
            instance.Inbox.Add(new HistoryEvent { EventId = -1, Timestamp = Now(), EventRaised = new EventRaisedEvent { Name = name, Input = input } });
        }, ct);

    /// <summary>Terminates the instance and, as daprd always does, its children.</summary>
    public async Task TerminateAsync(string instanceId, string? output, CancellationToken ct)
    {
        var instance = Get(instanceId);
        await WithInstanceAsync(instance, i =>
        {
            if (i.IsTerminal) return;
            i.History.Add(new HistoryEvent { EventId = -1, Timestamp = Now(), ExecutionTerminated = new ExecutionTerminatedEvent { Input = output, Recurse = true } });
            Finish(i, OrchestrationStatus.Terminated, output, null);
        }, ct);
        foreach (var child in ChildrenOf(instanceId)) await TerminateAsync(child.InstanceId, output, ct);
    }

    public Task SuspendAsync(string instanceId, CancellationToken ct) => WithInstanceAsync(Get(instanceId), i =>
    {
        if (!i.IsTerminal) i.Status = OrchestrationStatus.Suspended;
    }, ct);

    public Task ResumeAsync(string instanceId, CancellationToken ct) => WithInstanceAsync(Get(instanceId), i =>
    {
        if (i.Status == OrchestrationStatus.Suspended) i.Status = i.History.Count == 0 ? OrchestrationStatus.Pending : OrchestrationStatus.Running;
    }, ct);

    /// <summary>Deletes a finished instance and its children; false if it is still running.</summary>
    public async Task<int> PurgeAsync(string instanceId, CancellationToken ct)
    {
        var instance = Get(instanceId);
        if (!instance.IsTerminal) return 0;
        var count = 0;
        foreach (var child in ChildrenOf(instanceId)) count += await PurgeAsync(child.InstanceId, ct);
        _instances.TryRemove(instanceId, out _);
        if (_store is not null)
        {
            await _store.ApplyAsync([new StateWrite(_keyPrefix + instanceId, null, null, Concurrency.LastWrite, null)], atomic: false, ct);
            await UpdateIndexAsync(chunks => chunks.FindIndex(chunk => chunk.Remove(instanceId)), ct);
        }
        return count + 1;
    }

    private IEnumerable<WorkflowInstance> ChildrenOf(string instanceId) => _instances.Values.Where(i => i.ParentInstanceId == instanceId);

    // ---------- worker side ----------

    /// <summary>Streams work items to one connected worker until it disconnects; what it left unfinished goes to another.</summary>
    public async Task StreamWorkItemsAsync(IServerStreamWriter<WorkItem> stream, CancellationToken ct)
    {
        Interlocked.Increment(ref _connectedWorkers);
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
            // Work sent to this worker and not completed is handed to the next one.
            foreach (var dispatch in mine.Where(d => _outstanding.TryRemove(d.Key, out _)))
            {
                _logger.LogInformation("worker disconnected; redispatching {Key}", dispatch.Key);
                _dispatch.Writer.TryWrite(dispatch);
            }
        }
    }

    public async Task CompleteActivityAsync(ActivityResponse response, CancellationToken ct)
    {
        _outstanding.TryRemove(ActivityKey(response.InstanceId, response.TaskId), out _);
        if (Find(response.InstanceId) is not { } instance) return;
        await WithInstanceAsync(instance, i =>
        {
            if (i.IsTerminal || IsTaskSettled(i, response.TaskId)) return; // a duplicate completion changes nothing
            i.Inbox.Add(response.FailureDetails is { } failure
                ? new HistoryEvent { EventId = -1, Timestamp = Now(), TaskFailed = new TaskFailedEvent { TaskScheduledId = response.TaskId, FailureDetails = failure } }
                : new HistoryEvent { EventId = -1, Timestamp = Now(), TaskCompleted = new TaskCompletedEvent { TaskScheduledId = response.TaskId, Result = response.Result } });
        }, ct);
    }

    public async Task CompleteOrchestratorAsync(OrchestratorResponse response, CancellationToken ct)
    {
        _outstanding.TryRemove(OrchestratorKey(response.InstanceId), out _);
        if (Find(response.InstanceId) is not { } instance) return;
        var followUps = new List<Func<Task>>();
        await WithInstanceAsync(instance, i =>
        {
            if (!i.TurnInFlight) return; // stale: the turn was already completed by another worker
            i.TurnInFlight = false;
            // The turn's events (OrchestratorStarted first) become history; what arrived meanwhile waits for the next turn.
            i.History.AddRange(i.Inbox.Take(i.TurnEventCount));
            i.Inbox.RemoveRange(0, i.TurnEventCount);
            if (i.IsTerminal) return;
            if (i.Status == OrchestrationStatus.Pending) i.Status = OrchestrationStatus.Running;
            if (response.CustomStatus is not null) i.CustomStatus = response.CustomStatus;
            foreach (var action in response.Actions) followUps.AddRange(Apply(i, action));
        }, ct);
        foreach (var followUp in followUps) await followUp();
    }

    /// <summary>Turns one action into history, and returns what has to happen outside the instance's lock.</summary>
    private IEnumerable<Func<Task>> Apply(WorkflowInstance instance, OrchestratorAction action)
    {
        var at = Now();
        switch (action.OrchestratorActionTypeCase)
        {
            case OrchestratorAction.OrchestratorActionTypeOneofCase.ScheduleTask:
                var task = action.ScheduleTask;
                instance.History.Add(new HistoryEvent { EventId = action.Id, Timestamp = at, TaskScheduled = new TaskScheduledEvent { Name = task.Name, Version = task.Version, Input = task.Input } });
                DispatchActivity(instance, action.Id, task.Name, task.Version, task.Input);
                break;
            case OrchestratorAction.OrchestratorActionTypeOneofCase.CreateTimer:
                instance.History.Add(new HistoryEvent { EventId = action.Id, Timestamp = at, TimerCreated = new TimerCreatedEvent { FireAt = action.CreateTimer.FireAt } });
                ArmTimer(instance.InstanceId, action.Id, action.CreateTimer.FireAt);
                break;
            case OrchestratorAction.OrchestratorActionTypeOneofCase.CreateSubOrchestration:
                var child = action.CreateSubOrchestration;
                var childId = string.IsNullOrEmpty(child.InstanceId) ? $"{instance.InstanceId}-child-{action.Id}" : child.InstanceId;
                instance.History.Add(new HistoryEvent
                {
                    EventId = action.Id, Timestamp = at,
                    SubOrchestrationInstanceCreated = new SubOrchestrationInstanceCreatedEvent { InstanceId = childId, Name = child.Name, Version = child.Version, Input = child.Input },
                });
                var parent = instance;
                var taskId = action.Id;
                yield return () => StartChildAsync(parent, taskId, childId, child.Name, child.Input);
                break;
            case OrchestratorAction.OrchestratorActionTypeOneofCase.SendEvent:
                var send = action.SendEvent;
                instance.History.Add(new HistoryEvent { EventId = action.Id, Timestamp = at, EventSent = new EventSentEvent { InstanceId = send.Instance.InstanceId, Name = send.Name, Input = send.Data } });
                yield return () => Find(send.Instance.InstanceId) is null ? Task.CompletedTask : RaiseEventAsync(send.Instance.InstanceId, send.Name, send.Data, CancellationToken.None);
                break;
            case OrchestratorAction.OrchestratorActionTypeOneofCase.TerminateOrchestration:
                var terminate = action.TerminateOrchestration;
                yield return () => Find(terminate.InstanceId) is null ? Task.CompletedTask : TerminateAsync(terminate.InstanceId, terminate.Reason, CancellationToken.None);
                break;
            case OrchestratorAction.OrchestratorActionTypeOneofCase.CompleteOrchestration:
                var complete = action.CompleteOrchestration;
                if (complete.OrchestrationStatus == OrchestrationStatus.ContinuedAsNew)
                {
                    ContinueAsNew(instance, complete);
                    break;
                }
                instance.History.Add(new HistoryEvent
                {
                    EventId = action.Id, Timestamp = at,
                    ExecutionCompleted = new ExecutionCompletedEvent { OrchestrationStatus = complete.OrchestrationStatus, Result = complete.Result, FailureDetails = complete.FailureDetails },
                });
                Finish(instance, complete.OrchestrationStatus, complete.Result, complete.FailureDetails);
                if (instance.ParentInstanceId is { } parentId)
                {
                    var done = instance;
                    yield return () => NotifyParentAsync(parentId, done);
                }
                break;
        }
    }

    private static void Finish(WorkflowInstance instance, OrchestrationStatus status, string? output, TaskFailureDetails? failure)
    {
        instance.Status = status;
        instance.Output = output;
        instance.Failure = failure;
        instance.Inbox.Clear();
    }

    private static void ContinueAsNew(WorkflowInstance instance, CompleteOrchestrationAction complete)
    {
        instance.ExecutionId = Guid.NewGuid().ToString("N");
        instance.Input = complete.Result;
        var carried = complete.CarryoverEvents.ToList();
        var pending = instance.Inbox.ToList();
        instance.History.Clear();
        instance.Inbox.Clear();
        instance.Inbox.Add(new HistoryEvent
        {
            EventId = -1, Timestamp = Now(),
            ExecutionStarted = new ExecutionStartedEvent
            {
                Name = instance.Name, Input = complete.Result,
                OrchestrationInstance = new OrchestrationInstance { InstanceId = instance.InstanceId, ExecutionId = instance.ExecutionId },
            },
        });
        instance.Inbox.AddRange(carried);
        instance.Inbox.AddRange(pending);
        instance.Status = OrchestrationStatus.Running;
    }

    private async Task StartChildAsync(WorkflowInstance parent, int taskId, string childId, string name, string? input)
    {
        if (Find(childId) is not null) return; // created before a crash and replayed: already there
        var child = new WorkflowInstance { InstanceId = childId, Name = name, Input = input, ParentInstanceId = parent.InstanceId, ParentTaskId = taskId };
        child.Inbox.Add(new HistoryEvent
        {
            EventId = -1, Timestamp = Now(),
            ExecutionStarted = new ExecutionStartedEvent
            {
                Name = name, Input = input,
                OrchestrationInstance = new OrchestrationInstance { InstanceId = childId, ExecutionId = child.ExecutionId },
                ParentInstance = new ParentInstanceInfo
                {
                    TaskScheduledId = taskId, Name = parent.Name,
                    OrchestrationInstance = new OrchestrationInstance { InstanceId = parent.InstanceId, ExecutionId = parent.ExecutionId },
                },
            },
        });
        await AddAsync(child, CancellationToken.None);
    }

    private async Task NotifyParentAsync(string parentId, WorkflowInstance child)
    {
        if (Find(parentId) is not { } parent) return;
        await WithInstanceAsync(parent, p =>
        {
            if (p.IsTerminal) return;
            p.Inbox.Add(child.Status == OrchestrationStatus.Completed
                ? new HistoryEvent { EventId = -1, Timestamp = Now(), SubOrchestrationInstanceCompleted = new SubOrchestrationInstanceCompletedEvent { TaskScheduledId = child.ParentTaskId, Result = child.Output } }
                : new HistoryEvent
                {
                    EventId = -1, Timestamp = Now(),
                    SubOrchestrationInstanceFailed = new SubOrchestrationInstanceFailedEvent
                    {
                        TaskScheduledId = child.ParentTaskId,
                        FailureDetails = child.Failure ?? new TaskFailureDetails { ErrorType = "WorkflowTerminated", ErrorMessage = $"child workflow {child.InstanceId} ended {child.Status}" },
                    },
                });
        }, CancellationToken.None);
    }

    // ---------- turns, dispatch, timers ----------

    /// <summary>Runs a change under the instance's lock, saves it, wakes waiters and starts the next turn if one is due.</summary>
    private async Task WithInstanceAsync(WorkflowInstance instance, Action<WorkflowInstance> change, CancellationToken ct)
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

    private void StartTurnIfDue(WorkflowInstance instance)
    {
        if (instance.TurnInFlight || instance.Inbox.Count == 0 || instance.IsTerminal || instance.Status == OrchestrationStatus.Suspended) return;
        if (instance.ScheduledStartAt is { } startAt && startAt > DateTime.UtcNow && instance.History.Count == 0)
        {
            _ = WakeAtAsync(instance, startAt);
            return;
        }
        var started = new HistoryEvent { EventId = -1, Timestamp = Now(), OrchestratorStarted = new OrchestratorStartedEvent() };
        instance.Inbox.Insert(0, started);
        instance.TurnEventCount = instance.Inbox.Count;
        instance.TurnInFlight = true;
        instance.TurnNumber++;
        var request = new OrchestratorRequest { InstanceId = instance.InstanceId, ExecutionId = instance.ExecutionId };
        request.PastEvents.AddRange(instance.History);
        request.NewEvents.AddRange(instance.Inbox);
        _dispatch.Writer.TryWrite(new Dispatch(OrchestratorKey(instance.InstanceId), new WorkItem { OrchestratorRequest = request }, instance.TurnNumber));
    }

    private async Task WakeAtAsync(WorkflowInstance instance, DateTime at)
    {
        try
        {
            await Task.Delay(at - DateTime.UtcNow, _stopping.Token);
            await WithInstanceAsync(instance, _ => { }, _stopping.Token);
        }
        catch (OperationCanceledException) { }
    }

    private void DispatchActivity(WorkflowInstance instance, int taskId, string name, string? version, string? input)
    {
        var request = new ActivityRequest
        {
            Name = name, Version = version, Input = input, TaskId = taskId,
            OrchestrationInstance = new OrchestrationInstance { InstanceId = instance.InstanceId, ExecutionId = instance.ExecutionId },
        };
        _dispatch.Writer.TryWrite(new Dispatch(ActivityKey(instance.InstanceId, taskId), new WorkItem { ActivityRequest = request }));
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
        if (item.RequestCase == WorkItem.RequestOneofCase.OrchestratorRequest)
            return Find(item.OrchestratorRequest.InstanceId) is { TurnInFlight: true, IsTerminal: false } i0 && i0.TurnNumber == dispatch.Turn;
        var activity = item.ActivityRequest;
        return Find(activity.OrchestrationInstance.InstanceId) is { IsTerminal: false } i && !IsTaskSettled(i, activity.TaskId);
    }

    private static bool IsTaskSettled(WorkflowInstance i, int taskId) =>
        i.History.Concat(i.Inbox).Any(e => e.TaskCompleted?.TaskScheduledId == taskId || e.TaskFailed?.TaskScheduledId == taskId);

    private static bool IsTimerFired(WorkflowInstance i, int timerId) =>
        i.History.Concat(i.Inbox).Any(e => e.TimerFired?.TimerId == timerId);

    private static string OrchestratorKey(string instanceId) => $"o|{instanceId}";
    private static string ActivityKey(string instanceId, int taskId) => $"a|{instanceId}|{taskId}";
    private static Timestamp Now() => Timestamp.FromDateTime(DateTime.UtcNow);

    // ---------- persistence ----------

    private async Task AddAsync(WorkflowInstance instance, CancellationToken ct)
    {
        if (!_instances.TryAdd(instance.InstanceId, instance))
            throw new RpcException(new Status(StatusCode.AlreadyExists, $"an instance with ID '{instance.InstanceId}' already exists"));
        await UpdateIndexAsync(chunks =>
        {
            if (chunks.Count == 0 || chunks[^1].Count >= IndexChunkSize) chunks.Add([]);
            chunks[^1].Add(instance.InstanceId);
            return chunks.Count - 1;
        }, ct);
        await WithInstanceAsync(instance, _ => { }, ct);
    }

    private async Task SaveAsync(WorkflowInstance instance, CancellationToken ct)
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
            var instance = WorkflowInstance.Deserialize(saved.Value);
            _instances[id] = instance;
            if (instance.IsTerminal) continue;
            resumed++;
            // A turn that was in flight when the sidecar stopped is simply run again.
            if (instance.Inbox.FirstOrDefault()?.OrchestratorStarted is not null) instance.Inbox.RemoveAt(0);
            foreach (var scheduled in instance.History.Where(e => e.TaskScheduled is not null && !IsTaskSettled(instance, e.EventId)))
                DispatchActivity(instance, scheduled.EventId, scheduled.TaskScheduled.Name, scheduled.TaskScheduled.Version, scheduled.TaskScheduled.Input);
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
