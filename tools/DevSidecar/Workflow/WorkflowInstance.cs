using System.Text.Json;
using DevSidecar.Hosting;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Microsoft.DurableTask.Protobuf;

namespace DevSidecar.Workflow;

/// <summary>
/// One workflow instance as the engine keeps it: its committed history, the events waiting for the next
/// orchestrator turn (the inbox), and the summary GetInstance reports. Persisted as JSON with the history
/// events as protobuf bytes, so a restarted sidecar resumes it where it stopped.
/// </summary>
public sealed class WorkflowInstance
{
    public required string InstanceId { get; init; }
    public required string Name { get; set; }
    public string ExecutionId { get; set; } = Guid.NewGuid().ToString("N");
    public OrchestrationStatus Status { get; set; } = OrchestrationStatus.Pending;
    public string? Input { get; set; }
    public string? Output { get; set; }
    public string? CustomStatus { get; set; }
    public TaskFailureDetails? Failure { get; set; }
    public DateTime CreatedAt { get; init; } = DateTime.UtcNow;
    public DateTime LastUpdatedAt { get; set; } = DateTime.UtcNow;
    public DateTime? ScheduledStartAt { get; set; }
    public List<HistoryEvent> History { get; set; } = [];
    public List<HistoryEvent> Inbox { get; set; } = [];

    /// <summary>Set for a child workflow: who to tell when it ends, and under which task id.</summary>
    public string? ParentInstanceId { get; set; }
    public int ParentTaskId { get; set; }

    // Runtime only: not persisted.
    internal readonly SemaphoreSlim Lock = new(1, 1);
    internal int TurnEventCount;
    internal int TurnNumber;
    internal bool TurnInFlight;
    internal TaskCompletionSource Changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public bool IsTerminal => Status is OrchestrationStatus.Completed or OrchestrationStatus.Failed or OrchestrationStatus.Terminated or OrchestrationStatus.Canceled;

    /// <summary>Wakes everyone waiting for this instance to change.</summary>
    internal void NotifyChanged()
    {
        LastUpdatedAt = DateTime.UtcNow;
        Interlocked.Exchange(ref Changed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }

    public OrchestrationState ToState(bool withInputsAndOutputs)
    {
        var state = new OrchestrationState
        {
            InstanceId = InstanceId,
            Name = Name,
            OrchestrationStatus = Status,
            CreatedTimestamp = Timestamp.FromDateTime(CreatedAt),
            LastUpdatedTimestamp = Timestamp.FromDateTime(LastUpdatedAt),
            FailureDetails = Failure,
        };
        if (ScheduledStartAt is { } start) state.ScheduledStartTimestamp = Timestamp.FromDateTime(start);
        if (CustomStatus is not null) state.CustomStatus = CustomStatus;
        if (withInputsAndOutputs)
        {
            if (Input is not null) state.Input = Input;
            if (Output is not null) state.Output = Output;
        }
        return state;
    }

    internal sealed record Stored(
        string InstanceId, string Name, string ExecutionId, int Status, string? Input, string? Output, string? CustomStatus,
        string? Failure, DateTime CreatedAt, DateTime LastUpdatedAt, DateTime? ScheduledStartAt,
        List<string> History, List<string> Inbox, string? ParentInstanceId, int ParentTaskId);

    public byte[] Serialize() => JsonSerializer.SerializeToUtf8Bytes(new Stored(
        InstanceId, Name, ExecutionId, (int)Status, Input, Output, CustomStatus,
        Failure is null ? null : Convert.ToBase64String(Failure.ToByteArray()),
        CreatedAt, LastUpdatedAt, ScheduledStartAt,
        History.Select(e => Convert.ToBase64String(e.ToByteArray())).ToList(),
        Inbox.Select(e => Convert.ToBase64String(e.ToByteArray())).ToList(),
        ParentInstanceId, ParentTaskId), SidecarJson.Default.Stored);

    public static WorkflowInstance Deserialize(byte[] data)
    {
        var s = JsonSerializer.Deserialize(data, SidecarJson.Default.Stored) ?? throw new InvalidDataException("empty workflow instance");
        return new WorkflowInstance
        {
            InstanceId = s.InstanceId,
            Name = s.Name,
            ExecutionId = s.ExecutionId,
            Status = (OrchestrationStatus)s.Status,
            Input = s.Input,
            Output = s.Output,
            CustomStatus = s.CustomStatus,
            Failure = s.Failure is null ? null : TaskFailureDetails.Parser.ParseFrom(Convert.FromBase64String(s.Failure)),
            CreatedAt = s.CreatedAt,
            LastUpdatedAt = s.LastUpdatedAt,
            ScheduledStartAt = s.ScheduledStartAt,
            History = s.History.Select(h => HistoryEvent.Parser.ParseFrom(Convert.FromBase64String(h))).ToList(),
            Inbox = s.Inbox.Select(h => HistoryEvent.Parser.ParseFrom(Convert.FromBase64String(h))).ToList(),
            ParentInstanceId = s.ParentInstanceId,
            ParentTaskId = s.ParentTaskId,
        };
    }
}
