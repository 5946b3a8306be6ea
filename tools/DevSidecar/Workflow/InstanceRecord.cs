using System.Text.Json;
using Dapr.DurableTask.Protobuf;
using DevSidecar.Hosting;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;

namespace DevSidecar.Workflow;

/// <summary>
/// The engine's record of one workflow instance: its committed history, the events waiting for the next turn (the
/// inbox), and the summary GetInstance reports. Persisted as JSON with the protobuf messages as bytes, so a restarted
/// sidecar resumes it where it stopped.
/// </summary>
public sealed class InstanceRecord
{
    public required string InstanceId { get; init; }
    public required string Name { get; set; }
    public string ExecutionId { get; set; } = Guid.NewGuid().ToString();
    public OrchestrationStatus Status { get; set; } = OrchestrationStatus.Pending;
    public string? Input { get; set; }
    public string? Output { get; set; }
    public string? CustomStatus { get; set; }
    public TaskFailureDetails? Failure { get; set; }
    /// <summary>When the current generation began: a continue-as-new starts a new one.</summary>
    public DateTime CreatedAt { get; set; } = DateTime.UtcNow;
    public DateTime LastUpdatedAt { get; set; } = DateTime.UtcNow;
    public DateTime? CompletedAt { get; set; }
    public DateTime? ScheduledStartAt { get; set; }
    public List<HistoryEvent> History { get; set; } = [];
    public List<HistoryEvent> Inbox { get; set; } = [];

    /// <summary>Set for a child workflow: the parent (possibly on another app) to tell when it ends.</summary>
    public ParentInstanceInfo? Parent { get; set; }

    // Runtime only: not persisted.
    internal readonly SemaphoreSlim Lock = new(1, 1);
    internal int TurnEventCount;
    internal int TurnNumber;
    internal bool TurnInFlight;
    /// <summary>Activities sent to a worker whose answer has not come back, even if the instance has ended since.</summary>
    internal int AwaitedActivities;
    internal TaskCompletionSource Changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public bool IsTerminal => Status is OrchestrationStatus.Completed or OrchestrationStatus.Failed or OrchestrationStatus.Terminated or OrchestrationStatus.Canceled;

    /// <summary>Suspended by an ExecutionSuspended event that no ExecutionResumed has followed yet.</summary>
    public bool IsSuspended => Status == OrchestrationStatus.Suspended;

    /// <summary>The history events of this generation, then the inbox: what a turn would see.</summary>
    public IEnumerable<HistoryEvent> AllEvents => History.Concat(Inbox);

    /// <summary>Wakes everyone waiting for this instance to change.</summary>
    internal void NotifyChanged()
    {
        LastUpdatedAt = DateTime.UtcNow;
        Interlocked.Exchange(ref Changed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }

    public WorkflowState ToState(bool withInputsAndOutputs)
    {
        var state = new WorkflowState
        {
            InstanceId = InstanceId,
            Name = Name,
            WorkflowStatus = Status,
            ExecutionId = ExecutionId,
            CreatedTimestamp = Timestamp.FromDateTime(CreatedAt),
            LastUpdatedTimestamp = Timestamp.FromDateTime(LastUpdatedAt),
            FailureDetails = Failure,
        };
        if (ScheduledStartAt is { } start) state.ScheduledStartTimestamp = Timestamp.FromDateTime(start);
        if (CompletedAt is { } completed) state.CompletedTimestamp = Timestamp.FromDateTime(completed);
        if (CustomStatus is not null) state.CustomStatus = CustomStatus;
        if (Parent is not null)
        {
            state.ParentInstanceId = Parent.WorkflowInstance.InstanceId;
            if (!string.IsNullOrEmpty(Parent.AppID)) state.ParentAppId = Parent.AppID;
        }
        if (withInputsAndOutputs)
        {
            if (Input is not null) state.Input = Input;
            if (Output is not null) state.Output = Output;
        }
        return state;
    }

    internal sealed record Stored(
        string InstanceId, string Name, string ExecutionId, int Status, string? Input, string? Output,
        string? CustomStatus, string? Failure, DateTime CreatedAt, DateTime LastUpdatedAt, DateTime? CompletedAt,
        DateTime? ScheduledStartAt, List<string> History, List<string> Inbox, string? Parent);

    public byte[] Serialize() => JsonSerializer.SerializeToUtf8Bytes(new Stored(
        InstanceId, Name, ExecutionId, (int)Status, Input, Output, CustomStatus, Encode(Failure),
        CreatedAt, LastUpdatedAt, CompletedAt, ScheduledStartAt,
        History.Select(e => Encode(e)!).ToList(), Inbox.Select(e => Encode(e)!).ToList(), Encode(Parent)), SidecarJson.Default.Stored);

    public static InstanceRecord Deserialize(byte[] data)
    {
        var s = JsonSerializer.Deserialize(data, SidecarJson.Default.Stored) ?? throw new InvalidDataException("empty workflow instance");
        return new InstanceRecord
        {
            InstanceId = s.InstanceId,
            Name = s.Name,
            ExecutionId = s.ExecutionId,
            Status = (OrchestrationStatus)s.Status,
            Input = s.Input,
            Output = s.Output,
            CustomStatus = s.CustomStatus,
            Failure = Decode(s.Failure, TaskFailureDetails.Parser),
            CreatedAt = s.CreatedAt,
            LastUpdatedAt = s.LastUpdatedAt,
            CompletedAt = s.CompletedAt,
            ScheduledStartAt = s.ScheduledStartAt,
            History = s.History.Select(h => Decode(h, HistoryEvent.Parser)!).ToList(),
            Inbox = s.Inbox.Select(h => Decode(h, HistoryEvent.Parser)!).ToList(),
            Parent = Decode(s.Parent, ParentInstanceInfo.Parser),
        };
    }

    private static string? Encode(IMessage? message) => message is null ? null : Convert.ToBase64String(message.ToByteArray());

    private static T? Decode<T>(string? base64, MessageParser<T> parser) where T : class, IMessage<T> =>
        base64 is null ? null : parser.ParseFrom(Convert.FromBase64String(base64));
}
