using System.Security.Cryptography;
using System.Text;
using Google.Protobuf.WellKnownTypes;
using Microsoft.DurableTask.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace WorkflowSdk.Internal;

/// <summary>Raised by the executor when history and workflow code disagree.</summary>
internal sealed class NonDeterministicWorkflowException(string message) : Exception(message);

/// <summary>
/// The <see cref="WorkflowContext"/> of one orchestrator turn: applies history events in order, hands
/// results to the tasks workflow code awaits, and collects the actions the code issues.
/// </summary>
internal sealed class ReplayWorkflowContext : WorkflowContext
{
    private const string NonDeterministicErrorType = "NonDeterministicWorkflowException";

    // Namespace for deterministic (name-based, version 5) GUIDs.
    private static readonly Guid GuidNamespace = new("9e952958-5e33-4daf-827f-2fa12937b875");

    private readonly string instanceId;
    private readonly Func<string, IWorkflow?> resolve;
    private readonly ILoggerFactory loggerFactory;
    private readonly WorkflowSynchronizationContext syncContext = new();

    // Actions issued by the code and not (yet) matched by a history event: these are this turn's new actions.
    private readonly SortedDictionary<int, OrchestratorAction> pendingActions = new();

    // Tasks the code may await, by action id: activities, timers, child workflows.
    private readonly Dictionary<int, OpenTask> openTasks = new();

    // Waiters for external events, oldest first, by name (case-insensitive).
    private readonly Dictionary<string, LinkedList<TaskCompletionSource<string?>>> eventWaiters =
        new(StringComparer.OrdinalIgnoreCase);

    // EventRaised events nobody waited for yet, in arrival order.
    private readonly List<HistoryEvent> bufferedEvents = new();

    // Events that arrived while the workflow was suspended.
    private readonly List<HistoryEvent> suspendedEvents = new();

    private string name = string.Empty;
    private DateTime currentUtcDateTime;
    private bool isReplaying;
    private bool isSuspended;
    private int sequenceNumber;
    private int guidCounter;
    private Task<object?>? userTask;
    private OrchestratorAction? completion;
    private bool executorFailure;
    private bool closed;
    private string? customStatus;
    private (bool Requested, object? Input, bool PreserveEvents) continueAsNew;

    public ReplayWorkflowContext(string instanceId, Func<string, IWorkflow?> resolve, ILoggerFactory? loggerFactory)
    {
        this.instanceId = instanceId;
        this.resolve = resolve;
        this.loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
    }

    public override string Name => this.name;

    public override string InstanceId => this.instanceId;

    public override DateTime CurrentUtcDateTime => this.currentUtcDateTime;

    public override bool IsReplaying => this.isReplaying;

    // ---------------------------------------------------------------- executing a turn

    public OrchestratorResponse Run(OrchestratorRequest request)
    {
        SynchronizationContext? previous = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(this.syncContext);
        try
        {
            this.isReplaying = true;
            foreach (HistoryEvent e in request.PastEvents)
            {
                if (!this.Apply(e))
                {
                    break;
                }
            }

            this.isReplaying = false;
            if (!this.executorFailure)
            {
                foreach (HistoryEvent e in request.NewEvents)
                {
                    if (!this.Apply(e))
                    {
                        break;
                    }
                }
            }
        }
        finally
        {
            this.closed = true;
            this.syncContext.Close();
            SynchronizationContext.SetSynchronizationContext(previous);
        }

        return this.BuildResponse();
    }

    /// <summary>Applies one history event, then runs the workflow code it unblocked. False: stop processing.</summary>
    private bool Apply(HistoryEvent e)
    {
        try
        {
            this.ApplyCore(e);
            this.syncContext.Drain();
            this.CheckUserTask();
        }
        catch (NonDeterministicWorkflowException ex)
        {
            this.FailByExecutor(NonDeterministicErrorType, ex.Message);
        }

        return !this.executorFailure;
    }

    private void ApplyCore(HistoryEvent e)
    {
        if (this.isSuspended
            && e.EventTypeCase is not (HistoryEvent.EventTypeOneofCase.ExecutionResumed
                or HistoryEvent.EventTypeOneofCase.ExecutionTerminated
                or HistoryEvent.EventTypeOneofCase.OrchestratorStarted
                or HistoryEvent.EventTypeOneofCase.OrchestratorCompleted))
        {
            this.suspendedEvents.Add(e);
            return;
        }

        switch (e.EventTypeCase)
        {
            case HistoryEvent.EventTypeOneofCase.OrchestratorStarted:
                if (e.Timestamp is not null)
                {
                    this.currentUtcDateTime = e.Timestamp.ToDateTime();
                }

                break;
            case HistoryEvent.EventTypeOneofCase.ExecutionStarted:
                this.Start(e.ExecutionStarted);
                break;
            case HistoryEvent.EventTypeOneofCase.TaskScheduled:
                this.MatchAction(e.EventId, OrchestratorAction.OrchestratorActionTypeOneofCase.ScheduleTask, e.TaskScheduled.Name);
                break;
            case HistoryEvent.EventTypeOneofCase.TimerCreated:
                this.MatchAction(e.EventId, OrchestratorAction.OrchestratorActionTypeOneofCase.CreateTimer, null);
                break;
            case HistoryEvent.EventTypeOneofCase.SubOrchestrationInstanceCreated:
                this.MatchAction(e.EventId, OrchestratorAction.OrchestratorActionTypeOneofCase.CreateSubOrchestration, e.SubOrchestrationInstanceCreated.Name);
                break;
            case HistoryEvent.EventTypeOneofCase.EventSent:
                this.MatchAction(e.EventId, OrchestratorAction.OrchestratorActionTypeOneofCase.SendEvent, e.EventSent.Name);
                break;
            case HistoryEvent.EventTypeOneofCase.TaskCompleted:
                this.CompleteTask(e.TaskCompleted.TaskScheduledId, e.TaskCompleted.Result);
                break;
            case HistoryEvent.EventTypeOneofCase.TaskFailed:
                this.FailTask(e.TaskFailed.TaskScheduledId, e.TaskFailed.FailureDetails);
                break;
            case HistoryEvent.EventTypeOneofCase.SubOrchestrationInstanceCompleted:
                this.CompleteTask(e.SubOrchestrationInstanceCompleted.TaskScheduledId, e.SubOrchestrationInstanceCompleted.Result);
                break;
            case HistoryEvent.EventTypeOneofCase.SubOrchestrationInstanceFailed:
                this.FailTask(e.SubOrchestrationInstanceFailed.TaskScheduledId, e.SubOrchestrationInstanceFailed.FailureDetails);
                break;
            case HistoryEvent.EventTypeOneofCase.TimerFired:
                this.CompleteTask(e.TimerFired.TimerId, null);
                break;
            case HistoryEvent.EventTypeOneofCase.EventRaised:
                this.DeliverEvent(e);
                break;
            case HistoryEvent.EventTypeOneofCase.ExecutionSuspended:
                this.isSuspended = true;
                break;
            case HistoryEvent.EventTypeOneofCase.ExecutionResumed:
                this.isSuspended = false;
                var held = this.suspendedEvents.ToList();
                this.suspendedEvents.Clear();
                foreach (HistoryEvent h in held)
                {
                    this.ApplyCore(h);
                    this.syncContext.Drain();
                }

                break;
            case HistoryEvent.EventTypeOneofCase.ExecutionTerminated:
                this.pendingActions.Clear();
                this.completion = new OrchestratorAction
                {
                    Id = this.sequenceNumber++,
                    CompleteOrchestration = new CompleteOrchestrationAction
                    {
                        OrchestrationStatus = OrchestrationStatus.Terminated,
                        Result = e.ExecutionTerminated.Input,
                    },
                };
                this.executorFailure = true; // stop processing; send only the completion
                break;
            default:
                // OrchestratorCompleted, ExecutionCompleted, ContinueAsNew, GenericEvent, HistoryState: nothing to do.
                break;
        }
    }

    private void Start(ExecutionStartedEvent started)
    {
        this.name = started.Name;
        IWorkflow? workflow;
        try
        {
            workflow = this.resolve(started.Name);
        }
        catch (Exception ex)
        {
            this.userTask = Task.FromException<object?>(ex);
            return;
        }

        if (workflow is null)
        {
            this.FailByExecutor(
                "WorkflowNotRegisteredException",
                $"No workflow named '{started.Name}' is registered with this worker.");
            return;
        }

        try
        {
            object? input = WorkflowJson.Deserialize(started.Input, workflow.InputType);
            this.userTask = workflow.RunAsync(this, input);
        }
        catch (Exception ex)
        {
            this.userTask = Task.FromException<object?>(ex);
        }
    }

    private void MatchAction(int id, OrchestratorAction.OrchestratorActionTypeOneofCase kind, string? expectedName)
    {
        string expected = Describe(kind, expectedName);
        if (!this.pendingActions.Remove(id, out OrchestratorAction? action))
        {
            string actual = this.completion is not null ? "the workflow completed instead" : "the workflow code made no such call";
            throw new NonDeterministicWorkflowException(
                $"Non-deterministic workflow '{this.name}': history expects {expected} as action #{id}, but {actual}. " +
                "Workflow code must issue the same calls in the same order on every replay.");
        }

        string? actualName = ActionName(action);
        if (action.OrchestratorActionTypeCase != kind
            || (expectedName is not null && !string.Equals(expectedName, actualName, StringComparison.OrdinalIgnoreCase)))
        {
            throw new NonDeterministicWorkflowException(
                $"Non-deterministic workflow '{this.name}': history expects {expected} as action #{id}, " +
                $"but the workflow code called {Describe(action.OrchestratorActionTypeCase, actualName)}. " +
                "Workflow code must issue the same calls in the same order on every replay.");
        }
    }

    private static string? ActionName(OrchestratorAction action) => action.OrchestratorActionTypeCase switch
    {
        OrchestratorAction.OrchestratorActionTypeOneofCase.ScheduleTask => action.ScheduleTask.Name,
        OrchestratorAction.OrchestratorActionTypeOneofCase.CreateSubOrchestration => action.CreateSubOrchestration.Name,
        OrchestratorAction.OrchestratorActionTypeOneofCase.SendEvent => action.SendEvent.Name,
        _ => null,
    };

    private static string Describe(OrchestratorAction.OrchestratorActionTypeOneofCase kind, string? name) => kind switch
    {
        OrchestratorAction.OrchestratorActionTypeOneofCase.ScheduleTask => $"a call to activity '{name}'",
        OrchestratorAction.OrchestratorActionTypeOneofCase.CreateSubOrchestration => $"a call to child workflow '{name}'",
        OrchestratorAction.OrchestratorActionTypeOneofCase.CreateTimer => "a timer",
        OrchestratorAction.OrchestratorActionTypeOneofCase.SendEvent => $"sending event '{name}'",
        _ => kind.ToString(),
    };

    private void CompleteTask(int id, string? result)
    {
        if (this.openTasks.Remove(id, out OpenTask? task))
        {
            task.Source.TrySetResult(result);
        }
    }

    private void FailTask(int id, TaskFailureDetails? details)
    {
        if (this.openTasks.Remove(id, out OpenTask? task))
        {
            var failure = WorkflowTaskFailureDetails.FromProto(details);
            task.Source.TrySetException(new WorkflowTaskFailedException(
                $"{task.Description} (#{id}) failed: {failure.ErrorType}: {failure.ErrorMessage}", failure));
        }
    }

    private void DeliverEvent(HistoryEvent e)
    {
        if (this.eventWaiters.TryGetValue(e.EventRaised.Name, out var waiters) && waiters.First is { } oldest)
        {
            waiters.RemoveFirst();
            oldest.Value.TrySetResult(e.EventRaised.Input);
        }
        else
        {
            this.bufferedEvents.Add(e);
        }
    }

    private void CheckUserTask()
    {
        if (this.userTask is not { IsCompleted: true } task || this.completion is not null)
        {
            return;
        }

        var complete = new CompleteOrchestrationAction();
        try
        {
            object? result = task.GetAwaiter().GetResult();
            if (this.continueAsNew.Requested)
            {
                complete.OrchestrationStatus = OrchestrationStatus.ContinuedAsNew;
                complete.Result = WorkflowJson.Serialize(this.continueAsNew.Input);
                if (this.continueAsNew.PreserveEvents)
                {
                    complete.CarryoverEvents.AddRange(this.bufferedEvents);
                    complete.CarryoverEvents.AddRange(this.suspendedEvents);
                }
            }
            else
            {
                complete.OrchestrationStatus = OrchestrationStatus.Completed;
                complete.Result = WorkflowJson.Serialize(result);
            }
        }
        catch (Exception ex)
        {
            complete.OrchestrationStatus = OrchestrationStatus.Failed;
            complete.FailureDetails = WorkflowTaskFailureDetails.ToProto(ex);
        }

        this.completion = new OrchestratorAction { Id = this.sequenceNumber++, CompleteOrchestration = complete };
    }

    private void FailByExecutor(string errorType, string message)
    {
        this.executorFailure = true;
        this.completion = new OrchestratorAction
        {
            Id = this.sequenceNumber++,
            CompleteOrchestration = new CompleteOrchestrationAction
            {
                OrchestrationStatus = OrchestrationStatus.Failed,
                FailureDetails = new TaskFailureDetails { ErrorType = errorType, ErrorMessage = message, IsNonRetriable = true },
            },
        };
    }

    private OrchestratorResponse BuildResponse()
    {
        var response = new OrchestratorResponse { InstanceId = this.instanceId };
        if (this.customStatus is not null)
        {
            response.CustomStatus = this.customStatus;
        }

        if (!this.executorFailure)
        {
            response.Actions.AddRange(this.pendingActions.Values);
        }

        if (this.completion is not null)
        {
            response.Actions.Add(this.completion);
        }

        return response;
    }

    // ---------------------------------------------------------------- the API workflow code calls

    private void EnsureActive()
    {
        if (this.closed)
        {
            throw new InvalidOperationException(
                "The workflow context was used after its turn ended. Workflow code must only await tasks " +
                "created by its WorkflowContext (activities, timers, events, child workflows), never Task.Delay, I/O or Task.Run.");
        }
    }

    private int AddAction(OrchestratorAction action)
    {
        int id = this.sequenceNumber++;
        action.Id = id;
        if (this.completion is null)
        {
            this.pendingActions.Add(id, action);
        }

        return id;
    }

    private Task<string?> Open(int id, string description)
    {
        var source = new TaskCompletionSource<string?>();
        this.openTasks[id] = new OpenTask(source, description);
        return source.Task;
    }

    private static async Task<T> As<T>(Task<string?> raw) => WorkflowJson.Deserialize<T>(await raw);

    public override Task<T> CallActivityAsync<T>(string name, object? input = null, WorkflowTaskOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        this.EnsureActive();
        return options?.RetryPolicy is { } policy
            ? this.WithRetry(policy, () => this.CallActivityOnce<T>(name, input))
            : this.CallActivityOnce<T>(name, input);
    }

    private Task<T> CallActivityOnce<T>(string name, object? input)
    {
        int id = this.AddAction(new OrchestratorAction
        {
            ScheduleTask = new ScheduleTaskAction { Name = name, Input = WorkflowJson.Serialize(input) },
        });
        return As<T>(this.Open(id, $"Activity '{name}'"));
    }

    public override Task<TResult> CallChildWorkflowAsync<TResult>(string workflowName, object? input = null, ChildWorkflowTaskOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(workflowName);
        this.EnsureActive();
        return options?.RetryPolicy is { } policy
            ? this.WithRetry(policy, () => this.CallChildWorkflowOnce<TResult>(workflowName, input, options.InstanceId))
            : this.CallChildWorkflowOnce<TResult>(workflowName, input, options?.InstanceId);
    }

    private Task<T> CallChildWorkflowOnce<T>(string workflowName, object? input, string? childInstanceId)
    {
        childInstanceId ??= this.NewGuid().ToString("N");
        int id = this.AddAction(new OrchestratorAction
        {
            CreateSubOrchestration = new CreateSubOrchestrationAction
            {
                InstanceId = childInstanceId,
                Name = workflowName,
                Input = WorkflowJson.Serialize(input),
            },
        });
        return As<T>(this.Open(id, $"Child workflow '{workflowName}' ({childInstanceId})"));
    }

    private async Task<T> WithRetry<T>(WorkflowRetryPolicy policy, Func<Task<T>> attempt)
    {
        DateTime firstAttempt = this.CurrentUtcDateTime;
        for (int failedAttempts = 0; ; )
        {
            try
            {
                return await attempt();
            }
            catch (WorkflowTaskFailedException) when (++failedAttempts < policy.MaxNumberOfAttempts)
            {
                TimeSpan delay = policy.DelayAfter(failedAttempts);
                if (policy.RetryTimeout != Timeout.InfiniteTimeSpan
                    && this.CurrentUtcDateTime + delay > firstAttempt + policy.RetryTimeout)
                {
                    throw;
                }

                await this.CreateTimer(delay);
            }
        }
    }

    public override Task CreateTimer(DateTime fireAt, CancellationToken cancellationToken = default)
    {
        this.EnsureActive();
        DateTime utc = fireAt.Kind switch
        {
            DateTimeKind.Utc => fireAt,
            DateTimeKind.Local => fireAt.ToUniversalTime(),
            _ => DateTime.SpecifyKind(fireAt, DateTimeKind.Utc),
        };
        int id = this.AddAction(new OrchestratorAction
        {
            CreateTimer = new CreateTimerAction { FireAt = Timestamp.FromDateTime(utc) },
        });
        Task<string?> timer = this.Open(id, "Timer");
        if (cancellationToken.CanBeCanceled)
        {
            var source = this.openTasks[id].Source;
            cancellationToken.Register(() => source.TrySetCanceled(cancellationToken));
        }

        return timer;
    }

    public override Task<T> WaitForExternalEventAsync<T>(string eventName, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(eventName);
        this.EnsureActive();
        int buffered = this.bufferedEvents.FindIndex(
            e => string.Equals(e.EventRaised.Name, eventName, StringComparison.OrdinalIgnoreCase));
        if (buffered >= 0)
        {
            HistoryEvent e = this.bufferedEvents[buffered];
            this.bufferedEvents.RemoveAt(buffered);
            return Task.FromResult(WorkflowJson.Deserialize<T>(e.EventRaised.Input));
        }

        if (!this.eventWaiters.TryGetValue(eventName, out var waiters))
        {
            waiters = new LinkedList<TaskCompletionSource<string?>>();
            this.eventWaiters.Add(eventName, waiters);
        }

        var source = new TaskCompletionSource<string?>();
        LinkedListNode<TaskCompletionSource<string?>> node = waiters.AddLast(source);
        if (cancellationToken.CanBeCanceled)
        {
            cancellationToken.Register(() =>
            {
                // A cancelled waiter must not swallow a later event.
                if (node.List is not null)
                {
                    node.List.Remove(node);
                }

                source.TrySetCanceled(cancellationToken);
            });
        }

        return As<T>(source.Task);
    }

    public override Task<T> WaitForExternalEventAsync<T>(string eventName, TimeSpan timeout)
    {
        ArgumentException.ThrowIfNullOrEmpty(eventName);
        this.EnsureActive();
        return timeout == Timeout.InfiniteTimeSpan
            ? this.WaitForExternalEventAsync<T>(eventName)
            : this.WaitWithTimeout<T>(eventName, timeout);
    }

    private async Task<T> WaitWithTimeout<T>(string eventName, TimeSpan timeout)
    {
        // A durable timer raced against the event (the timer is issued first, as durabletask does).
        using var timerCancellation = new CancellationTokenSource();
        Task timer = this.CreateTimer(timeout, timerCancellation.Token);
        using var eventCancellation = new CancellationTokenSource();
        Task<T> externalEvent = this.WaitForExternalEventAsync<T>(eventName, eventCancellation.Token);

        Task winner = await Task.WhenAny(externalEvent, timer);
        if (winner == externalEvent)
        {
            timerCancellation.Cancel();
            return await externalEvent;
        }

        eventCancellation.Cancel();
        throw new TaskCanceledException($"Timed out after {timeout} waiting for external event '{eventName}'.");
    }

    public override void SendEvent(string instanceId, string eventName, object? payload)
    {
        ArgumentException.ThrowIfNullOrEmpty(instanceId);
        ArgumentException.ThrowIfNullOrEmpty(eventName);
        this.EnsureActive();
        this.AddAction(new OrchestratorAction
        {
            SendEvent = new SendEventAction
            {
                Instance = new OrchestrationInstance { InstanceId = instanceId },
                Name = eventName,
                Data = WorkflowJson.Serialize(payload),
            },
        });
    }

    public override void SetCustomStatus(object? customStatus)
    {
        this.EnsureActive();
        this.customStatus = WorkflowJson.Serialize(customStatus);
    }

    public override void ContinueAsNew(object? newInput = null, bool preserveUnprocessedEvents = true)
    {
        this.EnsureActive();
        this.continueAsNew = (true, newInput, preserveUnprocessedEvents);
    }

    public override Guid NewGuid()
    {
        this.EnsureActive();
        string nameForGuid = $"{this.instanceId}_{this.currentUtcDateTime:o}_{this.guidCounter++}";
        return CreateNameBasedGuid(GuidNamespace, nameForGuid);
    }

    /// <summary>RFC 4122 §4.3 version-5 (SHA-1) UUID.</summary>
    internal static Guid CreateNameBasedGuid(Guid namespaceId, string name)
    {
        byte[] ns = namespaceId.ToByteArray(bigEndian: true);
        byte[] nameBytes = Encoding.UTF8.GetBytes(name);
        byte[] data = new byte[ns.Length + nameBytes.Length];
        ns.CopyTo(data, 0);
        nameBytes.CopyTo(data, ns.Length);
#pragma warning disable CA5350 // SHA-1 is what RFC 4122 prescribes for v5 UUIDs; not a security use.
        byte[] hash = SHA1.HashData(data);
#pragma warning restore CA5350
        byte[] guid = hash[..16];
        guid[6] = (byte)((guid[6] & 0x0F) | 0x50);
        guid[8] = (byte)((guid[8] & 0x3F) | 0x80);
        return new Guid(guid, bigEndian: true);
    }

    public override ILogger CreateReplaySafeLogger(string categoryName) =>
        new ReplaySafeLogger(this, this.loggerFactory.CreateLogger(categoryName));

    public override ILogger CreateReplaySafeLogger(ILogger logger) => new ReplaySafeLogger(this, logger);

    private sealed record OpenTask(TaskCompletionSource<string?> Source, string Description);

    private sealed class ReplaySafeLogger(WorkflowContext context, ILogger inner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => inner.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => !context.IsReplaying && inner.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!context.IsReplaying)
            {
                inner.Log(logLevel, eventId, state, exception, formatter);
            }
        }
    }
}
