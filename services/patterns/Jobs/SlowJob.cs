using System.Text.Json.Serialization;

namespace OrderFlow.Patterns.Jobs;

[JsonConverter(typeof(JsonStringEnumConverter<JobStatus>))]
public enum JobStatus { Accepted, Running, Finished, Replied }

/// <summary>How the caller gets the result: a callback it names (pattern 1) or an event (pattern 5).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<ReplyVia>))]
public enum ReplyVia { Event, Callback }

/// <summary>The caller's callback: a method of an app id, invoked through the sidecar.</summary>
public sealed record CallbackTarget(string AppId, string Method);

/// <summary>A step that ran to the end, in which attempt (a restart resumes a job with a new attempt).</summary>
public sealed record StepRun(int Step, int Attempt, DateTimeOffset At);

/// <summary>
/// A slow job as persisted after every step, so that a job the grace period could not wait for resumes after a restart
/// at its next step: no step is lost and none runs twice.
/// </summary>
public sealed record SlowJob(string JobId, string Name, int Steps, ReplyVia ReplyVia, CallbackTarget? Callback, string Owner,
    JobStatus Status, int Attempts, IReadOnlyList<StepRun> StepsDone, string? Result)
{
    public int CompletedSteps => StepsDone.Count;
}

/// <summary>The result message, sent as the callback's body or as the job-finished event.</summary>
public sealed record JobFinished(string JobId, string Name, string Result, string FinishedBy);

/// <summary>A result as its receiver recorded it: applied once, however often it was delivered.</summary>
public sealed record ReceivedResult(JobFinished Job, string ReceivedBy, int Deliveries);
