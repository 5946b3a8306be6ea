using Google.Protobuf.WellKnownTypes;
using Microsoft.DurableTask.Protobuf;
using Microsoft.Extensions.Logging;
using WorkflowSdk;

namespace WorkflowSdk.Tests;

/// <summary>
/// Plays the engine's part of the protocol, per the contract's history-building rules: each turn's new events
/// start with OrchestratorStarted(now); after the turn, new events join the past and every action the
/// workflow issued becomes a history event whose eventId is the action id.
/// </summary>
internal sealed class FakeEngine
{
    private readonly Func<string, IWorkflow?> resolve;
    private readonly ILoggerFactory? loggerFactory;

    public FakeEngine(Func<string, IWorkflow?> resolve, ILoggerFactory? loggerFactory = null)
    {
        this.resolve = resolve;
        this.loggerFactory = loggerFactory;
    }

    public FakeEngine(string name, IWorkflow workflow, ILoggerFactory? loggerFactory = null)
        : this(n => string.Equals(n, name, StringComparison.OrdinalIgnoreCase) ? workflow : null, loggerFactory)
    {
    }

    public string InstanceId { get; init; } = "wf-1";

    public DateTime Now { get; set; } = new(2025, 1, 1, 12, 0, 0, DateTimeKind.Utc);

    public List<HistoryEvent> Past { get; } = new();

    public OrchestratorRequest? LastRequest { get; private set; }

    /// <summary>Runs one turn; <paramref name="newEvents"/> follow the turn's OrchestratorStarted.</summary>
    public OrchestratorResponse Turn(params HistoryEvent[] newEvents)
    {
        var request = new OrchestratorRequest { InstanceId = this.InstanceId };
        request.PastEvents.AddRange(this.Past.Select(e => e.Clone()));
        request.NewEvents.Add(Events.OrchestratorStarted(this.Now));
        request.NewEvents.AddRange(newEvents);
        this.LastRequest = request;

        OrchestratorResponse response = OrchestrationExecutor.Execute(request, this.resolve, this.loggerFactory);

        this.Past.AddRange(request.NewEvents);
        foreach (OrchestratorAction action in response.Actions)
        {
            HistoryEvent? e = action.OrchestratorActionTypeCase switch
            {
                OrchestratorAction.OrchestratorActionTypeOneofCase.ScheduleTask => new HistoryEvent
                {
                    TaskScheduled = new TaskScheduledEvent { Name = action.ScheduleTask.Name, Input = action.ScheduleTask.Input },
                },
                OrchestratorAction.OrchestratorActionTypeOneofCase.CreateTimer => new HistoryEvent
                {
                    TimerCreated = new TimerCreatedEvent { FireAt = action.CreateTimer.FireAt },
                },
                OrchestratorAction.OrchestratorActionTypeOneofCase.CreateSubOrchestration => new HistoryEvent
                {
                    SubOrchestrationInstanceCreated = new SubOrchestrationInstanceCreatedEvent
                    {
                        InstanceId = action.CreateSubOrchestration.InstanceId,
                        Name = action.CreateSubOrchestration.Name,
                        Input = action.CreateSubOrchestration.Input,
                    },
                },
                OrchestratorAction.OrchestratorActionTypeOneofCase.SendEvent => new HistoryEvent
                {
                    EventSent = new EventSentEvent
                    {
                        InstanceId = action.SendEvent.Instance.InstanceId,
                        Name = action.SendEvent.Name,
                        Input = action.SendEvent.Data,
                    },
                },
                _ => null,
            };
            if (e is not null)
            {
                e.EventId = action.Id;
                e.Timestamp = Timestamp.FromDateTime(this.Now);
                this.Past.Add(e);
            }
        }

        this.Past.Add(new HistoryEvent { EventId = -1, Timestamp = Timestamp.FromDateTime(this.Now), OrchestratorCompleted = new OrchestratorCompletedEvent() });
        return response;
    }
}

/// <summary>History events as the engine builds them (eventId −1 for everything that is not an action's echo).</summary>
internal static class Events
{
    private static HistoryEvent New(Action<HistoryEvent> set)
    {
        var e = new HistoryEvent { EventId = -1, Timestamp = Timestamp.FromDateTime(new DateTime(2025, 1, 1, 12, 0, 0, DateTimeKind.Utc)) };
        set(e);
        return e;
    }

    public static HistoryEvent OrchestratorStarted(DateTime now) => New(e =>
    {
        e.Timestamp = Timestamp.FromDateTime(now);
        e.OrchestratorStarted = new OrchestratorStartedEvent();
    });

    public static HistoryEvent Started(string name, string? inputJson = null, string instanceId = "wf-1") => New(e =>
        e.ExecutionStarted = new ExecutionStartedEvent
        {
            Name = name,
            Input = inputJson,
            OrchestrationInstance = new OrchestrationInstance { InstanceId = instanceId, ExecutionId = "exec-1" },
        });

    public static HistoryEvent TaskCompleted(int id, string? resultJson) => New(e =>
        e.TaskCompleted = new TaskCompletedEvent { TaskScheduledId = id, Result = resultJson });

    public static HistoryEvent TaskFailed(int id, string errorType = "System.InvalidOperationException", string message = "boom") => New(e =>
        e.TaskFailed = new TaskFailedEvent
        {
            TaskScheduledId = id,
            FailureDetails = new TaskFailureDetails { ErrorType = errorType, ErrorMessage = message, StackTrace = "at Somewhere()" },
        });

    public static HistoryEvent TimerFired(int id, DateTime fireAt) => New(e =>
        e.TimerFired = new TimerFiredEvent { TimerId = id, FireAt = Timestamp.FromDateTime(fireAt) });

    public static HistoryEvent Raised(string name, string? inputJson) => New(e =>
        e.EventRaised = new EventRaisedEvent { Name = name, Input = inputJson });

    public static HistoryEvent ChildCompleted(int id, string? resultJson) => New(e =>
        e.SubOrchestrationInstanceCompleted = new SubOrchestrationInstanceCompletedEvent { TaskScheduledId = id, Result = resultJson });

    public static HistoryEvent ChildFailed(int id, string message) => New(e =>
        e.SubOrchestrationInstanceFailed = new SubOrchestrationInstanceFailedEvent
        {
            TaskScheduledId = id,
            FailureDetails = new TaskFailureDetails { ErrorType = "System.Exception", ErrorMessage = message },
        });

    public static HistoryEvent Terminated(string? outputJson) => New(e =>
        e.ExecutionTerminated = new ExecutionTerminatedEvent { Input = outputJson });

    public static HistoryEvent Suspended() => New(e => e.ExecutionSuspended = new ExecutionSuspendedEvent());

    public static HistoryEvent Resumed() => New(e => e.ExecutionResumed = new ExecutionResumedEvent());
}

/// <summary>A workflow from a lambda.</summary>
internal sealed class Wf<TIn, TOut>(Func<WorkflowContext, TIn, Task<TOut>> run) : Workflow<TIn, TOut>
{
    public override Task<TOut> RunAsync(WorkflowContext context, TIn input) => run(context, input);
}

internal static class ResponseExtensions
{
    public static CompleteOrchestrationAction? Completion(this OrchestratorResponse r) =>
        r.Actions.LastOrDefault(a => a.OrchestratorActionTypeCase == OrchestratorAction.OrchestratorActionTypeOneofCase.CompleteOrchestration)
            ?.CompleteOrchestration;

    public static OrchestratorAction Single(this OrchestratorResponse r, OrchestratorAction.OrchestratorActionTypeOneofCase kind) =>
        r.Actions.Should().ContainSingle(a => a.OrchestratorActionTypeCase == kind).Subject;
}
