using Google.Protobuf.WellKnownTypes;
using Microsoft.DurableTask.Protobuf;
using WorkflowSdk;
using ActionCase = Microsoft.DurableTask.Protobuf.OrchestratorAction.OrchestratorActionTypeOneofCase;

namespace WorkflowSdk.Tests;

public sealed class OrchestrationExecutorTests
{
    private static readonly DateTime T0 = new(2025, 1, 1, 12, 0, 0, DateTimeKind.Utc);

    private sealed record Order(string Id, int Quantity);

    // ------------------------------------------------------------------ chaining and replay

    [Fact]
    public void Chains_activities_turn_by_turn_and_replays_without_duplicate_actions()
    {
        int runs = 0;
        var wf = new Wf<Order, string>(async (ctx, order) =>
        {
            runs++;
            int reserved = await ctx.CallActivityAsync<int>("Reserve", order);
            string receipt = await ctx.CallActivityAsync<string>("Charge", new { order.Id, reserved });
            return $"{order.Id}:{receipt}";
        });
        var engine = new FakeEngine("OrderWorkflow", wf);

        OrchestratorResponse r1 = engine.Turn(Events.Started("OrderWorkflow", """{"id":"o-1","quantity":3}"""));
        r1.InstanceId.Should().Be("wf-1");
        r1.Actions.Should().ContainSingle();
        r1.Actions[0].Id.Should().Be(0);
        r1.Actions[0].ScheduleTask.Name.Should().Be("Reserve");
        r1.Actions[0].ScheduleTask.Input.Should().Be("""{"id":"o-1","quantity":3}""", "inputs are camelCase JSON");

        OrchestratorResponse r2 = engine.Turn(Events.TaskCompleted(0, "3"));
        r2.Actions.Should().ContainSingle("the replayed Reserve call is not sent again");
        r2.Actions[0].Id.Should().Be(1);
        r2.Actions[0].ScheduleTask.Name.Should().Be("Charge");
        r2.Actions[0].ScheduleTask.Input.Should().Be("""{"id":"o-1","reserved":3}""");

        OrchestratorResponse r3 = engine.Turn(Events.TaskCompleted(1, "\"rcpt-9\""));
        r3.Actions.Should().ContainSingle();
        r3.Actions[0].Id.Should().Be(2);
        r3.Completion()!.OrchestrationStatus.Should().Be(OrchestrationStatus.Completed);
        r3.Completion()!.Result.Should().Be("\"o-1:rcpt-9\"");
        runs.Should().Be(3, "the workflow code re-runs from the start every turn");
    }

    [Fact]
    public void A_turn_with_no_progress_issues_no_actions()
    {
        var wf = new Wf<string, string>(async (ctx, _) => await ctx.CallActivityAsync<string>("A"));
        var engine = new FakeEngine("W", wf);
        engine.Turn(Events.Started("W"));

        OrchestratorResponse r = engine.Turn(Events.Raised("unrelated", "1"));

        r.Actions.Should().BeEmpty();
    }

    [Fact]
    public void Non_generic_activity_call_and_parallel_fan_out()
    {
        var wf = new Wf<int, int>(async (ctx, n) =>
        {
            await ctx.CallActivityAsync("Prepare");
            Task<int>[] parts = Enumerable.Range(0, n).Select(i => ctx.CallActivityAsync<int>("Square", i)).ToArray();
            int[] results = await Task.WhenAll(parts);
            return results.Sum();
        });
        var engine = new FakeEngine("W", wf);
        engine.Turn(Events.Started("W", "3")).Actions.Single().ScheduleTask.Name.Should().Be("Prepare");

        OrchestratorResponse fanOut = engine.Turn(Events.TaskCompleted(0, null));
        fanOut.Actions.Select(a => a.Id).Should().Equal(1, 2, 3);
        fanOut.Actions.Select(a => a.ScheduleTask.Input).Should().Equal("0", "1", "2");

        // Completions arrive out of order, across two turns.
        engine.Turn(Events.TaskCompleted(3, "4")).Actions.Should().BeEmpty();
        OrchestratorResponse done = engine.Turn(Events.TaskCompleted(1, "0"), Events.TaskCompleted(2, "1"));
        done.Completion()!.Result.Should().Be("5");
    }

    // ------------------------------------------------------------------ failures and retries

    [Fact]
    public void Activity_failure_surfaces_as_WorkflowTaskFailedException_the_workflow_can_catch()
    {
        var wf = new Wf<string, string>(async (ctx, _) =>
        {
            try
            {
                await ctx.CallActivityAsync<string>("Charge");
                return "charged";
            }
            catch (WorkflowTaskFailedException ex)
            {
                return $"{ex.FailureDetails.ErrorType}|{ex.FailureDetails.ErrorMessage}|{ex.FailureDetails.StackTrace}|{ex.FailureDetails.IsCausedBy<InvalidOperationException>()}";
            }
        });
        var engine = new FakeEngine("W", wf);
        engine.Turn(Events.Started("W"));

        OrchestratorResponse r = engine.Turn(Events.TaskFailed(0, "System.InvalidOperationException", "card declined"));

        r.Completion()!.OrchestrationStatus.Should().Be(OrchestrationStatus.Completed);
        r.Completion()!.Result.Should().Be("\"System.InvalidOperationException|card declined|at Somewhere()|True\"");
    }

    [Fact]
    public void Uncaught_activity_failure_fails_the_workflow()
    {
        var wf = new Wf<string, string>(async (ctx, _) => await ctx.CallActivityAsync<string>("Charge"));
        var engine = new FakeEngine("W", wf);
        engine.Turn(Events.Started("W"));

        OrchestratorResponse r = engine.Turn(Events.TaskFailed(0, message: "card declined"));

        CompleteOrchestrationAction c = r.Completion()!;
        c.OrchestrationStatus.Should().Be(OrchestrationStatus.Failed);
        c.FailureDetails.ErrorType.Should().Be(typeof(WorkflowTaskFailedException).FullName);
        c.FailureDetails.ErrorMessage.Should().Contain("Charge").And.Contain("card declined");
    }

    [Fact]
    public void Workflow_exception_fails_with_type_message_and_stack_trace()
    {
        var wf = new Wf<string, string>(async (ctx, _) =>
        {
            await ctx.CreateTimer(TimeSpan.FromSeconds(1));
            throw new ArgumentException("bad input");
        });
        var engine = new FakeEngine("W", wf);
        engine.Turn(Events.Started("W"));

        OrchestratorResponse r = engine.Turn(Events.TimerFired(0, T0.AddSeconds(1)));

        CompleteOrchestrationAction c = r.Completion()!;
        c.OrchestrationStatus.Should().Be(OrchestrationStatus.Failed);
        c.FailureDetails.ErrorType.Should().Be("System.ArgumentException");
        c.FailureDetails.ErrorMessage.Should().Be("bad input");
        c.FailureDetails.StackTrace.Should().NotBeNullOrEmpty();
    }

    [Fact]
    public void Synchronous_throw_in_RunAsync_fails_the_workflow()
    {
        var wf = new Wf<string, string>((_, _) => throw new NotSupportedException("sync"));
        OrchestratorResponse r = new FakeEngine("W", wf).Turn(Events.Started("W"));

        r.Completion()!.OrchestrationStatus.Should().Be(OrchestrationStatus.Failed);
        r.Completion()!.FailureDetails.ErrorType.Should().Be("System.NotSupportedException");
    }

    [Fact]
    public void Retry_policy_waits_on_durable_timers_between_attempts_and_gives_up_after_max_attempts()
    {
        var policy = new WorkflowRetryPolicy(3, TimeSpan.FromSeconds(5), backoffCoefficient: 2);
        var wf = new Wf<string, string>(async (ctx, _) =>
            await ctx.CallActivityAsync<string>("Flaky", "x", new WorkflowTaskOptions(policy)));
        var engine = new FakeEngine("W", wf);

        engine.Turn(Events.Started("W")).Actions.Single().ScheduleTask.Name.Should().Be("Flaky");

        OrchestratorResponse afterFirstFailure = engine.Turn(Events.TaskFailed(0));
        OrchestratorAction timer1 = afterFirstFailure.Actions.Single();
        timer1.Id.Should().Be(1);
        timer1.CreateTimer.FireAt.ToDateTime().Should().Be(T0.AddSeconds(5));

        engine.Now = T0.AddSeconds(5);
        OrchestratorResponse retry1 = engine.Turn(Events.TimerFired(1, T0.AddSeconds(5)));
        retry1.Actions.Single().Id.Should().Be(2);
        retry1.Actions.Single().ScheduleTask.Name.Should().Be("Flaky");
        retry1.Actions.Single().ScheduleTask.Input.Should().Be("\"x\"");

        OrchestratorResponse afterSecondFailure = engine.Turn(Events.TaskFailed(2));
        afterSecondFailure.Actions.Single().CreateTimer.FireAt.ToDateTime()
            .Should().Be(T0.AddSeconds(5 + 10), "the interval doubles");

        engine.Now = T0.AddSeconds(15);
        engine.Turn(Events.TimerFired(3, T0.AddSeconds(15))).Actions.Single().Id.Should().Be(4);

        OrchestratorResponse exhausted = engine.Turn(Events.TaskFailed(4, message: "still broken"));
        exhausted.Actions.Should().ContainSingle();
        exhausted.Completion()!.OrchestrationStatus.Should().Be(OrchestrationStatus.Failed);
        exhausted.Completion()!.FailureDetails.ErrorMessage.Should().Contain("still broken");
    }

    [Fact]
    public void Retry_succeeds_on_a_later_attempt()
    {
        var policy = new WorkflowRetryPolicy(5, TimeSpan.FromSeconds(1));
        var wf = new Wf<string, int>(async (ctx, _) =>
            await ctx.CallActivityAsync<int>("Flaky", null, new WorkflowTaskOptions(policy)));
        var engine = new FakeEngine("W", wf);
        engine.Turn(Events.Started("W"));
        engine.Turn(Events.TaskFailed(0));
        engine.Turn(Events.TimerFired(1, T0.AddSeconds(1)));

        OrchestratorResponse r = engine.Turn(Events.TaskCompleted(2, "42"));

        r.Completion()!.OrchestrationStatus.Should().Be(OrchestrationStatus.Completed);
        r.Completion()!.Result.Should().Be("42");
    }

    [Fact]
    public void Retry_timeout_stops_retrying()
    {
        var policy = new WorkflowRetryPolicy(10, TimeSpan.FromSeconds(10), retryTimeout: TimeSpan.FromSeconds(15));
        var wf = new Wf<string, int>(async (ctx, _) =>
            await ctx.CallActivityAsync<int>("Flaky", null, new WorkflowTaskOptions(policy)));
        var engine = new FakeEngine("W", wf);
        engine.Turn(Events.Started("W"));
        engine.Turn(Events.TaskFailed(0)).Actions.Single().OrchestratorActionTypeCase.Should().Be(ActionCase.CreateTimer);
        engine.Now = T0.AddSeconds(10);
        engine.Turn(Events.TimerFired(1, T0.AddSeconds(10)));

        OrchestratorResponse r = engine.Turn(Events.TaskFailed(2));

        r.Completion()!.OrchestrationStatus.Should().Be(OrchestrationStatus.Failed, "a second retry would start after the 15 s retry timeout");
    }

    // ------------------------------------------------------------------ timers and time

    [Fact]
    public void Timer_fires_at_current_time_plus_delay_and_resumes_the_workflow()
    {
        var wf = new Wf<string, string>(async (ctx, _) =>
        {
            await ctx.CreateTimer(TimeSpan.FromMinutes(5));
            return ctx.CurrentUtcDateTime.ToString("O");
        });
        var engine = new FakeEngine("W", wf);

        OrchestratorResponse r1 = engine.Turn(Events.Started("W"));
        r1.Single(ActionCase.CreateTimer).CreateTimer.FireAt.Should().Be(Timestamp.FromDateTime(T0.AddMinutes(5)));

        engine.Now = T0.AddMinutes(5).AddMilliseconds(30);
        OrchestratorResponse r2 = engine.Turn(Events.TimerFired(0, T0.AddMinutes(5)));

        r2.Completion()!.Result.Should().Be($"\"{T0.AddMinutes(5).AddMilliseconds(30):O}\"");
    }

    [Fact]
    public void Timer_at_an_absolute_time()
    {
        DateTime at = T0.AddDays(1);
        var wf = new Wf<string, bool>(async (ctx, _) =>
        {
            await ctx.CreateTimer(at, CancellationToken.None);
            return true;
        });
        OrchestratorResponse r = new FakeEngine("W", wf).Turn(Events.Started("W"));

        r.Single(ActionCase.CreateTimer).CreateTimer.FireAt.ToDateTime().Should().Be(at);
    }

    [Fact]
    public void CurrentUtcDateTime_is_the_OrchestratorStarted_timestamp_of_the_turn_being_replayed()
    {
        var seen = new List<(DateTime Time, bool Replaying)>();
        var wf = new Wf<string, string>(async (ctx, _) =>
        {
            seen.Add((ctx.CurrentUtcDateTime, ctx.IsReplaying));
            await ctx.CallActivityAsync("A");
            seen.Add((ctx.CurrentUtcDateTime, ctx.IsReplaying));
            await ctx.CallActivityAsync("B");
            seen.Add((ctx.CurrentUtcDateTime, ctx.IsReplaying));
            return "done";
        });
        var engine = new FakeEngine("W", wf);
        engine.Turn(Events.Started("W"));
        engine.Now = T0.AddMinutes(1);
        engine.Turn(Events.TaskCompleted(0, null));
        engine.Now = T0.AddMinutes(2);
        seen.Clear();

        engine.Turn(Events.TaskCompleted(1, null)).Completion().Should().NotBeNull();

        seen.Should().Equal(
            (T0, true),
            (T0.AddMinutes(1), true),
            (T0.AddMinutes(2), false));
        seen.Should().OnlyContain(s => s.Time.Kind == DateTimeKind.Utc);
    }

    [Fact]
    public void IsReplaying_is_true_for_past_events_and_false_for_new_ones()
    {
        var flags = new List<bool>();
        var wf = new Wf<string, string>(async (ctx, _) =>
        {
            flags.Add(ctx.IsReplaying);
            await ctx.CreateTimer(TimeSpan.FromSeconds(1));
            flags.Add(ctx.IsReplaying);
            return "ok";
        });
        var engine = new FakeEngine("W", wf);
        engine.Turn(Events.Started("W"));
        flags.Should().Equal(false);
        flags.Clear();

        engine.Turn(Events.TimerFired(0, T0.AddSeconds(1)));

        flags.Should().Equal(true, false);
    }

    [Fact]
    public void NewGuid_is_deterministic_across_replays_and_unique_per_call()
    {
        var guids = new List<Guid>();
        var wf = new Wf<string, string>(async (ctx, _) =>
        {
            Guid a = ctx.NewGuid();
            Guid b = ctx.NewGuid();
            guids.Add(a);
            guids.Add(b);
            await ctx.CallActivityAsync("A");
            return $"{a}|{b}";
        });
        var engine = new FakeEngine("W", wf);
        engine.Turn(Events.Started("W"));
        Guid[] first = guids.ToArray();

        engine.Now = T0.AddHours(1);
        OrchestratorResponse r = engine.Turn(Events.TaskCompleted(0, null));

        guids.Skip(2).Should().Equal(first, "replay produces the same GUIDs");
        first[0].Should().NotBe(first[1]);
        r.Completion()!.Result.Should().Be($"\"{first[0]}|{first[1]}\"");
        new FakeEngine("W", wf) { InstanceId = "other" }.Turn(Events.Started("W"));
        guids.Skip(4).First().Should().NotBe(first[0], "other instances get other GUIDs");
    }

    // ------------------------------------------------------------------ external events

    [Fact]
    public void Waits_for_an_external_event()
    {
        var wf = new Wf<string, Order>(async (ctx, _) => await ctx.WaitForExternalEventAsync<Order>("Approved"));
        var engine = new FakeEngine("W", wf);
        engine.Turn(Events.Started("W")).Actions.Should().BeEmpty();

        OrchestratorResponse r = engine.Turn(Events.Raised("approved", """{"id":"o-2","quantity":1}"""));

        r.Completion()!.Result.Should().Be("""{"id":"o-2","quantity":1}""", "event names match case-insensitively");
    }

    [Fact]
    public void Event_raised_before_timeout_wins_and_the_timer_is_ignored_later()
    {
        var wf = new Wf<string, string>(async (ctx, _) =>
        {
            string answer = await ctx.WaitForExternalEventAsync<string>("Answer", TimeSpan.FromHours(1));
            await ctx.CallActivityAsync("Record", answer);
            return answer;
        });
        var engine = new FakeEngine("W", wf);

        OrchestratorResponse r1 = engine.Turn(Events.Started("W"));
        r1.Single(ActionCase.CreateTimer).CreateTimer.FireAt.ToDateTime().Should().Be(T0.AddHours(1));

        OrchestratorResponse r2 = engine.Turn(Events.Raised("Answer", "\"yes\""));
        r2.Single(ActionCase.ScheduleTask).ScheduleTask.Input.Should().Be("\"yes\"");

        // The durable timer still fires later; it must change nothing.
        engine.Turn(Events.TimerFired(0, T0.AddHours(1))).Actions.Should().BeEmpty();
        engine.Turn(Events.TaskCompleted(1, null)).Completion()!.Result.Should().Be("\"yes\"");
    }

    [Fact]
    public void Timeout_throws_TaskCanceledException_and_a_later_event_is_buffered_not_lost()
    {
        var wf = new Wf<string, string>(async (ctx, _) =>
        {
            try
            {
                return await ctx.WaitForExternalEventAsync<string>("Answer", TimeSpan.FromMinutes(10));
            }
            catch (TaskCanceledException)
            {
                await ctx.CallActivityAsync("Escalate");
                return "second:" + await ctx.WaitForExternalEventAsync<string>("Answer");
            }
        });
        var engine = new FakeEngine("W", wf);
        engine.Turn(Events.Started("W"));

        OrchestratorResponse timedOut = engine.Turn(Events.TimerFired(0, T0.AddMinutes(10)));
        timedOut.Single(ActionCase.ScheduleTask).ScheduleTask.Name.Should().Be("Escalate");

        // The event arrives while Escalate runs: the cancelled waiter must not swallow it.
        engine.Turn(Events.Raised("Answer", "\"late\"")).Actions.Should().BeEmpty();
        OrchestratorResponse done = engine.Turn(Events.TaskCompleted(1, null));
        done.Completion()!.Result.Should().Be("\"second:late\"");
    }

    [Fact]
    public void Uncaught_timeout_fails_the_workflow_with_TaskCanceledException()
    {
        var wf = new Wf<string, string>(async (ctx, _) =>
            await ctx.WaitForExternalEventAsync<string>("Answer", TimeSpan.FromMinutes(1)));
        var engine = new FakeEngine("W", wf);
        engine.Turn(Events.Started("W"));

        OrchestratorResponse r = engine.Turn(Events.TimerFired(0, T0.AddMinutes(1)));

        r.Completion()!.OrchestrationStatus.Should().Be(OrchestrationStatus.Failed);
        r.Completion()!.FailureDetails.ErrorType.Should().Be(typeof(TaskCanceledException).FullName);
    }

    [Fact]
    public void Events_raised_before_anyone_waits_are_buffered_in_order()
    {
        var wf = new Wf<string, string>(async (ctx, _) =>
        {
            await ctx.CallActivityAsync("Prepare");
            string a = await ctx.WaitForExternalEventAsync<string>("Item");
            string b = await ctx.WaitForExternalEventAsync<string>("ITEM");
            return a + b;
        });
        var engine = new FakeEngine("W", wf);
        engine.Turn(Events.Started("W"));
        engine.Turn(Events.Raised("item", "\"1\""), Events.Raised("Item", "\"2\"")).Actions.Should().BeEmpty();

        OrchestratorResponse r = engine.Turn(Events.TaskCompleted(0, null));

        r.Completion()!.Result.Should().Be("\"12\"");
    }

    [Fact]
    public void An_event_completes_the_oldest_waiter_of_that_name()
    {
        var wf = new Wf<string, string>(async (ctx, _) =>
        {
            Task<string> first = ctx.WaitForExternalEventAsync<string>("E");
            Task<string> second = ctx.WaitForExternalEventAsync<string>("E");
            return await second + await first;
        });
        var engine = new FakeEngine("W", wf);
        engine.Turn(Events.Started("W"));

        OrchestratorResponse r = engine.Turn(Events.Raised("E", "\"a\""), Events.Raised("E", "\"b\""));

        r.Completion()!.Result.Should().Be("\"ba\"");
    }

    [Fact]
    public void Events_are_held_while_suspended_and_delivered_on_resume()
    {
        var wf = new Wf<string, string>(async (ctx, _) => await ctx.WaitForExternalEventAsync<string>("Go"));
        var engine = new FakeEngine("W", wf);
        engine.Turn(Events.Started("W"));
        engine.Turn(Events.Suspended()).Actions.Should().BeEmpty();

        engine.Turn(Events.Raised("Go", "\"now\"")).Actions.Should().BeEmpty("the workflow is suspended");

        engine.Turn(Events.Resumed()).Completion()!.Result.Should().Be("\"now\"");
    }

    // ------------------------------------------------------------------ children, status, events out, continue-as-new

    [Fact]
    public void Child_workflow_is_created_and_its_result_resumes_the_parent()
    {
        var wf = new Wf<string, int>(async (ctx, _) =>
            await ctx.CallChildWorkflowAsync<int>("Child", new { n = 2 }, new ChildWorkflowTaskOptions("child-1")));
        var engine = new FakeEngine("W", wf);

        OrchestratorAction create = engine.Turn(Events.Started("W")).Single(ActionCase.CreateSubOrchestration);
        create.Id.Should().Be(0);
        create.CreateSubOrchestration.Name.Should().Be("Child");
        create.CreateSubOrchestration.InstanceId.Should().Be("child-1");
        create.CreateSubOrchestration.Input.Should().Be("""{"n":2}""");

        engine.Turn(Events.ChildCompleted(0, "4")).Completion()!.Result.Should().Be("4");
    }

    [Fact]
    public void Child_workflow_gets_a_deterministic_instance_id_and_its_failure_is_catchable()
    {
        var wf = new Wf<string, string>(async (ctx, _) =>
        {
            try
            {
                await ctx.CallChildWorkflowAsync("Child");
                return "ok";
            }
            catch (WorkflowTaskFailedException ex)
            {
                return ex.FailureDetails.ErrorMessage;
            }
        });
        var engine = new FakeEngine("W", wf);
        string childId = engine.Turn(Events.Started("W")).Single(ActionCase.CreateSubOrchestration).CreateSubOrchestration.InstanceId;
        childId.Should().MatchRegex("^[0-9a-f]{32}$");

        OrchestratorResponse r = engine.Turn(Events.ChildFailed(0, "child broke"));

        r.Actions.Should().ContainSingle("the replayed child creation is not repeated (same deterministic id)");
        r.Completion()!.Result.Should().Be("\"child broke\"");
    }

    [Fact]
    public void Custom_status_travels_in_the_response()
    {
        var wf = new Wf<string, string>(async (ctx, _) =>
        {
            ctx.SetCustomStatus(new { stage = "reserving" });
            await ctx.CallActivityAsync("Reserve");
            ctx.SetCustomStatus(new { stage = "done" });
            return "ok";
        });
        var engine = new FakeEngine("W", wf);

        engine.Turn(Events.Started("W")).CustomStatus.Should().Be("""{"stage":"reserving"}""");
        engine.Turn(Events.TaskCompleted(0, null)).CustomStatus.Should().Be("""{"stage":"done"}""");
    }

    [Fact]
    public void No_custom_status_leaves_the_field_unset()
    {
        var wf = new Wf<string, string>((_, _) => Task.FromResult("x"));
        new FakeEngine("W", wf).Turn(Events.Started("W")).CustomStatus.Should().BeNull();
    }

    [Fact]
    public void SendEvent_issues_a_sendEvent_action()
    {
        var wf = new Wf<string, string>((ctx, _) =>
        {
            ctx.SendEvent("other-wf", "Ping", new { hello = "world" });
            return Task.FromResult("sent");
        });

        OrchestratorResponse r = new FakeEngine("W", wf).Turn(Events.Started("W"));

        OrchestratorAction send = r.Single(ActionCase.SendEvent);
        send.Id.Should().Be(0);
        send.SendEvent.Instance.InstanceId.Should().Be("other-wf");
        send.SendEvent.Name.Should().Be("Ping");
        send.SendEvent.Data.Should().Be("""{"hello":"world"}""");
        r.Actions.Last().Id.Should().Be(1);
        r.Completion()!.Result.Should().Be("\"sent\"");
    }

    [Fact]
    public void ContinueAsNew_completes_as_continued_with_the_new_input_and_carries_over_unprocessed_events()
    {
        var wf = new Wf<int, int>(async (ctx, n) =>
        {
            await ctx.CallActivityAsync("Work", n);
            ctx.ContinueAsNew(n + 1);
            return n;
        });
        var engine = new FakeEngine("W", wf);
        engine.Turn(Events.Started("W", "7"));

        OrchestratorResponse r = engine.Turn(Events.Raised("Later", "\"x\""), Events.TaskCompleted(0, null));

        CompleteOrchestrationAction c = r.Completion()!;
        c.OrchestrationStatus.Should().Be(OrchestrationStatus.ContinuedAsNew);
        c.Result.Should().Be("8");
        c.CarryoverEvents.Should().ContainSingle().Which.EventRaised.Name.Should().Be("Later");
    }

    [Fact]
    public void ContinueAsNew_without_preserving_events_drops_them()
    {
        var wf = new Wf<int, int>((ctx, n) =>
        {
            ctx.ContinueAsNew(null, preserveUnprocessedEvents: false);
            return Task.FromResult(n);
        });

        OrchestratorResponse r = new FakeEngine("W", wf).Turn(Events.Raised("E", "1"), Events.Started("W", "1"));

        r.Completion()!.OrchestrationStatus.Should().Be(OrchestrationStatus.ContinuedAsNew);
        r.Completion()!.CarryoverEvents.Should().BeEmpty();
    }

    // ------------------------------------------------------------------ engine-driven endings and errors

    [Fact]
    public void Non_determinism_fails_the_workflow_clearly()
    {
        var wf = new Wf<string, string>(async (ctx, _) => await ctx.CallActivityAsync<string>("B"));
        var engine = new FakeEngine("W", wf);
        var history = new List<HistoryEvent>
        {
            Events.OrchestratorStarted(T0),
            Events.Started("W"),
            new() { EventId = 0, Timestamp = Timestamp.FromDateTime(T0), TaskScheduled = new TaskScheduledEvent { Name = "A" } },
        };
        engine.Past.AddRange(history);

        OrchestratorResponse r = engine.Turn(Events.TaskCompleted(0, "\"a\""));

        r.Actions.Should().ContainSingle("nothing else is sent once the workflow is known to be broken");
        CompleteOrchestrationAction c = r.Completion()!;
        c.OrchestrationStatus.Should().Be(OrchestrationStatus.Failed);
        c.FailureDetails.ErrorType.Should().Be("NonDeterministicWorkflowException");
        c.FailureDetails.ErrorMessage.Should().Contain("'A'").And.Contain("'B'").And.Contain("#0");
    }

    [Fact]
    public void Non_determinism_when_the_code_no_longer_makes_a_recorded_call()
    {
        var wf = new Wf<string, string>(async (ctx, _) =>
        {
            await ctx.CreateTimer(TimeSpan.FromSeconds(1));
            return "x";
        });
        var engine = new FakeEngine("W", wf);
        engine.Past.Add(Events.OrchestratorStarted(T0));
        engine.Past.Add(Events.Started("W"));
        engine.Past.Add(new HistoryEvent { EventId = 0, TaskScheduled = new TaskScheduledEvent { Name = "A" } });

        OrchestratorResponse r = engine.Turn(Events.TaskCompleted(0, null));

        r.Completion()!.FailureDetails.ErrorType.Should().Be("NonDeterministicWorkflowException");
        r.Completion()!.FailureDetails.ErrorMessage.Should().Contain("activity 'A'").And.Contain("timer");
    }

    [Fact]
    public void Unknown_workflow_name_fails()
    {
        OrchestratorResponse r = new FakeEngine(_ => null).Turn(Events.Started("Nope"));

        r.Actions.Should().ContainSingle();
        r.Completion()!.OrchestrationStatus.Should().Be(OrchestrationStatus.Failed);
        r.Completion()!.FailureDetails.ErrorMessage.Should().Contain("Nope");
    }

    [Fact]
    public void Termination_completes_as_terminated_with_the_given_output()
    {
        var wf = new Wf<string, string>(async (ctx, _) => await ctx.WaitForExternalEventAsync<string>("Never"));
        var engine = new FakeEngine("W", wf);
        engine.Turn(Events.Started("W"));

        OrchestratorResponse r = engine.Turn(Events.Terminated("\"stopped by ops\""));

        r.Actions.Should().ContainSingle();
        r.Completion()!.OrchestrationStatus.Should().Be(OrchestrationStatus.Terminated);
        r.Completion()!.Result.Should().Be("\"stopped by ops\"");
    }

    [Fact]
    public void Bad_input_json_fails_the_workflow()
    {
        var wf = new Wf<Order, string>((_, o) => Task.FromResult(o.Id));
        OrchestratorResponse r = new FakeEngine("W", wf).Turn(Events.Started("W", "{not json"));

        r.Completion()!.OrchestrationStatus.Should().Be(OrchestrationStatus.Failed);
        r.Completion()!.FailureDetails.ErrorType.Should().Contain("Json");
    }

    // ------------------------------------------------------------------ single-threaded, inline continuations

    private sealed class ThrowingSynchronizationContext : SynchronizationContext
    {
        public override void Post(SendOrPostCallback d, object? state) =>
            throw new InvalidOperationException("the executor must not post to the caller's context");
    }

    [Fact]
    public void Continuations_run_inline_on_the_executor_thread_whatever_context_the_caller_has()
    {
        var threads = new HashSet<int>();
        var wf = new Wf<string, int>(async (ctx, _) =>
        {
            threads.Add(Environment.CurrentManagedThreadId);
            await Task.Yield();
            threads.Add(Environment.CurrentManagedThreadId);
            int a = await ctx.CallActivityAsync<int>("A");
            threads.Add(Environment.CurrentManagedThreadId);
            await Task.Yield();
            threads.Add(Environment.CurrentManagedThreadId);
            return a;
        });
        var engine = new FakeEngine("W", wf);
        SynchronizationContext? original = SynchronizationContext.Current;
        var foreign = new ThrowingSynchronizationContext();
        SynchronizationContext.SetSynchronizationContext(foreign);
        try
        {
            engine.Turn(Events.Started("W")).Actions.Single().ScheduleTask.Name.Should().Be("A");
            OrchestratorResponse r = engine.Turn(Events.TaskCompleted(0, "5"));

            r.Completion()!.Result.Should().Be("5", "the whole turn ran before Execute returned");
            SynchronizationContext.Current.Should().BeSameAs(foreign, "the caller's context is restored");
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(original);
        }

        threads.Should().Equal(new[] { Environment.CurrentManagedThreadId }, "workflow code runs only on the executor's thread");
    }

    [Fact]
    public void Using_the_context_after_the_turn_throws()
    {
        WorkflowContext? captured = null;
        var wf = new Wf<string, string>(async (ctx, _) =>
        {
            captured = ctx;
            return await ctx.WaitForExternalEventAsync<string>("E");
        });
        new FakeEngine("W", wf).Turn(Events.Started("W"));

        Action late = () => captured!.CallActivityAsync("A");

        late.Should().Throw<InvalidOperationException>();
    }

    [Fact]
    public void Name_and_instance_id_are_exposed()
    {
        var wf = new Wf<string, string>((ctx, _) => Task.FromResult($"{ctx.Name}/{ctx.InstanceId}"));
        OrchestratorResponse r = new FakeEngine("MyFlow", wf) { InstanceId = "abc" }.Turn(Events.Started("MyFlow"));

        r.Completion()!.Result.Should().Be("\"MyFlow/abc\"");
    }
}
